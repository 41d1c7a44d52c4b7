"""Transformer building blocks shared by the captioner, the text encoder and the U-Net.

nanoGPT's pattern (ANCHORS.md, text/): attention through
``F.scaled_dot_product_attention``, pre-norm residual blocks, a GELU MLP, N(0, 0.02) init.

- :class:`MultiHeadAttention` — self- or cross-attention; an optional key padding mask
  ``(B, S)`` (True = a real key) and causal masking; keys and values may come from a source of
  another width (``kv_dim``, Stable Diffusion's ``context_dim``).
- :class:`MLP` — ``Linear(d, 4d)``, GELU, ``Linear(4d, d)``, dropout.
- :class:`TransformerBlock` — pre-norm ``x + attn(ln1(x))``, optionally ``x + cross(ln2(x),
  context)``, then ``x + mlp(ln3(x))``.
- :func:`init_gpt_` — nanoGPT's init of a stack of such blocks.

Example
-------
>>> import torch
>>> block = TransformerBlock(16, 4, context_dim=8)
>>> x, context = torch.randn(2, 5, 16), torch.randn(2, 3, 8)
>>> mask = torch.tensor([[True, True, False], [True, False, False]])
>>> y, _ = block(x, block.cross_attn.keys_values(context), context_mask=mask)
>>> y.shape
torch.Size([2, 5, 16])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MultiHeadAttention", "MLP", "TransformerBlock", "init_gpt_"]


class MultiHeadAttention(nn.Module):
    """Multi-head attention through ``F.scaled_dot_product_attention`` (nanoGPT's pattern).

    ``forward(x, kv=None, *, causal=False, key_mask=None, need_weights=False)``: queries from
    ``x`` ``(B, T, d)``; keys and values ``kv = (k, v)``, each ``(B, heads, S, d / heads)``,
    from :meth:`keys_values` of the source ``(B, S, kv_dim)`` (``None``: of ``x`` itself,
    self-attention). ``key_mask`` ``(B, S)`` bool, True where a key takes part (padding is
    False; every row needs one True). ``causal`` masks future positions (queries and keys
    aligned at the start, so only for ``T == S``). Returns ``(y (B, T, d), weights)``,
    ``weights`` ``(B, T, S)`` averaged over heads when ``need_weights`` (computed explicitly,
    the same arithmetic as the fused kernel), else ``None``. Weights: ``q`` (d -> d), ``kv``
    (kv_dim -> 2d, keys then values), ``proj`` (d -> d): the layout of
    ``nn.MultiheadAttention``'s ``in_proj`` split in two.
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, kv_dim: int | None = None) -> None:
        super().__init__()
        self.d_model, self.heads, self.dropout = d_model, heads, dropout
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(kv_dim or d_model, 2 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.resid_dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.d_model // self.heads).transpose(1, 2)

    def keys_values(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of ``source`` ``(B, S, kv_dim)``, each ``(B, heads, S, d / heads)``."""
        k, v = self.kv(source).split(self.d_model, dim=-1)
        return self._split(k), self._split(v)

    def forward(
        self,
        x: torch.Tensor,
        kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        *,
        causal: bool = False,
        key_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        q = self._split(self.q(x))
        k, v = self.keys_values(x) if kv is None else kv
        p = self.dropout if self.training else 0.0
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, S)
        if causal and (need_weights or mask is not None):
            tril = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=x.device).tril()
            mask = tril if mask is None else mask & tril
        weights = None
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            attn = scores.softmax(dim=-1)
            weights = attn.mean(dim=1)
            y = F.dropout(attn, p, self.training) @ v
        else:
            fused_causal = causal and mask is None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=fused_causal)
        y = y.transpose(1, 2).reshape(x.shape[0], x.shape[1], self.d_model)
        return self.resid_dropout(self.proj(y)), weights


class MLP(nn.Module):
    """``(B, T, d) -> (B, T, d)``: ``Linear(d, 4d)``, GELU, ``Linear(4d, d)``, dropout."""

    def __init__(self, d_model: int, dropout: float) -> None:
        super().__init__()
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.proj = nn.Linear(4 * d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class TransformerBlock(nn.Module):
    """Pre-norm block: self-attention, cross-attention to a context (when ``context_dim`` is
    given), MLP.

    ``forward(x (B, T, d), context_kv=None, *, mask=None, context_mask=None, causal=False,
    need_weights=False) -> (x (B, T, d), weights)``: ``mask`` ``(B, T)`` masks padded keys of
    the self-attention, ``context_kv`` is ``cross_attn.keys_values(context)`` of a context
    ``(B, S, context_dim)`` with padding mask ``context_mask`` ``(B, S)``; ``weights`` is the
    cross-attention's ``(B, T, S)`` when ``need_weights``. Layers ``ln1``/``self_attn``,
    ``ln2``/``cross_attn`` (absent without a context) and ``ln3``/``mlp``.
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, context_dim: int | None = None) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.self_attn = MultiHeadAttention(d_model, heads, dropout)
        if context_dim is not None:
            self.ln2 = nn.LayerNorm(d_model)
            self.cross_attn = MultiHeadAttention(d_model, heads, dropout, kv_dim=context_dim)
        else:
            self.ln2 = self.cross_attn = None
        self.ln3 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, dropout)

    def forward(
        self,
        x: torch.Tensor,
        context_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        *,
        mask: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = x + self.self_attn(self.ln1(x), causal=causal, key_mask=mask)[0]
        weights = None
        if self.cross_attn is not None:
            y, weights = self.cross_attn(self.ln2(x), context_kv, key_mask=context_mask, need_weights=need_weights)
            x = x + y
        return x + self.mlp(self.ln3(x)), weights


def init_gpt_(module: nn.Module, layers: int) -> nn.Module:
    """nanoGPT's init in place: weights N(0, 0.02), zero biases, residual output projections
    (names ending ``proj.weight``) N(0, 0.02 / sqrt(2 * layers))."""
    for name, p in module.named_parameters():
        if name.endswith("proj.weight"):
            nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))
        elif p.ndim >= 2:
            nn.init.normal_(p, 0.0, 0.02)
        elif name.endswith(".bias"):
            nn.init.zeros_(p)
    return module
