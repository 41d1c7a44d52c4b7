"""Tests for atelier.tasks.restore: upscale and denoise on numpy images (tiny models)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import atelier.pretrained as pretrained
from atelier.errors import ImageTooLarge, InvalidArgument, InvalidImage
from atelier.models import build_model, save_model
from atelier.ops.geometry import resize
from atelier.tasks.restore import (
    best_nlm_h,
    denoise,
    estimate_noise_sigma,
    load_sr_model,
    nlm_denoise,
    upscale,
)


def _edsr(scale=2, channels=3):
    torch.manual_seed(0)
    net = build_model("edsr", {"scale": scale, "channels": channels, "width": 4, "blocks": 1})
    torch.nn.init.normal_(net.tail.weight, std=0.1)
    return net.eval()


def _dncnn(noise_map=True, downscale=1, channels=3):
    torch.manual_seed(0)
    cfg = {"width": 4, "depth": 3, "noise_map": noise_map, "downscale": downscale, "channels": channels}
    net = build_model("dncnn", cfg).eval()
    torch.nn.init.normal_(net.tail.weight, std=0.2)  # the zero-initialised last conv is the identity
    return net


def _image(shape, dtype, seed=0):
    f = np.random.default_rng(seed).random(shape, dtype=np.float32)
    if dtype == np.float32:
        return f
    return np.rint(f * np.iinfo(dtype).max).astype(dtype)


SHAPES = [(12, 10), (12, 10, 1), (12, 10, 3), (12, 10, 4)]
DTYPES = [np.uint8, np.uint16, np.float32]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_upscale_layout_and_dtype(shape, dtype):
    out = upscale(_image(shape, dtype), scale=2, model=_edsr(2))
    assert out.shape == (24, 20) + shape[2:] and out.dtype == dtype


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_denoise_layout_and_dtype(shape, dtype):
    out = denoise(_image(shape, dtype), sigma=20, model=_dncnn(downscale=2))
    assert out.shape == shape and out.dtype == dtype


def test_upscale_matches_the_network():
    """float32 RGB: the result is the network's output clamped to [0, 1], HWC."""
    net = _edsr(3)
    img = _image((9, 7, 3), np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(img.transpose(2, 0, 1))[None]).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(upscale(img, 3, net), ref, atol=1e-6)


def test_tiling_does_not_change_the_result():
    net = _edsr(2)
    img = _image((37, 29, 3), np.float32)
    whole = upscale(img, 2, net, tile=None)
    np.testing.assert_allclose(upscale(img, 2, net, tile=20), whole, atol=1e-5)
    den = _dncnn(downscale=2)
    np.testing.assert_allclose(denoise(img, 10, den, tile=28), denoise(img, 10, den, tile=None), atol=1e-5)


def test_grey_goes_through_a_colour_model_as_three_channels():
    net = _edsr(2)
    grey = _image((10, 8), np.float32)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    out = upscale(grey, 2, net)
    assert out.shape == (20, 16)
    np.testing.assert_allclose(out, upscale(rgb, 2, net).mean(axis=2), atol=1e-6)


def test_grey_model_takes_colour_channels_one_by_one():
    net = _edsr(2, channels=1)
    rgb = _image((10, 8, 3), np.float32)
    out = upscale(rgb, 2, net)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], upscale(rgb[..., c], 2, net), atol=1e-6)


def test_alpha_handling():
    """upscale: alpha = Pillow antialiased bicubic of the alpha; denoise: alpha unchanged."""
    img = _image((10, 8, 4), np.uint8)
    up = upscale(img, 2, _edsr(2))
    np.testing.assert_array_equal(up[..., 3], resize(img[..., 3], width=16, height=20, method="bicubic", antialias=True))
    np.testing.assert_array_equal(up[..., :3], upscale(img[..., :3], 2, _edsr(2)))
    np.testing.assert_array_equal(denoise(img, 15, _dncnn())[..., 3], img[..., 3])
    np.testing.assert_array_equal(denoise(img, 15, "nlm")[..., 3], img[..., 3])


def test_bicubic_baseline_is_pillow_resize():
    img = _image((10, 8, 3), np.uint8)
    np.testing.assert_array_equal(
        upscale(img, 4, "bicubic"), resize(img, width=32, height=40, method="bicubic", antialias=True)
    )


def test_scale_mismatch_names_both():
    with pytest.raises(InvalidArgument, match=r"upscales x2 but scale 4 was asked for"):
        upscale(_image((8, 8, 3), np.uint8), 4, _edsr(2))


@pytest.mark.parametrize("scale", [1, 5, 2.0, "4"])
def test_bad_scale(scale):
    with pytest.raises(InvalidArgument, match="scale must be 2, 3 or 4"):
        upscale(_image((8, 8, 3), np.uint8), scale, "bicubic")


def test_wrong_kind_of_model():
    with pytest.raises(InvalidArgument, match="not a super-resolution model"):
        load_sr_model(_dncnn(), 2)
    with pytest.raises(InvalidArgument, match="not a denoiser"):
        denoise(_image((8, 8, 3), np.uint8), 10, _edsr(2))


def test_output_too_large():
    img = _image((100, 100, 3), np.uint8)
    with pytest.raises(ImageTooLarge, match=r"upscaling 100x100 by 4 would give 400x400"):
        upscale(img, 4, "bicubic", max_pixels=100_000)
    with pytest.raises(ImageTooLarge, match="the input is 100x100"):
        upscale(img, 4, "bicubic", max_pixels=5_000)
    with pytest.raises(ImageTooLarge, match="megapixels"):
        denoise(img, 10, "nlm", max_pixels=5_000)


def test_bad_inputs():
    with pytest.raises(InvalidImage):
        upscale(np.zeros((4, 4, 2), np.uint8), 2, "bicubic")
    with pytest.raises(InvalidArgument, match="tile"):
        upscale(_image((8, 8, 3), np.uint8), 2, _edsr(2), tile=0)
    with pytest.raises(InvalidArgument, match="too small for an overlap"):
        upscale(_image((40, 40, 3), np.uint8), 2, _edsr(2), tile=8)
    for sigma in (-1, 300, "high", float("nan")):
        with pytest.raises(InvalidArgument, match="sigma"):
            denoise(_image((8, 8, 3), np.uint8), sigma, _dncnn())


def test_model_sources(tmp_path, monkeypatch):
    """A run folder, a model.safetensors path and the shipped name give the same result."""
    net = _edsr(2)
    save_model(net, tmp_path / "run")
    save_model(net, tmp_path / "weights" / "sr-x2")
    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "weights")
    img = _image((8, 8, 3), np.uint8)
    ref = upscale(img, 2, net)
    for source in (tmp_path / "run", str(tmp_path / "run" / "model.safetensors"), "sr-x2", None):
        np.testing.assert_array_equal(upscale(img, 2, source), ref)
    with pytest.raises(InvalidArgument, match="atelier train sr --data DIR --scale 3"):
        upscale(img, 3)


def test_missing_shipped_denoiser(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path)
    with pytest.raises(InvalidArgument, match="atelier train drunet"):
        denoise(_image((8, 8, 3), np.uint8))


def test_blind_and_noise_map_models():
    img = _image((16, 16, 3), np.uint8)
    with pytest.raises(InvalidArgument, match="blind denoiser: it takes no sigma"):
        denoise(img, 25, _dncnn(noise_map=False))
    assert denoise(img, "auto", _dncnn(noise_map=False)).shape == img.shape
    net = _dncnn()
    auto = denoise(img, "auto", net)
    np.testing.assert_array_equal(auto, denoise(img, estimate_noise_sigma(img), net))
    assert not np.array_equal(denoise(img, 5, net), denoise(img, 45, net))


def test_estimate_noise_sigma():
    """Gaussian noise of sigma 15 (0..255 units) on a flat grey image is estimated within 1
    (the wavelet MAD estimator, Donoho & Johnstone 1994); RGB averages the channels."""
    rng = np.random.default_rng(0)
    flat = 0.5 + rng.normal(0, 15 / 255, (64, 64, 3))
    est = estimate_noise_sigma(np.clip(flat, 0, 1).astype(np.float32))
    assert abs(est - 15) < 1.0
    assert estimate_noise_sigma(np.full((32, 32), 100, np.uint8)) < 1e-9
    assert estimate_noise_sigma(np.zeros((32, 32, 3), np.uint8)) == 0.0  # skimage gives NaN here
    from skimage.restoration import estimate_sigma

    noisy = np.clip(flat, 0, 1)
    assert est == pytest.approx(255 * estimate_sigma(noisy.astype(np.float32), average_sigmas=True, channel_axis=-1))


def test_nlm_matches_opencv():
    """The baseline is exactly OpenCV's call, with BGR only inside it."""
    img = _image((24, 20, 3), np.uint8)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ref = cv2.cvtColor(cv2.fastNlMeansDenoisingColored(bgr, None, 12.0, 12.0, 7, 21), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(nlm_denoise(img, 25, h=12.0), ref)
    assert denoise(img[..., 0], 10, "nlm").shape == (24, 20)
    np.testing.assert_array_equal(denoise(img, 25, "nlm"), nlm_denoise(img, 25))


def test_best_nlm_h_monotone():
    hs = [best_nlm_h(s) for s in (1, 5, 10, 20, 25, 40, 50, 80)]
    assert all(a < b for a, b in zip(hs, hs[1:]))
