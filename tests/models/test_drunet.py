"""Tests for atelier.models.drunet: shapes, padding, the noise map, receptive radius, tiling, I/O."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model, save_model

TINY = {"width": 4, "max_width": 8, "blocks": 1, "levels": 3}


def _model(seed=0, randomize=True, **cfg):
    """A tiny model in eval mode; ``randomize`` re-draws the zero-initialised tail so the
    output depends on the input (an untrained DRUNet is the identity)."""
    torch.manual_seed(seed)
    model = build_model("drunet", {**TINY, **cfg}).eval()
    if randomize:
        torch.nn.init.normal_(model.tail.weight, std=0.2)
    return model


def test_untrained_denoiser_is_the_identity():
    x = torch.rand(1, 3, 9, 7)
    assert torch.equal(_model(randomize=False)(x, 25.0), x)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(8, 8), (7, 9), (3, 5), (1, 1)])
def test_shapes_any_size(channels, size):
    model = _model(channels=channels)
    x = torch.rand(2, channels, *size)
    y = model(x, 25.0)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert model.blind is False and model.size_multiple == 4


def test_padding_is_reflection_to_the_multiple():
    model = _model()
    x = torch.rand(1, 3, 7, 9)
    padded = F.pad(x, (0, 3, 0, 1), mode="reflect")
    with torch.no_grad():
        assert torch.allclose(model(x, 15.0), model(padded, 15.0)[..., :7, :9], atol=1e-6)


def test_widths_double_up_to_the_cap():
    model = build_model("drunet", {"width": 8, "max_width": 16, "blocks": 1, "levels": 4})
    assert [d[1].out_channels for d in model.down] == [16, 16, 16]
    assert model.head.in_channels == 4  # RGB + the noise map


def test_noise_level_matters_and_per_image_sigmas():
    model = _model()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        a, b = model(x, 5.0), model(x, 40.0)
        both = model(x, torch.tensor([5.0, 40.0]))
    assert not torch.allclose(a, b)
    assert torch.allclose(both[0], a[0], atol=1e-6) and torch.allclose(both[1], b[1], atol=1e-6)


def test_sigma_errors():
    x = torch.rand(2, 3, 8, 8)
    model = _model()
    with pytest.raises(InvalidArgument, match="pass sigma"):
        model(x)
    with pytest.raises(InvalidArgument, match="one per image"):
        model(x, torch.tensor([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("bad", [{"levels": 1}, {"levels": 6}, {"width": 16, "max_width": 8}, {"blocks": 0}])
def test_bad_config(bad):
    with pytest.raises(InvalidArgument):
        build_model("drunet", {**TINY, **bad})


def test_receptive_radius_bounds_the_reach():
    """A pixel perturbed near the centre changes output exactly ``receptive_radius`` away at
    most, over the phases of the pooling cell. The ReLUs are taken out (a linear network in
    float64): with them a random tiny net can zero the one path to the farthest pixel."""
    model = _model().double()
    for m in model.modules():
        if isinstance(m, torch.nn.ReLU):
            m.__class__ = torch.nn.Identity
    torch.manual_seed(1)
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    reach = 0
    for at in range(32, 36):
        x2 = x.clone()
        x2[..., at, at] += 1.0
        with torch.no_grad():
            diff = (model(x2, 20.0) - model(x, 20.0)).abs().amax(dim=(0, 1)).numpy()
        ys, xs = np.nonzero(diff > 1e-12)
        reach = max(reach, int(max(np.abs(ys - at).max(), np.abs(xs - at).max())))
    assert reach == model.receptive_radius


def test_tiled_denoise_equals_whole_image():
    from atelier.tasks.restore import denoise, min_tile

    model = _model()
    img = np.random.default_rng(0).random((45, 38, 3)).astype(np.float32)
    tile = min_tile(model) + 4
    whole = denoise(img, 10, model, tile=None)
    np.testing.assert_allclose(denoise(img, 10, model, tile=tile), whole, atol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = _model()
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m").eval()
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.equal(model(x, 12.0), again(x, 12.0))
