"""Tests for atelier.ops.color_spaces: conversions between RGB, grey, HSV, LAB and YCbCr.

Tiers: shape/dtype, exceptions, and reference values against OpenCV, scikit-image, Pillow,
MATLAB's documented coefficients or a hand computation (the source is in each docstring).
Shared images (``astro``, ``astro_f``, ``astro_grey``, ``color_variants``) are in conftest.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import color as skcolor

from atelier.errors import InvalidArgument, InvalidImage
from atelier.ops import color_spaces as CS
from atelier.ops import get_op

RNG = np.random.default_rng(1234)


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))


# --------------------------------------------------------------------------- shape / dtype


def test_conversion_shapes_and_dtypes(astro, color_variants):
    """Conversions to HSV/LAB/YCbCr return float32 H x W x 3 for any input dtype (RGBA too)."""
    for variant, image in color_variants.items():
        if image.ndim == 2 or image.shape[2] == 1:
            continue
        for func in (CS.rgb_to_hsv, CS.rgb_to_lab, CS.rgb_to_ycbcr):
            out = func(image)
            assert out.shape == image.shape[:2] + (3,) and out.dtype == np.float32, variant
        assert CS.rgb_to_grey(image).shape == image.shape[:2]
    for dtype in (np.uint8, np.uint16, np.float32, np.float64):
        assert CS.hsv_to_rgb(CS.rgb_to_hsv(astro), dtype).dtype == dtype


# --------------------------------------------------------------------------- exceptions


def test_nan_image_rejected(astro_f):
    """NaN float images raise InvalidImage in ops and in conversions."""
    bad = astro_f.copy()
    bad[3, 4, 1] = np.nan
    with pytest.raises(InvalidImage):
        get_op("brightness")(bad, amount=0.1)
    with pytest.raises(InvalidImage):
        get_op("equalize")(bad)
    for func in (CS.rgb_to_hsv, CS.rgb_to_lab, CS.rgb_to_ycbcr, CS.rgb_to_grey):
        with pytest.raises(InvalidImage):
            func(bad)
    for func in (CS.hsv_to_rgb, CS.lab_to_rgb, CS.ycbcr_to_rgb):
        with pytest.raises(InvalidImage):
            func(bad)


def test_conversion_errors(astro, astro_grey):
    """Wrong layouts, dtypes and space names give InvalidImage / InvalidArgument."""
    with pytest.raises(InvalidImage):
        CS.rgb_to_hsv(astro_grey)  # grey is not RGB
    with pytest.raises(InvalidImage):
        CS.hsv_to_rgb(astro)  # uint8 is not an HSV array
    with pytest.raises(InvalidImage):
        CS.lab_to_rgb(np.zeros((4, 4, 4), np.float32))
    with pytest.raises(InvalidImage):
        CS.ycbcr_to_rgb([[1.0, 2.0, 3.0]])
    with pytest.raises(InvalidImage):
        CS.rgb_to_ycbcr(np.zeros((4, 4, 3), np.int32))
    with pytest.raises(InvalidArgument):
        CS.hsv_to_rgb(CS.rgb_to_hsv(astro), dtype=np.int32)
    with pytest.raises(InvalidArgument):
        CS.convert_color(astro, "rgb", "xyz")
    with pytest.raises(InvalidArgument):
        CS.convert_color(astro, "rgb", "lab", dtype=np.uint8)  # LAB is always float32
    with pytest.raises(InvalidImage):
        CS.convert_color(astro, "grey", "rgb")


# --------------------------------------------------------------------------- reference values


def test_ycbcr_matlab_values():
    """BT.601 studio swing, MATLAB rgb2ycbcr: white -> (235, 128, 128), black -> (16, 128, 128),
    red -> (16 + 65.481, 128 - 37.797, 128 + 112) (coefficients from the MATLAB documentation)."""
    pixels = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], np.uint8)
    out = CS.rgb_to_ycbcr(pixels)[0]
    expected = [[235.0, 128.0, 128.0], [16.0, 128.0, 128.0], [81.481, 90.203, 240.0]]
    np.testing.assert_allclose(out, expected, atol=1e-3)
    # and it is NOT OpenCV's full-range YCrCb (white has Y = 255 there)
    assert cv2.cvtColor(pixels, cv2.COLOR_RGB2YCrCb)[0, 0, 0] == 255


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_ycbcr_random_vs_formula(dtype):
    """Random RGB vs the MATLAB rgb2ycbcr formula computed by hand in float64."""
    rgb01 = RNG.random((17, 23, 3))
    image = rgb01.astype(dtype) if dtype in (np.float32, np.float64) else np.rint(
        rgb01 * np.iinfo(dtype).max).astype(dtype)
    x = image.astype(np.float64) / (np.iinfo(dtype).max if image.dtype.kind == "u" else 1.0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    expected = np.stack([
        16 + 65.481 * r + 128.553 * g + 24.966 * b,
        128 - 37.797 * r - 74.203 * g + 112.0 * b,
        128 + 112.0 * r - 93.786 * g - 18.214 * b,
    ], axis=-1)
    np.testing.assert_allclose(CS.rgb_to_ycbcr(image), expected, atol=2e-3)


def test_ycbcr_round_trip(astro, astro_f):
    """rgb -> ycbcr -> rgb gives back the uint8 image exactly and float to 1e-5."""
    assert np.array_equal(CS.ycbcr_to_rgb(CS.rgb_to_ycbcr(astro), np.uint8), astro)
    np.testing.assert_allclose(CS.ycbcr_to_rgb(CS.rgb_to_ycbcr(astro_f)), astro_f, atol=1e-5)


def test_hsv_vs_skimage(astro):
    """rgb_to_hsv vs skimage.color.rgb2hsv (H there is a fraction of a turn, ours degrees)."""
    ours = CS.rgb_to_hsv(astro)
    ref = skcolor.rgb2hsv(astro)
    dh = np.abs(ours[..., 0] / 360.0 - ref[..., 0])
    dh = np.minimum(dh, 1.0 - dh)  # hue is circular
    dh[ref[..., 1] < 1e-6] = 0  # hue is undefined for grey pixels
    assert dh.max() < 1e-4
    np.testing.assert_allclose(ours[..., 1:], ref[..., 1:], atol=1e-4)
    assert ours[..., 0].min() >= 0 and ours[..., 0].max() < 360


def test_hsv_round_trip(astro, astro_f):
    """rgb -> hsv -> rgb: exact for uint8, 1e-5 for float; hue outside [0, 360) wraps."""
    hsv = CS.rgb_to_hsv(astro)
    assert np.array_equal(CS.hsv_to_rgb(hsv, np.uint8), astro)
    np.testing.assert_allclose(CS.hsv_to_rgb(CS.rgb_to_hsv(astro_f)), astro_f, atol=1e-5)
    shifted = hsv.copy()
    shifted[..., 0] += 720.0
    assert _diff(CS.hsv_to_rgb(shifted, np.uint8), astro).max() <= 1


def test_lab_vs_skimage(astro):
    """rgb_to_lab vs skimage.color.rgb2lab (D65, 2 degree observer) within 0.5 units."""
    ours = CS.rgb_to_lab(astro)
    ref = skcolor.rgb2lab(astro)
    assert _diff(ours, ref).max() < 0.5
    white = CS.rgb_to_lab(np.ones((1, 1, 3), np.float32))[0, 0]
    np.testing.assert_allclose(white, [100.0, 0.0, 0.0], atol=0.01)


def test_lab_round_trip(astro, astro_f):
    """rgb -> lab -> rgb returns the uint8 image to within 1 level (OpenCV float LAB)."""
    back = CS.lab_to_rgb(CS.rgb_to_lab(astro), np.uint8)
    assert _diff(back, astro).max() <= 1
    np.testing.assert_allclose(
        CS.lab_to_rgb(skcolor.rgb2lab(astro_f)), astro_f, atol=3e-3
    )  # skimage's LAB decodes with ours


def test_grey_vs_hand_formula(astro):
    """rgb_to_grey = 0.299 R + 0.587 G + 0.114 B (BT.601), exact for float64, 1 level uint8;
    the grayscale op (same luma) vs Pillow's convert('L') (same weights, fixed point) within
    1 level."""
    expected = astro.astype(np.float64) @ [0.299, 0.587, 0.114]
    assert _diff(CS.rgb_to_grey(astro), expected).max() <= 0.51
    f64 = astro.astype(np.float64) / 255
    np.testing.assert_allclose(CS.rgb_to_grey(f64), expected / 255, atol=1e-12)
    pil = np.asarray(Image.fromarray(astro).convert("L"))
    assert _diff(get_op("grayscale")(astro), pil).max() <= 1


def test_convert_color_routes(astro, astro_f, astro_grey):
    """convert_color goes through RGB and matches the named helpers; 'gray' is an alias."""
    rgb = CS.convert_color(astro_grey, "gray", "rgb")
    assert rgb.shape == astro_grey.shape + (3,) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[..., 1], astro_grey)
    assert np.array_equal(CS.convert_color(astro, "rgb", "grey"), CS.rgb_to_grey(astro))
    lab_via_hsv = CS.convert_color(CS.rgb_to_hsv(astro_f), "hsv", "lab")
    assert _diff(lab_via_hsv, CS.rgb_to_lab(astro_f)).max() < 0.01
    out = CS.convert_color(CS.rgb_to_ycbcr(astro), "ycbcr", "rgb", dtype=np.uint8)
    assert np.array_equal(out, astro)
    assert CS.convert_color(astro, "rgb", "rgb", dtype=np.float32).dtype == np.float32


# --------------------------------------------------------------------------- strip by strip


@pytest.fixture
def tiny_strips(monkeypatch):
    """Make the conversions run in strips of a few rows, so small images cross many strip
    boundaries."""
    from atelier import arrays

    monkeypatch.setattr(arrays, "STRIP_BYTES", 2000)
    monkeypatch.setattr(arrays, "OPENCV_STRIPE_PIXELS", 8)


@pytest.mark.parametrize("width", [64, 29, 3])
def test_strips_match_whole_image_opencv(tiny_strips, astro, width):
    """Strip-wise conversions equal one OpenCV call on the whole image, bit for bit:
    cv2.cvtColor / cv2.transform (MATLAB rgb2ycbcr matrix built here) on float32, then the
    documented rounding rint(clip(x, 0, 1) * 255). Odd widths check that cv2.transform's
    SIMD tail does not fall inside a strip."""
    image = np.ascontiguousarray(cv2.resize(astro, (width, 61)))
    f = image.astype(np.float32) * np.float32(1 / 255)  # to_float's values
    forward = np.array(
        [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
    )
    offset = np.array([[16.0], [128.0], [128.0]])
    matrix = np.hstack([forward / 255, offset]).astype(np.float32)
    ycc = cv2.transform(image.astype(np.float32), matrix)
    assert np.array_equal(CS.rgb_to_ycbcr(image), ycc)
    assert np.array_equal(CS.rgb_to_hsv(image), cv2.cvtColor(f, cv2.COLOR_RGB2HSV))
    assert np.array_equal(CS.rgb_to_lab(image), cv2.cvtColor(f, cv2.COLOR_RGB2Lab))

    inverse = np.linalg.inv(forward)
    back = np.hstack([inverse, -(inverse @ offset)]).astype(np.float32)
    noisy = ycc + RNG.normal(0, 20, ycc.shape).astype(np.float32)  # leaves the RGB cube
    expected = cv2.transform(noisy, back)
    assert np.array_equal(CS.ycbcr_to_rgb(noisy), np.clip(expected, 0, 1))
    u8 = np.rint(np.clip(expected, 0, 1) * np.float32(255)).astype(np.uint8)
    assert np.array_equal(CS.ycbcr_to_rgb(noisy, np.uint8), u8)
    lab = CS.rgb_to_lab(image)
    expected = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1)
    assert np.array_equal(CS.lab_to_rgb(lab, np.uint8), np.rint(expected * 255).astype(np.uint8))


def test_strips_hue_wrap_and_nan(tiny_strips, astro):
    """Hue outside [0, 360) in some strips only is wrapped there (as numpy's % 360 before
    cv2.cvtColor); a NaN in the last strip is still found."""
    hsv = CS.rgb_to_hsv(astro)
    shifted = hsv.copy()
    shifted[40:, :, 0] -= 720.0  # only the lower strips
    shifted[5, 7, 0] += 360.0  # and one pixel near the top
    wrapped = shifted.copy()
    wrapped[..., 0] %= 360
    expected = np.clip(cv2.cvtColor(wrapped, cv2.COLOR_HSV2RGB), 0, 1)
    assert np.array_equal(CS.hsv_to_rgb(shifted), expected)
    assert _diff(CS.hsv_to_rgb(shifted, np.uint8), astro).max() <= 1
    bad = hsv.copy()
    bad[-1, -1, 2] = np.inf
    with pytest.raises(InvalidImage):
        CS.hsv_to_rgb(bad)
