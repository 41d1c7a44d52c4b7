"""Tests for atelier.nets.attention: parity with ``nn.MultiheadAttention`` (ANCHORS.md: minGPT
checks its model against a reference implementation), masks, the pre-norm block."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atelier.nets.attention import MultiHeadAttention, TransformerBlock


def _reference(ours: MultiHeadAttention, d: int, heads: int, kv_dim: int | None) -> nn.MultiheadAttention:
    """``nn.MultiheadAttention`` holding our weights: ``in_proj`` = ``q`` stacked on ``kv``
    (or separate q/k/v projections when the source has another width)."""
    ref = nn.MultiheadAttention(d, heads, batch_first=True, kdim=kv_dim, vdim=kv_dim).eval()
    with torch.no_grad():
        if kv_dim is None:
            ref.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.kv.weight]))
        else:
            k, v = ours.kv.weight.split(d)
            ref.q_proj_weight.copy_(ours.q.weight)
            ref.k_proj_weight.copy_(k)
            ref.v_proj_weight.copy_(v)
        ref.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.kv.bias]))
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    return ref


@pytest.mark.parametrize(
    "causal, kv_dim, padded",
    [(True, None, False), (False, None, False), (False, None, True), (False, 12, True), (True, None, True)],
)
def test_attention_matches_nn_multihead_attention(causal, kv_dim, padded):
    """Reference: ``nn.MultiheadAttention`` with the same weights: causal self-attention,
    cross-attention to another sequence (of another width: Stable Diffusion's context_dim),
    with a key padding mask; both the fused (SDPA) and the explicit path, and the
    head-averaged weights."""
    torch.manual_seed(1)
    d, heads = 16, 4
    ours = MultiHeadAttention(d, heads, kv_dim=kv_dim).eval()
    ref = _reference(ours, d, heads, kv_dim)
    x = torch.randn(2, 5, d)
    source = x if causal else torch.randn(2, 7, kv_dim or d)
    key_mask = None
    if padded:
        key_mask = torch.ones(2, source.shape[1], dtype=torch.bool)
        key_mask[1, 3:] = False
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.bool) if causal else None
    expected, expected_w = ref(x, source, source, attn_mask=mask, need_weights=True, average_attn_weights=True,
                               key_padding_mask=None if key_mask is None else ~key_mask)  # fmt: skip
    kv = None if causal else ours.keys_values(source)
    fused, none = ours(x, kv, causal=causal, key_mask=key_mask)
    explicit, weights = ours(x, kv, causal=causal, key_mask=key_mask, need_weights=True)
    assert none is None
    torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(explicit, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights, expected_w, rtol=1e-5, atol=1e-6)


def test_block_ignores_masked_context_and_padding():
    """Padded keys (self and context) take no part: appending them changes nothing."""
    torch.manual_seed(0)
    block = TransformerBlock(16, 2, context_dim=8).eval()
    x, context = torch.randn(1, 4, 16), torch.randn(1, 3, 8)
    y, _ = block(x, block.cross_attn.keys_values(context))
    x_pad = torch.cat([x, torch.randn(1, 2, 16)], dim=1)
    c_pad = torch.cat([context, torch.randn(1, 5, 8)], dim=1)
    mask = torch.tensor([[True] * 4 + [False] * 2])
    c_mask = torch.tensor([[True] * 3 + [False] * 5])
    y_pad, w = block(x_pad, block.cross_attn.keys_values(c_pad), mask=mask, context_mask=c_mask, need_weights=True)
    torch.testing.assert_close(y_pad[:, :4], y, rtol=1e-5, atol=1e-6)
    assert w.shape == (1, 6, 8) and float(w[..., 3:].detach().abs().max()) == 0.0
    assert TransformerBlock(16, 2).cross_attn is None
