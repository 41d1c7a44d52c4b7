"""Tests for atelier.tasks.tiling: tiled == untiled when the overlap covers the receptive field."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atelier.errors import InvalidArgument
from atelier.models import build_model
from atelier.tasks.tiling import tile_grid, tiled


def _edsr(scale):
    torch.manual_seed(0)
    net = build_model("edsr", {"scale": scale, "width": 6, "blocks": 2}).eval()
    nn.init.normal_(net.tail.weight, std=0.2)  # the zero-initialised tail would hide the net
    return net


def _dncnn(downscale):
    torch.manual_seed(0)
    net = build_model("dncnn", {"width": 6, "depth": 4, "downscale": downscale}).eval()
    nn.init.normal_(net.tail.weight, std=0.2)  # the zero-initialised last conv is the identity
    return net


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_tiled_equals_untiled(scale):
    """Odd sizes, tiles far smaller than the image, overlap = receptive radius."""
    net = _edsr(scale)
    x = torch.rand(1, 3, 37, 29)
    with torch.no_grad():
        ref = net(x)
    out = tiled(net, x, scale, tile=2 * net.receptive_radius + 5, overlap=net.receptive_radius)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() < 1e-5


@pytest.mark.parametrize("downscale", [1, 2])
def test_dncnn_tiled_equals_untiled(downscale):
    net = _dncnn(downscale)
    x = torch.rand(1, 3, 41, 35)
    r = net.receptive_radius
    with torch.no_grad():
        ref = net(x, 25.0)
    out = tiled(lambda t: net(t, 25.0), x, 1, tile=2 * r + 9, overlap=r, multiple=downscale)
    assert (out - ref).abs().max() < 1e-5


def test_too_little_overlap_differs():
    """With an overlap below the radius the seams show: the test above is not vacuous."""
    net = _edsr(3)
    x = torch.rand(1, 3, 37, 29)
    with torch.no_grad():
        ref = net(x)
    out = tiled(net, x, 3, tile=20, overlap=net.receptive_radius - 3)
    assert (out - ref).abs().max() > 1e-3


def test_grid_covers_and_bounds():
    for size, tile, overlap, multiple in [(100, 30, 7, 1), (101, 31, 7, 2), (5, 30, 7, 1)]:
        cells = list(tile_grid(size, tile, overlap, multiple))
        assert cells[0][0] == 0 and cells[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(cells, cells[1:]))  # cores partition
        for c0, c1, t0, t1 in cells:
            assert t1 - t0 <= tile and t0 <= c0 < c1 <= t1
            assert c0 % multiple == 0 and t0 % multiple == 0


def test_small_image_is_one_call():
    calls = []

    def fn(t):
        calls.append(t.shape)
        return t * 2

    x = torch.rand(1, 1, 8, 8)
    assert torch.equal(tiled(fn, x, 1, tile=8, overlap=3), x * 2) and len(calls) == 1


def test_one_tile_alive_at_a_time():
    """fn sees tiles of at most ``tile`` pixels a side, one after another."""
    sizes = []

    def fn(t):
        sizes.append(tuple(t.shape[-2:]))
        return t.repeat_interleave(2, -1).repeat_interleave(2, -2)

    x = torch.rand(1, 3, 50, 40)
    out = tiled(fn, x, 2, tile=16, overlap=2)
    assert torch.equal(out, fn(x))
    assert max(max(s) for s in sizes[:-1]) <= 16 and len(sizes) > 4


def test_errors():
    x = torch.rand(1, 3, 30, 30)
    with pytest.raises(InvalidArgument, match="too small for an overlap"):
        tiled(lambda t: t, x, 1, tile=10, overlap=5)
    with pytest.raises(InvalidArgument, match="one image"):
        tiled(lambda t: t, torch.rand(2, 3, 8, 8), 1, tile=8, overlap=1)
    with pytest.raises(InvalidArgument, match="expected"):
        tiled(lambda t: t, x, 2, tile=16, overlap=2)


def test_write_callback_receives_the_pieces():
    """With ``write`` the pieces cover the output exactly once and nothing is returned."""
    net = _edsr(2)
    x = torch.rand(1, 3, 30, 23)
    with torch.no_grad():
        ref = net(x)
    got = torch.full_like(ref, float("nan"))
    count = torch.zeros(ref.shape[-2:])

    def write(rows, cols, piece):
        got[..., rows, cols] = piece
        count[rows, cols] += 1

    assert tiled(net, x, 2, tile=20, overlap=net.receptive_radius, write=write) is None
    assert bool((count == 1).all()) and (got - ref).abs().max() < 1e-5


def test_auto_tile_grows_with_the_overlap():
    """256 for a near-sighted network; six overlaps (to 64) for a U-Net, so most of a tile is kept."""
    from atelier.models import build_model
    from atelier.tasks.restore import auto_tile, min_tile, resolve_tile
    from atelier.tasks.tiling import tile_argument

    edsr = build_model("edsr", {"scale": 2, "width": 4, "blocks": 1})
    unet = build_model("drunet", {"width": 4, "max_width": 8, "blocks": 2, "levels": 4})
    assert auto_tile(edsr) == 256 and resolve_tile(edsr, "auto") == 256 and resolve_tile(edsr, 48) == 48
    overlap = -(-unet.receptive_radius // 8) * 8
    assert auto_tile(unet) == -(-6 * overlap // 64) * 64 > 256 and auto_tile(unet) >= 3 * min_tile(unet) - 8
    assert tile_argument(0) == "auto" and tile_argument(300) == 300 and auto_tile("bicubic") == 256
