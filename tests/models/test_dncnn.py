"""Tests for atelier.models.dncnn: shapes, the noise-level map, receptive radius, I/O, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model, save_model


def _model(channels=3, downscale=1, noise_map=True, depth=4, seed=0, randomize=True):
    """A tiny model in eval mode; ``randomize`` re-draws the zero-initialised last layer so
    the network's output depends on its input (an untrained DnCNN is the identity)."""
    torch.manual_seed(seed)
    cfg = {"channels": channels, "width": 8, "depth": depth, "downscale": downscale, "noise_map": noise_map}
    model = build_model("dncnn", cfg).eval()
    if randomize:
        torch.nn.init.normal_(model.tail.weight, std=0.2)
        torch.nn.init.normal_(model.tail.bias, std=0.1)
    return model


def test_untrained_denoiser_is_the_identity():
    model = _model(randomize=False)
    x = torch.rand(1, 3, 9, 7)
    assert torch.equal(model(x, 25.0), x)


def _sigma(model):
    return 25.0 if model.config.noise_map else None


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("downscale", [1, 2])
@pytest.mark.parametrize("noise_map", [True, False])
@pytest.mark.parametrize("size", [(8, 6), (7, 9), (5, 5)])
def test_shapes(channels, downscale, noise_map, size):
    model = _model(channels, downscale, noise_map)
    x = torch.rand(2, channels, *size)
    y = model(x, _sigma(model))
    assert y.shape == x.shape and y.dtype == torch.float32
    assert model.blind is not noise_map


def test_residual_learning():
    """output = x - net(x): the predicted noise is what was taken away."""
    model = _model()
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.allclose(model(x, 10.0), x - model.noise(x, 10.0))


def test_noise_map_channel():
    """The level enters as sigma / 255 in one extra input channel: the first conv has C + 1
    inputs (4C + 1 at half resolution) and sigma changes the output; per-image sigmas work."""
    assert _model(3, 1).head[0].in_channels == 4
    assert _model(3, 2).head[0].in_channels == 13
    assert _model(3, 2, noise_map=False).head[0].in_channels == 12
    model = _model()
    x = torch.rand(2, 3, 6, 6)
    with torch.no_grad():
        a, b = model(x, 5.0), model(x, 40.0)
        both = model(x, torch.tensor([5.0, 40.0]))
    assert not torch.allclose(a, b)
    assert torch.allclose(both[0], a[0]) and torch.allclose(both[1], b[1])


def test_sigma_errors():
    model = _model()
    x = torch.rand(2, 3, 6, 6)
    with pytest.raises(InvalidArgument, match="pass sigma"):
        model(x)
    with pytest.raises(InvalidArgument, match="one per image"):
        model(x, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(InvalidArgument, match=">= 0"):
        model(x, -5.0)
    with pytest.raises(InvalidArgument, match="this denoiser is blind; it takes no sigma"):
        _model(noise_map=False)(x, 25.0)


def test_odd_size_reflect_padding():
    """With downscale=2, an odd image is reflect-padded to even, denoised, and cropped back."""
    model = _model(downscale=2)
    x = torch.rand(1, 3, 7, 9)
    padded = F.pad(x, (0, 1, 0, 1), mode="reflect")
    with torch.no_grad():
        assert torch.allclose(model(x, 15.0), model(padded, 15.0)[..., :7, :9])


def _reach(model, at):
    torch.manual_seed(1)
    x = torch.rand(1, 3, 31, 29)
    x2 = x.clone()
    x2[..., at[0], at[1]] += 1.0
    with torch.no_grad():
        diff = (model(x2, _sigma(model)) - model(x, _sigma(model))).abs().amax(dim=(0, 1)).numpy()
    ys, xs = np.nonzero(diff > 1e-6)
    return int(max(np.abs(ys - at[0]).max(), np.abs(xs - at[1]).max()))


@pytest.mark.parametrize("downscale, expected", [(1, 4), (2, 9)])
def test_receptive_radius_is_exact(downscale, expected):
    """depth 3x3 convs reach ``depth`` pixels; at half resolution ``2 depth + 1`` (the
    unshuffled 2x2 cell adds one). Perturbing one pixel changes output exactly that far
    (over both parities of the perturbed pixel)."""
    model = _model(downscale=downscale)
    assert model.receptive_radius == expected
    assert max(_reach(model, (15, 14)), _reach(model, (14, 13))) == expected


def test_save_load_round_trip(tmp_path):
    model = _model(downscale=2)
    with torch.no_grad():  # non-default BatchNorm statistics must survive the trip
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.config == model.config
    x = torch.rand(1, 3, 7, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x, 20.0), model(x, 20.0))


def test_deterministic():
    a, b = _model(seed=4), _model(seed=4)
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(a(x, 25.0), b(x, 25.0))


def test_gradients_reach_every_layer():
    model = _model(downscale=2).train()
    model(torch.rand(2, 3, 8, 8), 25.0).abs().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"channels": 2}, "channels"),
        ({"width": 0}, "width"),
        ({"depth": 1}, "depth"),
        ({"downscale": 3}, "downscale must be 1 or 2"),
        ({"noise_map": 1}, "true or false"),
        ({"scale": 2}, "unknown config key"),
    ],
)
def test_config_errors(bad, match):
    with pytest.raises(InvalidArgument, match=match):
        build_model("dncnn", bad)
