"""Tests for atelier.metrics.fidelity: mse, psnr, ssim, ms_ssim and the metric registry."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data
from scipy.ndimage import gaussian_filter
from skimage.color import rgb2ycbcr
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from atelier.errors import InvalidArgument, InvalidImage, UnknownName
from atelier.metrics import METRICS, _ssim, get_metric, ms_ssim, mse, psnr, ssim

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _astronaut(width: int, height: int) -> np.ndarray:
    return cv2.resize(skimage.data.astronaut(), (width, height), interpolation=cv2.INTER_AREA)


def _noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """``image`` (uint8) plus Gaussian noise of ``sigma`` grey levels, clipped, uint8."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """A 48 x 64 RGB uint8 photo and a noisy copy."""
    a = _astronaut(64, 48)
    return a, _noisy(a, 12.0)


@pytest.fixture(scope="module")
def big_pair() -> tuple[np.ndarray, np.ndarray]:
    """A 176 x 168 RGB uint8 photo (large enough for 5-scale MS-SSIM) and a noisy copy."""
    a = _astronaut(168, 176)
    return a, _noisy(a, 15.0)


# Each representation the tests use: how to make it from a uint8 RGB image, and its data range.
KINDS = {
    "uint8": (lambda image: image, 255),
    "uint16": (lambda image: image.astype(np.uint16) * 257, 65535),
    "float32": (lambda image: image.astype(np.float32) / 255, 1.0),
    "float64": (lambda image: image.astype(np.float64) / 255, 1.0),
    "grey": (lambda image: cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 255),
    "grey1": (lambda image: cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 255),
}
RANGES = {kind: data_range for kind, (_, data_range) in KINDS.items()}


def _as(image: np.ndarray, kind: str) -> np.ndarray:
    return KINDS[kind][0](image)


def _skimage_ssim(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """scikit-image's SSIM with the settings of Wang et al. 2004."""
    return structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=data_range,
        channel_axis=-1 if a.ndim == 3 else None,
    )


def _y(image: np.ndarray) -> np.ndarray:
    """BT.601 Y in 16..235 units, computed by scikit-image (same formula as MATLAB)."""
    return rgb2ycbcr(image[..., :3])[..., 0]


# --- smoke and registry ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mse", "psnr", "ssim", "ms_ssim"])
def test_smoke(name, big_pair):
    a, b = big_pair
    value = get_metric(name)(a, b)
    assert isinstance(value, float) and math.isfinite(value)


def test_registry():
    assert METRICS == {"mse": mse, "psnr": psnr, "ssim": ssim, "ms_ssim": ms_ssim}
    assert get_metric("ms_ssim") is ms_ssim


def test_unknown_metric_lists_known_names():
    with pytest.raises(UnknownName) as info:
        get_metric("ssmi")
    for name in METRICS:
        assert name in str(info.value)


# --- identical images, bounds and monotonicity ----------------------------------------------


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32", "grey", "grey1"])
def test_identical_images(kind, big_pair):
    """Identical images: MSE 0, PSNR inf (documented), SSIM and MS-SSIM exactly 1."""
    a = _as(big_pair[0], kind)
    assert mse(a, a.copy()) == 0.0
    assert psnr(a, a.copy()) == math.inf
    assert ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)
    assert ms_ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ms_ssim_decreases_with_noise(big_pair):
    a = big_pair[0]
    values = [ms_ssim(a, _noisy(a, sigma)) for sigma in (2, 8, 25, 60)]
    assert all(0 < v < 1 for v in values)
    assert values == sorted(values, reverse=True)
    assert ms_ssim(a, _noisy(a, 2)) > ssim(a, _noisy(a, 2)) * 0.9  # sanity: same ballpark


def test_ms_ssim_clamps_negative_terms(big_pair):
    """An inverted image has negative contrast-structure terms: clamped to 0, result 0
    (also when only the finest-scale cs term counts: weights (1, 0))."""
    a = big_pair[0]
    assert ssim(a, 255 - a) < 0
    assert ms_ssim(a, 255 - a) == 0.0
    assert ms_ssim(a, 255 - a, weights=(1.0, 0.0)) == 0.0
    assert ms_ssim(a, _noisy(a, 8), weights=(1.0, 0.0)) > 0.5


def test_one_scale_ms_ssim_is_ssim(pair):
    """With a single weight of 1, MS-SSIM reduces to SSIM (itself checked against skimage)."""
    a, b = pair
    assert ms_ssim(a, b, weights=(1.0,)) == pytest.approx(ssim(a, b), abs=1e-12)


# --- shapes, channels, alpha ---------------------------------------------------------------


@pytest.mark.parametrize("metric", [mse, psnr, ssim])
def test_grey_with_channel_axis_equals_grey(metric, pair):
    grey = _as(pair[0], "grey")
    noisy = _as(pair[1], "grey")
    assert metric(grey[..., None], noisy[..., None]) == pytest.approx(metric(grey, noisy))


@pytest.mark.parametrize("metric", [mse, psnr, ssim, ms_ssim])
def test_rgba_ignores_alpha(metric, big_pair):
    """RGBA images are compared on their RGB part: alpha does not change the value."""
    a, b = big_pair
    alpha_a = np.full(a.shape[:2] + (1,), 255, np.uint8)
    alpha_b = np.random.default_rng(3).integers(0, 256, alpha_a.shape, dtype=np.uint8)
    rgba_a = np.concatenate([a, alpha_a], axis=2)
    rgba_b = np.concatenate([b, alpha_b], axis=2)
    assert metric(rgba_a, rgba_b) == pytest.approx(metric(a, b), rel=1e-12)


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_channel_y_on_grey_is_the_grey_image(metric, pair):
    """Grey input with channel="y" is used as is (scaled to 0..255, data_range 255)."""
    grey, noisy = _as(pair[0], "grey"), _as(pair[1], "grey")
    assert metric(grey, noisy, channel="y") == pytest.approx(metric(grey, noisy), abs=1e-9)
    fa, fb = grey.astype(np.float32) / 255, noisy.astype(np.float32) / 255
    assert metric(fa, fb, channel="y") == pytest.approx(metric(grey, noisy), abs=1e-4)


# --- reference values: scikit-image and hand computations --------------------------------


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32", "grey", "grey1"])
@pytest.mark.parametrize("crop", [0, 4])
def test_ssim_matches_skimage(kind, crop, pair):
    """Reference: skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=<dtype range>, channel_axis=-1), on the cropped
    images; agreement to 1e-4."""
    a, b = _as(pair[0], kind), _as(pair[1], kind)
    c = slice(crop, a.shape[0] - crop), slice(crop, a.shape[1] - crop)
    expected = _skimage_ssim(a[c], b[c], RANGES[kind])
    assert 0.2 < expected < 0.99
    assert ssim(a, b, crop=crop) == pytest.approx(expected, abs=1e-4)


def test_ssim_channel_y_matches_skimage(pair):
    """Reference: skimage SSIM on skimage.color.rgb2ycbcr's Y (16..235), data_range 255."""
    a, b = pair
    expected = _skimage_ssim(_y(a)[3:-3, 3:-3], _y(b)[3:-3, 3:-3], 255)
    assert ssim(a, b, channel="y", crop=3) == pytest.approx(expected, abs=1e-4)


def test_ssim_explicit_data_range_matches_skimage(pair):
    """Reference: skimage SSIM with data_range=100 (the override changes C1 and C2)."""
    a, b = pair
    expected = _skimage_ssim(a, b, 100)
    assert ssim(a, b, data_range=100) == pytest.approx(expected, abs=1e-4)
    assert abs(expected - _skimage_ssim(a, b, 255)) > 1e-3


def test_ssim_on_smallest_image():
    """An 11 x 11 image leaves a single window; reference: skimage."""
    a = _astronaut(11, 11)
    b = _noisy(a, 20.0)
    assert ssim(a, b) == pytest.approx(_skimage_ssim(a, b, 255), abs=1e-4)


# --- precision where float32 loses it: flat, bright, noisy images ---------------------------


def _flat_bright_pair(shape: tuple[int, ...], seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Two flat bright noisy uint8 images: 250 plus Gaussian noise of 1 grey level."""
    rng = np.random.default_rng(seed)
    return tuple(  # type: ignore[return-value]
        np.clip(np.rint(250 + rng.normal(0, 1, shape)), 0, 255).astype(np.uint8) for _ in "ab"
    )


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32", "float64", "grey"])
def test_ssim_precise_on_flat_bright_noisy_images(kind):
    """On flat bright images E[x^2] - E[x]^2 cancels: a float32 SSIM that does not centre the
    values first is ~4e-5 off here. Reference: skimage.metrics.structural_similarity (Wang's
    settings) on float64 copies (skimage keeps float32 input in float32, itself ~7e-6 off).
    The tolerance is 1e-6, tighter than the 1e-4 promised, so that the test can fail."""
    a, b = (_as(image, kind) for image in _flat_bright_pair((96, 80, 3)))
    expected = _skimage_ssim(a.astype(np.float64), b.astype(np.float64), RANGES[kind])
    assert 0.9 < expected < 0.99
    assert ssim(a, b) == pytest.approx(expected, abs=1e-6)


def test_ssim_precise_on_bright_uint16():
    """Native 16-bit: 64000 +- 256 levels of noise. Reference: skimage on float64 copies."""
    rng = np.random.default_rng(6)
    a, b = (
        np.clip(np.rint(64000 + rng.normal(0, 256, (80, 72))), 0, 65535).astype(np.uint16)
        for _ in "ab"
    )
    expected = _skimage_ssim(a.astype(np.float64), b.astype(np.float64), 65535)
    assert 0.9 < expected < 0.99
    assert ssim(a, b) == pytest.approx(expected, abs=1e-6)


def test_ssim_precise_on_dark_and_bright_halves():
    """Half near-black (10), half near-white (250), noise of 1 level: centring on the image
    mean leaves both halves far from it. Reference: skimage on float64 copies, to 1e-6."""
    a, b = _flat_bright_pair((64, 96, 3), seed=8)
    a[:, :48] -= 240
    b[:, :48] -= 240
    expected = _skimage_ssim(a.astype(np.float64), b.astype(np.float64), 255)
    assert 0.9 < expected < 0.99
    assert ssim(a, b) == pytest.approx(expected, abs=1e-6)


# --- how the work is split does not change the result ---------------------------------


@pytest.mark.parametrize("strip_bytes, threads", [(1, 1), (7 * 16 * 168, 3), (1 << 30, 2)])
def test_strips_and_threads_do_not_change_ssim(strip_bytes, threads, big_pair, monkeypatch):
    """SSIM is computed in strips of rows on cv2.getNumThreads() threads: any strip height
    and thread count gives the same values (to float64 round-off), and still skimage's
    (reference, 1e-4)."""
    a, b = big_pair
    expected_ssim, expected_ms_ssim = ssim(a, b), ms_ssim(a, b)
    monkeypatch.setattr(_ssim, "_STRIP_BYTES", strip_bytes)  # 1, 7 and all rows a strip
    monkeypatch.setattr(_ssim, "_PARALLEL_PIXELS", 0)
    monkeypatch.setattr(_ssim.cv2, "getNumThreads", lambda: threads)
    assert ssim(a, b) == pytest.approx(expected_ssim, abs=1e-12)
    assert ms_ssim(a, b) == pytest.approx(expected_ms_ssim, abs=1e-12)
    assert ssim(a, b) == pytest.approx(_skimage_ssim(a, b, 255), abs=1e-4)


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32", "grey"])
@pytest.mark.parametrize("crop", [0, 5])
def test_mse_psnr_match_skimage(kind, crop, pair):
    """Reference: skimage.metrics.mean_squared_error / peak_signal_noise_ratio on the
    cropped images, data_range from the dtype."""
    a, b = _as(pair[0], kind), _as(pair[1], kind)
    c = slice(crop, a.shape[0] - crop), slice(crop, a.shape[1] - crop)
    ref_a, ref_b = a[c].astype(np.float64), b[c].astype(np.float64)
    assert mse(a, b, crop=crop) == pytest.approx(mean_squared_error(ref_a, ref_b), rel=1e-6)
    expected = peak_signal_noise_ratio(ref_a, ref_b, data_range=RANGES[kind])
    assert psnr(a, b, crop=crop) == pytest.approx(expected, abs=1e-5)


def test_psnr_explicit_data_range_matches_skimage(pair):
    """Reference: skimage peak_signal_noise_ratio with data_range=200."""
    a, b = pair
    expected = peak_signal_noise_ratio(a, b, data_range=200)
    assert psnr(a, b, data_range=200) == pytest.approx(expected, abs=1e-6)


def test_psnr_y_by_hand():
    """Hand computation: black vs one pure-red pixel in a 2 x 2 RGB image. Y(black) = 16,
    Y(red) = 16 + 65.481, so MSE = 65.481**2 / 4 and PSNR = 10 log10(255**2 / MSE)."""
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0] = (255, 0, 0)
    expected_mse = 65.481**2 / 4
    assert mse(a, b, channel="y") == pytest.approx(expected_mse, rel=1e-12)
    assert psnr(a, b, channel="y") == pytest.approx(
        10 * math.log10(255**2 / expected_mse), rel=1e-12
    )
    # the RGB metric differs: 255**2 / 12 per channel value
    assert mse(a, b) == pytest.approx(255**2 / 12)


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32"])
def test_psnr_y_matches_skimage_ycbcr(kind, pair):
    """Reference: PSNR (data_range 255) between skimage.color.rgb2ycbcr Y channels, cropped by
    4 px -- the super-resolution protocol; Y is not rounded."""
    a, b = _as(pair[0], kind), _as(pair[1], kind)
    ya, yb = _y(pair[0])[4:-4, 4:-4], _y(pair[1])[4:-4, 4:-4]
    expected = peak_signal_noise_ratio(ya, yb, data_range=255)
    assert psnr(a, b, channel="y", crop=4) == pytest.approx(expected, abs=1e-4)


# --- MS-SSIM against an independent straightforward implementation ----------------------


def _reference_ms_ssim(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """MS-SSIM written out plainly after Wang's msssim.m and tf.image.ssim_multiscale:
    scipy Gaussian filter (sigma 1.5, 11 taps) with the 5-px border dropped ("valid"),
    2 x 2 mean pooling after symmetric padding of odd sides, negative terms clamped to 0,
    per-channel product of powers, then the mean over channels."""
    a = a.astype(np.float64).reshape(a.shape[0], a.shape[1], -1)
    b = b.astype(np.float64).reshape(b.shape[0], b.shape[1], -1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def window_mean(z):
        return gaussian_filter(z, 1.5, truncate=3.5, mode="reflect")[5:-5, 5:-5]

    def halve(z):
        h, w = z.shape
        z = np.pad(z, ((0, h % 2), (0, w % 2)), mode="symmetric")
        return z.reshape(z.shape[0] // 2, 2, z.shape[1] // 2, 2).mean(axis=(1, 3))

    per_channel = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        value = 1.0
        for level, weight in enumerate(WEIGHTS):
            mx, my = window_mean(x), window_mean(y)
            vx = window_mean(x * x) - mx**2
            vy = window_mean(y * y) - my**2
            cxy = window_mean(x * y) - mx * my
            luminance = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
            cs = (2 * cxy + c2) / (vx + vy + c2)
            if level == len(WEIGHTS) - 1:
                value *= max(float(np.mean(luminance * cs)), 0.0) ** weight
            else:
                value *= max(float(np.mean(cs)), 0.0) ** weight
                x, y = halve(x), halve(y)
        per_channel.append(value)
    return float(np.mean(per_channel))


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32", "grey"])
def test_ms_ssim_matches_reference(kind, big_pair):
    """Reference: the independent implementation above (scipy.ndimage + explicit pooling)."""
    a, b = _as(big_pair[0], kind), _as(big_pair[1], kind)
    expected = _reference_ms_ssim(a, b, RANGES[kind])
    assert 0.3 < expected < 0.99
    assert ms_ssim(a, b) == pytest.approx(expected, abs=1e-6)


def test_ms_ssim_odd_sizes_crop_and_y():
    """Odd sides at several scales (171 x 185, cropped by 2 to 167 x 181) and channel y.
    Reference: the independent implementation on skimage.color.rgb2ycbcr's Y."""
    a = _astronaut(185, 171)
    b = _noisy(a, 10.0, seed=5)
    expected = _reference_ms_ssim(_y(a)[2:-2, 2:-2], _y(b)[2:-2, 2:-2], 255)
    assert ms_ssim(a, b, channel="y", crop=2) == pytest.approx(expected, abs=1e-6)


def test_halving_is_exact_2x2_averaging():
    """MS-SSIM's halving (cv2.resize INTER_AREA after replicating an odd last line) against
    numpy: 2 x 2 means in float64 after edge padding. Exact over 4 halvings of uint16."""
    x = np.random.default_rng(2).integers(0, 65536, (171, 185)).astype(np.uint16)
    halved, expected = x, x.astype(np.float64)
    for _ in range(4):
        h, w = expected.shape
        z = np.pad(expected, ((0, h % 2), (0, w % 2)), mode="edge")
        expected = (z[0::2, 0::2] + z[1::2, 0::2] + z[0::2, 1::2] + z[1::2, 1::2]) / 4
        halved = _ssim.halve(halved)
        assert halved.dtype == np.float32
        np.testing.assert_array_equal(halved, expected)


def test_ms_ssim_precise_on_flat_bright_noisy_images():
    """The flat bright noisy case of SSIM (250 +- 1 grey level), at every scale.
    Reference: the independent float64 implementation above, to 1e-6."""
    a, b = _flat_bright_pair((176, 168, 3))
    expected = _reference_ms_ssim(a, b, 255)
    assert 0.9 < expected < 0.999
    assert ms_ssim(a, b) == pytest.approx(expected, abs=1e-6)


# --- exceptions ---------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [mse, psnr, ssim, ms_ssim])
def test_shape_mismatch(metric, pair):
    a = pair[0]
    with pytest.raises(InvalidImage) as info:
        metric(a, a[:-1])
    assert str(a.shape) in str(info.value) and str(a[:-1].shape) in str(info.value)


def test_dtype_mismatch(pair):
    a = pair[0]
    with pytest.raises(InvalidImage, match="dtype"):
        psnr(a, a.astype(np.float32) / 255)


def test_nan_is_invalid_image():
    a = np.zeros((16, 16), np.float32)
    b = a.copy()
    b[3, 3] = np.nan
    with pytest.raises(InvalidImage):
        ssim(a, b)


def test_not_an_image():
    with pytest.raises(InvalidImage):
        mse(np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 2), np.uint8))


def test_ms_ssim_too_small(pair):
    a, b = pair
    with pytest.raises(InvalidArgument, match="160"):
        ms_ssim(a, b)
    big = _astronaut(161, 161)
    assert ms_ssim(big, big) == pytest.approx(1.0)
    with pytest.raises(InvalidArgument, match="after crop"):
        ms_ssim(big, big, crop=1)


def test_ssim_too_small():
    a = np.zeros((10, 40), np.uint8)
    with pytest.raises(InvalidArgument, match="11 x 11"):
        ssim(a, a)


@pytest.mark.parametrize("crop", [24, 100, -1, 1.5, True])
def test_bad_crop(crop, pair):
    a, b = pair  # 48 x 64: crop 24 removes everything
    with pytest.raises(InvalidArgument, match="crop"):
        mse(a, b, crop=crop)


@pytest.mark.parametrize("data_range", [0, -1.0, math.inf, "255"])
def test_bad_data_range(data_range, pair):
    with pytest.raises(InvalidArgument, match="data_range"):
        psnr(*pair, data_range=data_range)


def test_bad_channel(pair):
    with pytest.raises(InvalidArgument, match="channel"):
        ssim(*pair, channel="lab")


@pytest.mark.parametrize("weights", [(), (0.5, -0.1), ("a",), None])
def test_bad_weights(weights, big_pair):
    with pytest.raises(InvalidArgument, match="weights"):
        ms_ssim(*big_pair, weights=weights)
