"""Tests for atelier.models.sr (ESPCN, EDSR): shapes, pixel shuffle, receptive radius, I/O."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model, save_model
from atelier.models.sr import BICUBIC_RADIUS, radius_of

TINY = {"espcn": {"width": 8}, "edsr": {"width": 8, "blocks": 2}}
FAMILIES = sorted(TINY)


def _model(name, scale=2, channels=3, seed=0, randomize=True, **kw):
    """A tiny model in eval mode; ``randomize`` re-draws the zero-initialised last layer so
    the network part is not identically zero."""
    torch.manual_seed(seed)
    model = build_model(name, {**TINY[name], "scale": scale, "channels": channels, **kw}).eval()
    if randomize:
        last = model.body[-1] if name == "espcn" else model.tail
        nn.init.normal_(last.weight, std=0.2)
        nn.init.normal_(last.bias, std=0.1)
    return model


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(name, scale, channels):
    model = _model(name, scale, channels)
    y = model(torch.rand(2, channels, 7, 5))
    assert y.shape == (2, channels, 7 * scale, 5 * scale) and y.dtype == torch.float32
    assert model.scale == scale


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_untrained_is_bicubic(name, scale):
    """The last convolution starts at zero, so a fresh model is exactly the bicubic skip."""
    model = _model(name, scale, randomize=False)
    x = torch.rand(1, 3, 6, 5)
    ref = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    assert torch.equal(model(x), ref)


def _shuffle_numpy(a: np.ndarray, s: int) -> np.ndarray:
    """PixelShuffle by hand (Shi et al. 2016, eq. 4): channel ``c s^2 + i s + j`` of pixel
    ``(y, x)`` goes to output pixel ``(y s + i, x s + j)`` of channel ``c``."""
    cs2, h, w = a.shape
    c = cs2 // (s * s)
    return a.reshape(c, s, s, h, w).transpose(0, 3, 1, 4, 2).reshape(c, h * s, w * s)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_pixel_shuffle_layout(scale):
    """A constant per channel (bias = channel index, weights 0) in ESPCN's last conv must land
    at the sub-pixel positions the numpy reshape/transposition gives."""
    model = _model("espcn", scale, 3, randomize=False)
    last = model.body[-1]
    with torch.no_grad():
        last.bias.copy_(torch.arange(last.out_channels, dtype=torch.float32))
    x = torch.rand(1, 3, 4, 3)
    residual = (model(x) - F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False))[0]
    planes = np.broadcast_to(np.arange(3 * scale * scale, dtype=np.float32)[:, None, None], (3 * scale * scale, 4, 3))
    expected = _shuffle_numpy(np.ascontiguousarray(planes), scale)
    np.testing.assert_allclose(residual.detach().numpy(), expected, atol=1e-5)
    # Top-left output block of channel 1 reads channels s^2 .. 2 s^2 - 1 in row-major order.
    assert residual[1, :scale, :scale].round().flatten().tolist() == list(range(scale * scale, 2 * scale * scale))


def test_pixel_shuffle_random_matches_numpy():
    a = torch.randn(1, 2 * 9, 3, 4)
    np.testing.assert_array_equal(nn.PixelShuffle(3)(a)[0].numpy(), _shuffle_numpy(a[0].numpy(), 3))


def _reach(model, scale, h=21, w=19, at=(10, 9)):
    """Largest distance (in input pixels) from an output pixel's own input pixel to a
    perturbed input pixel, over the output pixels that changed; and the changed mask."""
    torch.manual_seed(1)
    x = torch.rand(1, model.config.channels, h, w)
    x2 = x.clone()
    x2[..., at[0], at[1]] += 1.0
    with torch.no_grad():
        diff = (model(x2) - model(x)).abs().amax(dim=(0, 1))
    ys, xs = np.nonzero(diff.numpy() > 1e-6)
    return int(max(np.abs(ys // scale - at[0]).max(), np.abs(xs // scale - at[1]).max()))


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_receptive_radius_is_exact(name, scale):
    """Perturbing one input pixel changes output pixels up to exactly ``receptive_radius``
    input pixels away (not further: tiling is safe; not less: the bound is tight)."""
    model = _model(name, scale)
    assert _reach(model, scale) == model.receptive_radius


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_radius(scale):
    """The bicubic skip alone (fresh model) reaches exactly 2 input pixels."""
    assert _reach(_model("edsr", scale, randomize=False), scale) == BICUBIC_RADIUS


def test_radius_values():
    """By hand: ESPCN = 5x5 + 3x3 + 3x3 at low resolution = 2 + 1 + 1; EDSR = head + 2 per block
    + body + upsampler conv + the tail conv at high resolution (1 low-res pixel at most)."""
    assert _model("espcn", 4).receptive_radius == 4
    assert _model("edsr", 2, blocks=3).receptive_radius == 1 + 6 + 1 + 1 + 1
    assert _model("edsr", 4, blocks=3).receptive_radius == 10  # two x2 stages: still 1 + 1
    assert radius_of([("conv", 3), ("shuffle", 2)], scale=2) == 3
    assert radius_of([("shuffle", 4), ("conv", 5)], scale=4) == 2  # 5 high-res px < 2 low-res px


@pytest.mark.parametrize("name", FAMILIES)
def test_save_load_round_trip(name, tmp_path):
    model = _model(name, 3)
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and loaded.config == model.config
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("name", FAMILIES)
def test_deterministic(name):
    a, b = _model(name, 2, seed=3), _model(name, 2, seed=3)
    x = torch.rand(2, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(a(x), b(x)) and torch.equal(a(x), a(x))


@pytest.mark.parametrize("name", FAMILIES)
def test_gradients_reach_every_layer(name):
    model = _model(name, 2).train()
    model(torch.rand(2, 3, 6, 6)).abs().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize(
    "bad, match",
    [
        ({"scale": 5}, "scale must be 2, 3 or 4"),
        ({"scale": 1}, "scale"),
        ({"scale": 2.0}, "integer"),
        ({"channels": 2}, "channels"),
        ({"width": 0}, "width"),
        ({"depth": 3}, "unknown config key"),
    ],
)
def test_config_errors(name, bad, match):
    with pytest.raises(InvalidArgument, match=match):
        build_model(name, bad)


@pytest.mark.parametrize(
    "name, bad, match",
    [("espcn", {"width": 1}, "width"), ("edsr", {"blocks": 0}, "blocks"), ("edsr", {"res_scale": 0}, "res_scale")],
)
def test_family_config_errors(name, bad, match):
    with pytest.raises(InvalidArgument, match=match):
        build_model(name, bad)
