"""x8 self-ensemble: the dihedral average, exact under tiling, wired into upscale and denoise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model
from atelier.tasks.ensemble import DIHEDRAL, self_ensemble
from atelier.tasks.restore import denoise, min_tile, upscale


def _scrambled(net):
    """A freshly built restoration net is near the identity (small tail): make it not."""
    torch.nn.init.normal_(net.tail.weight, std=0.2)
    return net


def _by_hand(fn, x):
    """The average written out: rotate/flip, run, undo, mean."""
    outs = []
    for turns, flip in DIHEDRAL:
        t = x.flip(-1) if flip else x
        y = fn(torch.rot90(t, turns, dims=(-2, -1)))
        y = torch.rot90(y, -turns, dims=(-2, -1))
        outs.append(y.flip(-1) if flip else y)
    return torch.stack(outs).mean(0)


def test_eight_distinct_transforms():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    seen = set()
    for turns, flip in DIHEDRAL:
        t = torch.rot90(x.flip(-1) if flip else x, turns, dims=(-2, -1))
        seen.add((tuple(t.shape), tuple(t.flatten().tolist())))
    assert len(DIHEDRAL) == 8 and len(seen) == 8


def test_matches_the_average_by_hand_for_a_network():
    torch.manual_seed(0)
    net = _scrambled(build_model("edsr", {"scale": 2, "width": 4, "blocks": 1})).eval()
    x = torch.rand(1, 3, 7, 5)
    with torch.no_grad():
        got, want, plain = self_ensemble(net)(x), _by_hand(net, x), net(x)
    assert got.shape == (1, 3, 14, 10)
    torch.testing.assert_close(got, want)
    assert (got - plain).abs().max() > 1e-4  # a random network is not flip-equivariant


def test_unet_input_is_padded_to_its_multiple_first():
    torch.manual_seed(0)
    net = build_model("drunet", {"width": 4, "max_width": 8, "blocks": 1, "levels": 3}).eval()
    x = torch.rand(1, 3, 9, 6)
    with torch.no_grad():
        got = self_ensemble(lambda t: net(t, 20), net.size_multiple)(x)
        padded = torch.nn.functional.pad(x, (0, 2, 0, 3), mode="reflect")
        want = _by_hand(lambda t: net(t, 20), padded)[..., :9, :6]
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("family", ["edsr", "drunet", "dncnn-ffdnet"])
def test_tiled_equals_untiled(family):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (83, 70, 3), dtype=np.uint8)
    if family == "edsr":
        net = _scrambled(build_model("edsr", {"scale": 2, "width": 4, "blocks": 1}))
        run = lambda tile: upscale(img, 2, net, tile=tile, self_ensemble=True)  # noqa: E731
    else:
        net = _scrambled(build_model("drunet", {"width": 4, "max_width": 8, "blocks": 1, "levels": 3})
                         if family == "drunet" else build_model("dncnn", {"width": 4, "depth": 3, "downscale": 2}))
        run = lambda tile: denoise(img, 25, net, tile=tile, self_ensemble=True)  # noqa: E731
    whole = run(None)
    assert np.abs(run(max(min_tile(net) + 1, 32)).astype(int) - whole).max() <= 1
    plain = upscale(img, 2, net) if family == "edsr" else denoise(img, 25, net)
    assert not np.array_equal(whole, plain)


def test_baselines_refuse_it():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InvalidArgument, match="not a network"):
        upscale(img, 2, "bicubic", self_ensemble=True)
    with pytest.raises(InvalidArgument, match="not a network"):
        denoise(img, 10, "nlm", self_ensemble=True)
    with pytest.raises(InvalidArgument, match="True or False"):
        denoise(img, 10, build_model("dncnn", {"width": 4, "depth": 3}), self_ensemble="yes")
