"""Tests for atelier.ops.color: grayscale, brightness, contrast, gamma, saturation, hue and
white_balance.

Tiers: smoke + shape/dtype (every op on every image kind), exceptions, and reference values
against OpenCV, scikit-image, Pillow or a hand computation (the source is in each docstring).
Shared images (``astro``, ``astro_f``, ``color_variants``, ``variant_image``) are in
conftest.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageEnhance
from skimage import color as skcolor
from skimage import exposure

from atelier.errors import InvalidArgument
from atelier.ops import color as C
from atelier.ops import get_op
from tests.ops.approx import assert_levels_close


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))


OPS = [
    ("brightness", {"amount": 0.2}),
    ("brightness", {"amount": -0.3}),
    ("contrast", {"factor": 1.5}),
    ("gamma", {"gamma": 0.7}),
    ("saturation", {"factor": 1.6}),
    ("hue", {"shift": 40.0}),
    ("white_balance", {}),
    ("white_balance", {"method": "white_patch", "percentile": 98.0}),
]


# --------------------------------------------------------------------------- smoke / shape


def test_ops_registered():
    """Every colour op (this module's and atelier.ops.histogram's) is in the registry under
    its name, category 'color'."""
    names = {"grayscale", "brightness", "contrast", "gamma", "saturation", "hue",
             "autocontrast", "equalize", "clahe", "match_histogram", "white_balance"}
    for name in names:
        spec = get_op(name)
        assert spec.category == "color"
        assert spec.summary


def check_colour_op(name: str, image: np.ndarray, **kwargs) -> None:
    """Run op ``name``: it keeps shape and dtype, stays in range, passes alpha through and
    doesn't touch the input (also used by test_histogram)."""
    before = image.copy()
    out = get_op(name)(image, **kwargs)
    assert out.shape == image.shape
    assert out.dtype == image.dtype
    assert np.array_equal(image, before)
    if out.dtype.kind == "f":
        assert out.min() >= 0.0 and out.max() <= 1.0
    if image.ndim == 3 and image.shape[2] == 4:
        assert np.array_equal(out[..., 3], image[..., 3])


@pytest.mark.parametrize("name,kwargs", OPS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPS)])
def test_shape_dtype_alpha(name, kwargs, variant_image):
    """Ops keep shape and dtype, stay in range, pass alpha through and don't touch the input."""
    check_colour_op(name, variant_image, **kwargs)


def test_grayscale_shapes(variant_image):
    """grayscale: H x W for colour input; keep_channels keeps the layout (and alpha)."""
    image = variant_image
    out = C.grayscale(image)
    assert out.dtype == image.dtype
    if image.ndim == 3 and image.shape[2] in (3, 4):
        assert out.shape == image.shape[:2]
        kept = C.grayscale(image, keep_channels=True)
        assert kept.shape == image.shape
        assert np.array_equal(kept[..., 0], out) and np.array_equal(kept[..., 2], out)
        if image.shape[2] == 4:
            assert np.array_equal(kept[..., 3], image[..., 3])
    else:
        assert np.array_equal(out, image)


# --------------------------------------------------------------------------- exceptions


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("brightness", {"amount": 1.5}),
        ("brightness", {}),  # amount is required
        ("contrast", {"factor": -0.1}),
        ("gamma", {"gamma": 0.0}),
        ("saturation", {"factor": -1.0}),
        ("hue", {"shift": 200.0}),
        ("white_balance", {"method": "retinex"}),
        ("white_balance", {"method": "white_patch", "percentile": 0.0}),
        ("gamma", {"gamma": "two"}),
    ],
)
def test_bad_parameters(name, kwargs, astro):
    """Out-of-range, missing or mistyped parameters raise InvalidArgument."""
    with pytest.raises(InvalidArgument):
        get_op(name)(astro, **kwargs)


# --------------------------------------------------------------------------- point ops


def test_brightness_vs_hand(astro, astro_f):
    """brightness = clip(x + round(amount * 255)) on uint8; clip(x + amount) on float."""
    out = C.brightness(astro, amount=0.2)
    expected = np.clip(astro.astype(np.int64) + 51, 0, 255)
    assert np.array_equal(out, expected)
    np.testing.assert_allclose(
        C.brightness(astro_f, amount=-0.25), np.clip(astro_f - 0.25, 0, 1), atol=1e-7
    )


@pytest.mark.parametrize("scale,offset", [(1.0, 0.1), (1.0, -0.1), (0.7, 0.0), (1.3, 0.02),
                                          (0.5, 0.25), (2.0, -0.3), (0.0, 0.5)])
def test_linear_uint8_vs_opencv_transform(scale, offset):
    """brightness/contrast's linear map on uint8 (cv2.convertScaleAbs where scale and offset
    are >= 0, else cv2.transform) equals a direct cv2.transform with the diagonal matrix on
    every level, grey and RGB; with scale 1 it is also round-half-even of x + 255 * offset."""
    from atelier.ops._color_math import apply_affine

    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = np.stack([levels, levels.T, levels[::-1]], axis=2)
    matrix = np.hstack([np.eye(3) * scale, np.full((3, 1), offset * 255)])
    # Two OpenCV functions: their SIMD paths (per CPU and release) round exact .5 ties of
    # x * scale + offset differently, so within one level on at most 5 % of the 256 levels.
    assert_levels_close(apply_affine(rgb, scale, offset), cv2.transform(rgb, matrix),
                        fraction=0.05)
    assert_levels_close(
        apply_affine(levels, scale, offset), cv2.transform(levels, matrix[:1, [0, 3]]),
        fraction=0.05,
    )
    if scale == 1.0:
        hand = np.clip(np.rint(levels + offset * 255), 0, 255)
        assert np.array_equal(C.brightness(levels, amount=offset), hand)


def test_gamma_vs_hand_and_skimage(astro, astro_f):
    """gamma: uint8 = round(255 * (x / 255) ** g) (hand); skimage adjust_gamma within 1 level;
    float = x ** g."""
    for g in (0.5, 2.2):
        expected = np.rint(255 * (astro / 255.0) ** g)
        assert np.array_equal(C.gamma(astro, gamma=g), expected)
        assert _diff(C.gamma(astro, gamma=g), exposure.adjust_gamma(astro, g)).max() <= 1
        np.testing.assert_allclose(C.gamma(astro_f, gamma=g), astro_f**g, rtol=1e-6)


def test_contrast_vs_pillow(astro):
    """contrast vs PIL.ImageEnhance.Contrast (blend with the mean luma) within 1 level."""
    for factor in (0.0, 0.5, 1.7):
        ref = np.asarray(ImageEnhance.Contrast(Image.fromarray(astro)).enhance(factor))
        assert _diff(C.contrast(astro, factor=factor), ref).max() <= 1, factor
    assert np.array_equal(C.contrast(astro, factor=1.0), astro)


def test_contrast_float_matches_uint8(astro, astro_f):
    """contrast on float32 equals the uint8 LUT path to within 1 level (different code path)."""
    out_f = C.contrast(astro_f, factor=1.4)
    assert _diff(out_f * 255, C.contrast(astro, factor=1.4)).max() <= 1


def test_saturation_vs_pillow(astro, astro_f):
    """saturation vs PIL.ImageEnhance.Color (blend with L) within 1 level; 0 gives grey."""
    for factor in (0.0, 0.5, 2.0):
        ref = np.asarray(ImageEnhance.Color(Image.fromarray(astro)).enhance(factor))
        assert _diff(C.saturation(astro, factor=factor), ref).max() <= 1, factor
    grey = C.saturation(astro_f, factor=0.0)
    np.testing.assert_allclose(grey[..., 0], grey[..., 2], atol=1e-7)
    np.testing.assert_allclose(grey[..., 0], astro_f @ np.float32([0.299, 0.587, 0.114]),
                               atol=1e-5)


def test_hue_vs_skimage(astro, astro_f):
    """hue shift vs skimage rgb2hsv -> (h + shift / 360) mod 1 -> hsv2rgb: float32 to 1e-4,
    uint8 (8-bit HSV, 1.4 degree steps) within a few levels."""
    for shift in (-90.0, 35.0, 180.0):
        hsv = skcolor.rgb2hsv(astro_f)
        hsv[..., 0] = (hsv[..., 0] + shift / 360.0) % 1.0
        ref = skcolor.hsv2rgb(hsv)
        np.testing.assert_allclose(C.hue(astro_f, shift=shift), ref, atol=1e-4)
        d = _diff(C.hue(astro, shift=shift), ref * 255)
        assert d.max() <= 6 and d.mean() < 0.5, shift


def test_hue_pure_colours(astro):
    """Hand case: +120 degrees turns pure red into pure green, 0 leaves the image unchanged."""
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    green = C.hue(red, shift=120.0)
    assert _diff(green, [0, 255, 0]).max() <= 3
    assert np.array_equal(C.hue(astro, shift=0.0), astro)


# --------------------------------------------------------------------------- white balance


def test_white_balance_gray_world(astro):
    """gray_world: after balancing, the three channel means are equal (hand check), on an
    image with a colour cast and no clipping; float to 1e-5, uint8 within 0.5 level."""
    cast = (astro.astype(np.float64) * [0.5, 0.8, 0.35]).astype(np.uint8)
    out = C.white_balance(cast, method="gray_world").reshape(-1, 3).mean(axis=0)
    target = cast.reshape(-1, 3).mean(axis=0).mean()
    assert np.abs(out - target).max() < 0.5
    out_f = C.white_balance(cast.astype(np.float32) / 255).reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(out_f, target / 255, atol=1e-5)


def test_white_balance_white_patch(astro):
    """white_patch with percentile 100 maps each channel's max to 255 (max-RGB), i.e.
    out = round(x * 255 / max_c) (hand formula)."""
    cast = (astro.astype(np.float64) * [0.9, 0.7, 0.5]).astype(np.uint8)
    out = C.white_balance(cast, method="white_patch", percentile=100.0)
    expected = np.rint(cast * (255.0 / cast.reshape(-1, 3).max(axis=0)))
    assert _diff(out, expected).max() <= 1
    assert (out.reshape(-1, 3).max(axis=0) == 255).all()
    # 99th percentile: about 1 % of each channel saturates
    out99 = C.white_balance(cast, method="white_patch")
    saturated = (out99.reshape(-1, 3) == 255).mean(axis=0)
    assert ((saturated > 0.003) & (saturated < 0.03)).all()


def test_white_balance_black_channel(astro):
    """A channel with mean 0 is left unchanged (no division by zero)."""
    image = astro.copy()
    image[..., 2] = 0
    out = C.white_balance(image)
    assert (out[..., 2] == 0).all()
    assert np.isfinite(C.white_balance(image.astype(np.float32) / 255)).all()
