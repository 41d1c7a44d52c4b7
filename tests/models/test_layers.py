"""Tests for atelier.models.layers: range helpers, conv stacks, labels, latent noise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atelier.errors import InvalidArgument
from atelier.models.layers import (
    DownStack,
    UpStack,
    draw_latent,
    init_dcgan_,
    resolve_labels,
    sampling_mode,
    stage_widths,
    to_signed,
    to_unit,
)


def test_range_helpers_hand_values():
    """[0, 1] -> [-1, 1] is 2x - 1 and back (hand-computed: 0 -> -1, 0.25 -> -0.5, 1 -> 1)."""
    x = torch.tensor([0.0, 0.25, 1.0])
    assert torch.equal(to_signed(x), torch.tensor([-1.0, -0.5, 1.0]))
    assert torch.equal(to_unit(torch.tensor([-1.0, -0.5, 1.0])), x)


@pytest.mark.parametrize(
    "resolution, expected",
    [(16, [8, 16]), (32, [8, 16, 32]), (64, [8, 16, 32, 64]), (128, [8, 16, 32, 64, 64])],
)
def test_stage_widths(resolution, expected):
    """log2(R) - 2 stages, widths doubling and capped at 8x (DCGAN 64x64: 64-128-256-512)."""
    assert stage_widths(resolution, 8) == expected
    if resolution == 64:
        assert stage_widths(64, 64) == [64, 128, 256, 512]  # Radford et al. 2015, fig. 1


@pytest.mark.parametrize("resolution", [16, 32, 64, 128])
def test_stacks_shapes(resolution):
    down = DownStack(3, resolution, 4, "batch")
    up = UpStack(1, resolution, 4)
    h = down(torch.rand(2, 3, resolution, resolution))
    assert h.shape == (2, down.out_channels, 4, 4)
    assert up.in_channels == down.out_channels
    assert up(h).shape == (2, 1, resolution, resolution)


def test_downstack_bias_only_without_norm():
    """A bias before a normalisation is cancelled, so only un-normalised convs have one."""
    convs = [m for m in DownStack(1, 32, 4, "batch").modules() if isinstance(m, nn.Conv2d)]
    assert [c.bias is not None for c in convs] == [True, False, False]
    convs = [m for m in DownStack(1, 32, 4, "none").modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)


def test_init_dcgan_statistics():
    """Weights ~ N(0, 0.02) (Radford et al. 2015, section 4): std of 60k draws within 5%."""
    torch.manual_seed(0)
    conv = init_dcgan_(nn.Conv2d(64, 64, 4, 2, 1))
    w = conv.weight.detach()
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001
    assert torch.count_nonzero(conv.bias) == 0


def test_resolve_labels():
    assert resolve_labels(None, 5, 3, "cpu").tolist() == [0, 1, 2, 0, 1]
    assert resolve_labels(2, 3, 3, "cpu").tolist() == [2, 2, 2]
    assert resolve_labels([1, 0], 2, 3, "cpu").dtype == torch.long
    with pytest.raises(InvalidArgument, match="0..2"):
        resolve_labels(3, 2, 3, "cpu")
    with pytest.raises(InvalidArgument, match="0..2"):
        resolve_labels([0, -1], 2, 3, "cpu")
    with pytest.raises(InvalidArgument, match="2 integers"):
        resolve_labels([0, 1, 2], 2, 3, "cpu")
    with pytest.raises(InvalidArgument):
        resolve_labels([0.5, 1.0], 2, 3, "cpu")


def test_draw_latent_seeded_and_checked():
    a = draw_latent(4, 3, generator=torch.Generator().manual_seed(7), device="cpu")
    b = draw_latent(4, 3, generator=torch.Generator().manual_seed(7), device="cpu")
    c = draw_latent(4, 3, generator=torch.Generator().manual_seed(8), device="cpu")
    assert a.shape == (4, 3) and torch.equal(a, b) and not torch.equal(a, c)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(InvalidArgument):
            draw_latent(bad, 3, generator=None, device="cpu")


def test_sampling_mode_restores_mode():
    m = nn.BatchNorm1d(2).train()
    with sampling_mode(m):
        assert not m.training and not torch.is_grad_enabled()
    assert m.training and torch.is_grad_enabled()
    m.eval()
    with sampling_mode(m):
        pass
    assert not m.training
