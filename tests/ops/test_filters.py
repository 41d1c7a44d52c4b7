"""Tests for atelier.ops.filters: smoke, shape/dtype, exceptions, and reference values.

Reference values come from scikit-image / scipy (gaussian, median, unsharp mask), hand
formulas written here in numpy (unsharp, Laplacian, bilateral), and direct OpenCV calls.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.data
import skimage.filters
from skimage.metrics import peak_signal_noise_ratio

from atelier.errors import InvalidArgument, InvalidImage
from atelier.ops import filters as F
from atelier.ops import get_op
from atelier.ops.pipeline import Pipeline

H, W = 48, 64


def _astronaut() -> np.ndarray:
    """A small natural RGB uint8 photo (scikit-image's astronaut, shrunk to 64x48)."""
    return cv2.resize(skimage.data.astronaut(), (W, H), interpolation=cv2.INTER_AREA)


RGB8 = _astronaut()
GREY8 = cv2.cvtColor(RGB8, cv2.COLOR_RGB2GRAY)
ALPHA8 = np.tile(np.linspace(0, 255, W, dtype=np.uint8), (H, 1))
RGBA8 = np.dstack([RGB8, ALPHA8])


def _layout(name: str) -> np.ndarray:
    return {"grey": GREY8, "grey1": GREY8[..., None], "rgb": RGB8, "rgba": RGBA8}[name]


def _as(img8: np.ndarray, dtype: type) -> np.ndarray:
    """uint8 -> dtype with the library-independent convention (uint16 = 257 * uint8)."""
    if dtype == np.uint8:
        return img8
    if dtype == np.uint16:
        return img8.astype(np.uint16) * 257
    return (img8 / 255.0).astype(dtype)


def _levels(a: np.ndarray, b: np.ndarray) -> float:
    """Max abs difference in 8-bit levels between two images of any dtypes."""
    def scale(x):
        x = x.astype(np.float64)
        return x * 255 / 65535 if x.max() > 255 else (x if x.max() > 1 else x * 255)

    return float(np.abs(scale(a) - scale(b)).max())


OPS = [
    ("gaussian_blur", {"sigma": 1.5}),
    ("median", {"ksize": 3}),
    ("median", {"ksize": 7}),
    ("bilateral", {"diameter": 5, "sigma_color": 30, "sigma_space": 3}),
    ("unsharp", {"radius": 1.5, "amount": 1.0, "threshold": 2}),
    ("laplacian_sharpen", {"strength": 0.5, "ksize": 3}),
    ("nlm_denoise", {"h": 10, "template_size": 3, "search_size": 7}),
]


# --------------------------------------------------------------------------- smoke / shape


@pytest.mark.parametrize("name,kwargs", OPS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPS)])
@pytest.mark.parametrize("layout", ["grey", "grey1", "rgb", "rgba"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_shape_and_dtype_preserved(name, kwargs, layout, dtype):
    image = _as(_layout(layout), dtype)
    before = image.copy()
    out = get_op(name)(image, **kwargs)
    assert out.shape == image.shape
    assert out.dtype == image.dtype
    np.testing.assert_array_equal(image, before)  # input untouched
    if out.dtype.kind == "f":
        assert 0.0 <= out.min() and out.max() <= 1.0


def test_registered_in_filters_category():
    for name, _ in OPS:
        assert get_op(name).category == "filters"


def test_pipeline_text_parses_parameters():
    """The CLI syntax reaches every op, with ints/floats/choices parsed from text."""
    p = Pipeline.parse(
        "gaussian_blur sigma=2 ksize=7 | median ksize=5 | bilateral diameter=5 | "
        "unsharp radius=2 amount=1.5 threshold=3 | laplacian_sharpen ksize=3 | "
        "nlm_denoise h=5 search_size=7"
    )
    assert p.stages[4].kwargs["ksize"] == 3
    assert p.apply(RGB8).shape == RGB8.shape


# --------------------------------------------------------------------------- exceptions


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("gaussian_blur", {"sigma": 0}),
        ("gaussian_blur", {"sigma": 1.0, "ksize": 4}),
        ("gaussian_blur", {"sigma": 1.0, "ksize": -3}),
        ("median", {"ksize": 4}),
        ("median", {"ksize": 1}),
        ("median", {"ksize": 3.5}),
        ("bilateral", {"sigma_color": 0}),
        ("bilateral", {"diameter": -1}),
        ("unsharp", {"amount": -1}),
        ("unsharp", {"threshold": 300}),
        ("laplacian_sharpen", {"ksize": 2}),
        ("laplacian_sharpen", {"strength": -0.5}),
        ("nlm_denoise", {"h": 0}),
        ("nlm_denoise", {"template_size": 6}),
        ("nlm_denoise", {"search_size": 20}),
        ("gaussian_blur", {"radius": 2}),  # unknown parameter
    ],
)
def test_bad_arguments_raise_invalid_argument(name, kwargs):
    with pytest.raises(InvalidArgument):
        get_op(name)(RGB8, **kwargs)


@pytest.mark.parametrize("name", sorted({n for n, _ in OPS}))
def test_bad_images_raise_invalid_image(name):
    nan = np.full((8, 8, 3), np.nan, np.float32)
    with pytest.raises(InvalidImage):
        get_op(name)(nan)
    with pytest.raises(InvalidImage):
        get_op(name)(np.zeros((8, 8, 2), np.uint8))


# --------------------------------------------------------------------------- gaussian_blur


def test_gaussian_float_matches_skimage():
    """Reference: skimage.filters.gaussian (scipy.ndimage) with truncate=4 and mode='mirror'.

    OpenCV's automatic kernel for float images has radius round(4 sigma) and its default
    border, BORDER_REFLECT_101, is scipy's 'mirror', so the two agree to float precision.
    """
    img = _as(RGB8, np.float32)
    for sigma in (1.0, 2.5):
        ours = F.gaussian_blur(img, sigma=sigma)
        ref = skimage.filters.gaussian(
            img, sigma=sigma, mode="mirror", truncate=4.0, channel_axis=-1
        )
        np.testing.assert_allclose(ours, ref, atol=2e-6)


def test_gaussian_uint8_matches_skimage_and_opencv():
    """Reference: skimage.filters.gaussian on the same image as floats, with the kernel radius
    of OpenCV's uint8 rule (ksize = round(6 sigma + 1) | 1): within 1.5 levels, 0.3 on average
    (OpenCV rounds the result and uses 8-bit fixed-point kernel weights for uint8). Also
    equal to the direct cv2.GaussianBlur call."""
    sigma = 1.5
    ksize = int(round(sigma * 6 + 1)) | 1
    ours = F.gaussian_blur(RGB8, sigma=sigma)
    ref = skimage.filters.gaussian(
        RGB8.astype(np.float64), sigma=sigma, mode="mirror", truncate=(ksize // 2) / sigma,
        channel_axis=-1, preserve_range=True,
    )
    err = np.abs(ours - ref)
    assert err.max() <= 1.5 and err.mean() < 0.3
    np.testing.assert_array_equal(ours, cv2.GaussianBlur(RGB8, (0, 0), sigma))
    np.testing.assert_array_equal(
        F.gaussian_blur(RGB8, sigma=sigma, ksize=5), cv2.GaussianBlur(RGB8, (5, 5), sigma)
    )


def test_gaussian_hand_computed_3x3():
    """Reference: hand-computed 3x3 Gaussian, sigma=1: weights g = exp(-x^2/2) for x in
    (-1, 0, 1), normalised; an impulse of 255 gives 255 * g0^2 at the centre."""
    g = np.exp(-np.array([1.0, 0.0, 1.0]) / 2)
    g /= g.sum()
    img = np.zeros((5, 5), np.float64)
    img[2, 2] = 1.0
    out = F.gaussian_blur(img, sigma=1.0, ksize=3)
    np.testing.assert_allclose(out[1:4, 1:4], np.outer(g, g), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_gaussian_other_dtypes_close_to_uint8(dtype):
    """The uint16/float paths agree with the uint8 path within 2 levels (OpenCV's uint8 kernel
    is cut at about 3 sigma instead of 4)."""
    ours = F.gaussian_blur(_as(RGB8, dtype), sigma=1.5)
    assert _levels(ours, F.gaussian_blur(RGB8, sigma=1.5)) <= 2.0


# --------------------------------------------------------------------------- median


@pytest.mark.parametrize("ksize", [3, 5, 7])
@pytest.mark.parametrize("layout", ["grey", "rgb", "rgba"])
def test_median_uint8_matches_scipy(ksize, layout):
    """Reference: scipy.ndimage.median_filter per channel with mode='nearest' (OpenCV's
    medianBlur replicates the edge pixels), exactly."""
    img = _layout(layout)
    size = (ksize, ksize) if img.ndim == 2 else (ksize, ksize, 1)
    ref = ndi.median_filter(img, size=size, mode="nearest")
    np.testing.assert_array_equal(F.median(img, ksize=ksize), ref)


@pytest.mark.parametrize("ksize", [3, 5, 9])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_median_other_dtypes_exact(ksize, dtype):
    """Reference: the median commutes with increasing maps, so for img = f(img8) with f the
    dtype conversion, median(img) == f(median(img8)) exactly, for OpenCV's own paths
    (ksize <= 5) and the scikit-image fallback (larger windows, float64)."""
    ours = F.median(_as(RGB8, dtype), ksize=ksize)
    ref = _as(ndi.median_filter(RGB8, size=(ksize, ksize, 1), mode="nearest"), dtype)
    np.testing.assert_array_equal(ours, ref)


def test_median_removes_salt_and_pepper():
    """Hand case: isolated impulses on a flat image vanish under a 3x3 median."""
    img = np.full((16, 16), 100, np.uint8)
    img[4, 4], img[10, 7] = 255, 0
    np.testing.assert_array_equal(F.median(img, ksize=3), np.full_like(img, 100))


# --------------------------------------------------------------------------- bilateral


def _bilateral_reference(img: np.ndarray, d: int, sigma_color: float, sigma_space: float):
    """Hand-written bilateral filter (Tomasi & Manduchi 1998) on a grey float image, with
    OpenCV's conventions: circular window of radius d // 2, BORDER_REFLECT_101."""
    r = d // 2
    padded = np.pad(img, r, mode="reflect")
    num = np.zeros_like(img)
    den = np.zeros_like(img)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dx * dx + dy * dy > r * r:
                continue
            shifted = padded[r + dy : r + dy + img.shape[0], r + dx : r + dx + img.shape[1]]
            w = np.exp(-(dx * dx + dy * dy) / (2 * sigma_space**2))
            w = w * np.exp(-((shifted - img) ** 2) / (2 * sigma_color**2))
            num += w * shifted
            den += w
    return num / den


def test_bilateral_uint8_matches_hand_formula():
    """Reference: the hand-written bilateral above (Tomasi & Manduchi, OpenCV's window and
    border), within one 8-bit level of rounding; and equal to the direct OpenCV call."""
    ours = F.bilateral(GREY8, diameter=5, sigma_color=30, sigma_space=2)
    ref = _bilateral_reference(GREY8.astype(np.float64), 5, 30.0, 2.0)
    assert np.abs(ours - ref).max() <= 1.0
    np.testing.assert_array_equal(ours, cv2.bilateralFilter(GREY8, 5, 30, 2))


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_bilateral_sigma_color_in_8bit_levels(dtype):
    """The float path with sigma_color in 8-bit levels gives the uint8 OpenCV result within
    2 levels (a wrong scaling of sigma_color would blur edges or do nothing)."""
    ours = F.bilateral(_as(RGB8, dtype), diameter=5, sigma_color=30, sigma_space=3)
    ref = cv2.bilateralFilter(RGB8, 5, 30, 3)
    assert _levels(ours, ref) <= 2.0
    assert _levels(ours, RGB8) > 10  # it did filter


def test_bilateral_rgba_filters_rgb_jointly_and_alpha_alone():
    """RGBA = bilateral of the RGB part (cv2, 3 channels) + bilateral of alpha as grey."""
    out = F.bilateral(RGBA8, diameter=5, sigma_color=40, sigma_space=3)
    np.testing.assert_array_equal(out[..., :3], cv2.bilateralFilter(RGB8, 5, 40, 3))
    np.testing.assert_array_equal(out[..., 3], cv2.bilateralFilter(ALPHA8, 5, 40, 3))


def test_bilateral_keeps_edges_gaussian_does_not():
    """Hand case: a noisy step edge; the bilateral filter keeps the step, a blur smears it."""
    rng = np.random.default_rng(1)
    step = np.zeros((32, 32), np.float32)
    step[:, 16:] = 0.8
    noisy = np.clip(step + rng.normal(0, 0.02, step.shape), 0, 1).astype(np.float32)
    out = F.bilateral(noisy, diameter=7, sigma_color=25, sigma_space=3)
    assert abs(out[:, 15].mean() - 0.0) < 0.03 and abs(out[:, 16].mean() - 0.8) < 0.03
    assert out.std(axis=0)[:10].mean() < noisy.std(axis=0)[:10].mean()


# --------------------------------------------------------------------------- unsharp


def _unsharp_reference(img, radius, amount, threshold):
    """Hand formula (Pillow's UnsharpMask, percent = 100 * amount, but rounded): where
    |img - blur| > threshold, img + amount * (img - blur), clipped to the dtype's range."""
    blur = cv2.GaussianBlur(img, (0, 0), radius).astype(np.float64)
    x = img.astype(np.float64)
    top = 255.0 if img.dtype == np.uint8 else 1.0
    sharp = np.clip(x + amount * (x - blur), 0, top)
    if img.dtype == np.uint8:
        sharp = np.rint(sharp)
    return np.where(np.abs(x - blur) > threshold * top / 255, sharp, x)


@pytest.mark.parametrize("threshold", [0, 4])
def test_unsharp_uint8_matches_hand_formula(threshold):
    """Reference: the hand formula above; at most one level off (float rounding of ties)."""
    ours = F.unsharp(RGB8, radius=1.5, amount=1.5, threshold=threshold)
    ref = _unsharp_reference(RGB8, 1.5, 1.5, threshold)
    diff = np.abs(ours - ref)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    if threshold:
        blur = cv2.GaussianBlur(RGB8, (0, 0), 1.5).astype(int)
        quiet = np.abs(RGB8.astype(int) - blur) <= threshold
        assert quiet.any() and np.array_equal(ours[quiet], RGB8[quiet])


def test_unsharp_float_matches_hand_formula_with_threshold():
    """Reference: hand formula on float32, threshold 4 levels scaled to 4 / 255."""
    img = _as(RGB8, np.float32)
    ours = F.unsharp(img, radius=2.0, amount=0.7, threshold=4)
    np.testing.assert_allclose(ours, _unsharp_reference(img, 2.0, 0.7, 4), atol=1e-6)


def test_unsharp_float_matches_skimage():
    """Reference: skimage.filters.unsharp_mask (same formula, Gaussian truncated at 4 sigma).
    Compared away from the border, where skimage replicates and OpenCV reflects. skimage is
    called per channel: its channel_axis path returns wrong values in scikit-image 0.26."""
    img = _as(RGB8, np.float32)
    ours = F.unsharp(img, radius=1.5, amount=1.2)
    ref = np.dstack([
        skimage.filters.unsharp_mask(np.ascontiguousarray(img[..., c]), radius=1.5, amount=1.2)
        for c in range(3)
    ])
    m = 6  # 4 sigma
    np.testing.assert_allclose(ours[m:-m, m:-m], ref[m:-m, m:-m], atol=1e-5)


def test_unsharp_uint8_close_to_float_path():
    """The uint8 fast path (cv2.addWeighted) and the float path agree within 2 levels."""
    ours8 = F.unsharp(RGB8, radius=2.0, amount=1.0)
    oursf = F.unsharp(_as(RGB8, np.float32), radius=2.0, amount=1.0)
    assert _levels(ours8, oursf) <= 2.0


# --------------------------------------------------------------------------- laplacian_sharpen


def test_laplacian_sharpen_hand_computed_4_neighbour():
    """Reference: hand numpy Laplacian (up + down + left + right - 4 * centre, reflect101
    border = numpy 'reflect'), result = img - strength * lap."""
    img = _as(GREY8, np.float64) * 0.5 + 0.25  # room for overshoot without clipping
    p = np.pad(img, 1, mode="reflect")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * img
    ref = np.clip(img - 0.3 * lap, 0, 1)
    np.testing.assert_allclose(F.laplacian_sharpen(img, strength=0.3, ksize=1), ref, atol=1e-12)


@pytest.mark.parametrize("ksize", [1, 3, 5])
def test_laplacian_sharpen_matches_cv2_laplacian(ksize):
    """Reference: img - strength * cv2.Laplacian(img, CV_64F, ksize), rounded and clipped,
    within one level (our one-pass kernel rounds once)."""
    strength = 0.2
    lap = cv2.Laplacian(RGB8.astype(np.float64), cv2.CV_64F, ksize=ksize)
    ref = np.clip(np.rint(RGB8 - strength * lap), 0, 255)
    ours = F.laplacian_sharpen(RGB8, strength=strength, ksize=ksize)
    assert np.abs(ours - ref).max() <= 1


def test_laplacian_sharpen_classic_kernel():
    """Hand case: strength 1, ksize 1 is the classic [0,-1,0; -1,5,-1; 0,-1,0] sharpen; a
    110 dot on 100 becomes 5 * 110 - 4 * 100 = 150 and its neighbours 5 * 100 - 3 * 100 - 110
    = 90."""
    img = np.full((5, 5), 100, np.uint8)
    img[2, 2] = 110
    out = F.laplacian_sharpen(img, strength=1.0, ksize=1)
    assert out[2, 2] == 150 and out[1, 2] == 90 and out[0, 0] == 100


# --------------------------------------------------------------------------- nlm_denoise


def _noisy_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A clean colourful synthetic RGB image (gradients and flat shapes) and a noisy copy."""
    yy, xx = np.mgrid[0:H, 0:W]
    clean = np.dstack([xx * 3, yy * 4, np.full_like(xx, 60)]).astype(np.float64)
    clean[10:30, 10:30] = (220, 40, 40)
    clean[20:40, 38:58] = (30, 180, 230)
    clean = clean.astype(np.uint8)
    noise = np.random.default_rng(seed).normal(0, 15, clean.shape)
    return clean, np.clip(clean + noise, 0, 255).astype(np.uint8)


def test_nlm_rgb_raises_psnr_and_equals_opencv_on_bgr():
    """Reference: cv2.fastNlMeansDenoisingColored on the BGR-converted image (OpenCV expects
    BGR; it denoises in CIELAB), exactly; PSNR against the clean image goes up."""
    clean, noisy = _noisy_scene()
    ours = F.nlm_denoise(noisy, h=12, template_size=7, search_size=21)
    bgr = cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR)
    ref = cv2.fastNlMeansDenoisingColored(bgr, None, 12, 12, 7, 21)
    np.testing.assert_array_equal(ours, cv2.cvtColor(ref, cv2.COLOR_BGR2RGB))
    # channel order matters: feeding RGB as if it were BGR gives another result
    assert not np.array_equal(ours, cv2.fastNlMeansDenoisingColored(noisy, None, 12, 12, 7, 21))
    assert peak_signal_noise_ratio(clean, ours) > peak_signal_noise_ratio(clean, noisy) + 3


def test_nlm_grey_raises_psnr_and_equals_opencv():
    """Reference: cv2.fastNlMeansDenoising on the grey image, exactly; PSNR goes up."""
    clean, noisy = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in _noisy_scene(1))
    ours = F.nlm_denoise(noisy[..., None], h=12)
    assert ours.shape == (H, W, 1)
    np.testing.assert_array_equal(ours[..., 0], cv2.fastNlMeansDenoising(noisy, None, 12, 7, 21))
    assert peak_signal_noise_ratio(clean, ours[..., 0]) > peak_signal_noise_ratio(clean, noisy) + 3


def test_nlm_rgba_keeps_alpha():
    """RGBA: the RGB part equals the RGB result; alpha is passed through bit for bit."""
    _, noisy = _noisy_scene(2)
    rgba = np.dstack([noisy, ALPHA8])
    out = F.nlm_denoise(rgba, h=10, search_size=11)
    np.testing.assert_array_equal(out[..., 3], ALPHA8)
    np.testing.assert_array_equal(out[..., :3], F.nlm_denoise(noisy, h=10, search_size=11))


def test_nlm_uint16_goes_through_uint8():
    """Documented behaviour: uint16 is denoised through uint8, so for 257 * img8 the result
    is exactly 257 * (uint8 result); RGBA uint16 keeps its full-precision alpha."""
    _, noisy = _noisy_scene(3)
    out = F.nlm_denoise(_as(noisy, np.uint16), h=10, search_size=11)
    np.testing.assert_array_equal(out, _as(F.nlm_denoise(noisy, h=10, search_size=11), np.uint16))
    alpha16 = np.arange(H * W, dtype=np.uint16).reshape(H, W) * 7
    rgba = np.dstack([_as(noisy, np.uint16), alpha16])
    np.testing.assert_array_equal(F.nlm_denoise(rgba, h=10, search_size=11)[..., 3], alpha16)
