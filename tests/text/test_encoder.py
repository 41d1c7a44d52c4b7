"""Tests for atelier.text.encoder: shapes, padding invariance, pooling, errors, gradients."""

from __future__ import annotations

import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.text import CaptionTokenizer
from atelier.text.encoder import PAD_ID, TextEncoder, masked_mean

from tests.models.helpers import assert_all_grads


def tiny(**overrides) -> TextEncoder:
    torch.manual_seed(0)
    return TextEncoder(**{"vocab_size": 20, "d_model": 16, "layers": 2, "heads": 4, "max_length": 12, **overrides})


def test_shapes_from_the_tokenizer():
    tok = CaptionTokenizer.train(["a red circle", "a blue square on the left"])
    ids, lengths = tok.encode_batch(["a red circle", "a square"], max_length=10)
    assert tok.pad_id == PAD_ID
    states, pooled = tiny(vocab_size=tok.vocab_size).eval()(ids)
    assert states.shape == (2, 10, 16) and pooled.shape == (2, 16)
    assert torch.isfinite(states).all()


def test_padding_does_not_change_real_tokens_nor_pooled():
    encoder = tiny().eval()
    ids = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]])
    states, pooled = encoder(ids)
    padded = torch.cat([ids, torch.zeros(2, 4, dtype=torch.long)], dim=1)
    states_p, pooled_p = encoder(padded)
    torch.testing.assert_close(states_p[0, :5], states[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(states_p[1, :3], states[1, :3], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pooled_p, pooled, rtol=1e-5, atol=1e-6)
    # the second prompt alone, unpadded, gives the same as inside the padded batch
    alone_states, alone_pooled = encoder(ids[1:, :3])
    torch.testing.assert_close(alone_states[0], states[1, :3], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(alone_pooled[0], pooled[1], rtol=1e-5, atol=1e-6)


def test_pooled_is_the_masked_mean_of_the_states():
    encoder = tiny().eval()
    ids = torch.tensor([[1, 8, 2, 0, 0]])
    states, pooled = encoder(ids)
    torch.testing.assert_close(pooled[0], states[0, :3].mean(dim=0))
    assert masked_mean(states, ids != PAD_ID).shape == (1, 16)


def test_every_parameter_gets_a_gradient():
    encoder = tiny(dropout=0.1).train()
    states, pooled = encoder(torch.randint(1, 20, (3, 12)))
    (states.square().mean() + pooled.sum()).backward()
    assert_all_grads(encoder)


@pytest.mark.parametrize(
    "ids, mask, match",
    [
        (torch.ones(2, 13, dtype=torch.long), None, "max_length 12"),
        (torch.ones(2, 4), None, "int64"),
        (torch.ones(4, dtype=torch.long), None, r"\(B, L\)"),
        (torch.ones(2, 4, dtype=torch.long), torch.ones(2, 4), "bool"),
        (torch.ones(2, 4, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool), "shaped like"),
    ],
)
def test_bad_inputs(ids, mask, match):
    with pytest.raises(InvalidArgument, match=match):
        tiny()(ids, mask)


def test_heads_must_divide_width():
    with pytest.raises(InvalidArgument, match="heads"):
        TextEncoder(20, d_model=18, heads=4)
