"""Full-reference fidelity metrics: MSE, PSNR, SSIM and MS-SSIM between two numpy images.

Both images are ``H x W`` (grey) or ``H x W x C`` (C in 1, 3, 4), of the same shape and dtype
(uint8, uint16, or float32/float64 in [0, 1]). Every metric takes the same keywords:

- ``channel="rgb"`` measures the image as it is (every colour channel, values in the units of
  the dtype: 0..255 for uint8); ``channel="y"`` measures only the luma Y of BT.601 YCbCr, in
  0..255 units, as MATLAB's ``rgb2ycbcr`` computes it -- the protocol of the super-resolution
  literature.
- ``crop`` removes that many pixels from every border first (the super-resolution protocol
  crops ``scale`` pixels).
- ``data_range`` is the span of possible values: by default 255 for uint8, 65535 for uint16,
  1.0 for float, and 255 for ``channel="y"``; an explicit value overrides it.

The alpha channel of an RGBA image is ignored: the metrics compare the RGB part only.

Example
-------
>>> import numpy as np
>>> a = np.zeros((32, 32, 3), np.uint8)
>>> b = a.copy(); b[0, 0, 0] = 32
>>> round(mse(a, b), 4), round(psnr(a, b), 2)
(0.3333, 52.9)
>>> psnr(a, a), ssim(a, a)
(inf, 1.0)
>>> get_metric("psnr") is psnr
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, TypeVar

import cv2
import numpy as np

from atelier.arrays import SUPPORTED_DTYPES, check_image, max_value
from atelier.errors import InvalidArgument, InvalidImage, lookup
from atelier.metrics._ssim import WINDOW, halve, window_means

__all__ = ["METRICS", "get_metric", "ms_ssim", "mse", "psnr", "ssim"]

Channel = Literal["rgb", "y"]

# MATLAB rgb2ycbcr, BT.601: Y = 16 + 65.481 R + 128.553 G + 24.966 B with R, G, B in [0, 1].
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

# max_value of each dtype, looked up once: the call costs as much as all the other checks.
_PEAKS = {np.dtype(dtype): max_value(dtype) for dtype in SUPPORTED_DTYPES}

# The parameters that every metric documents alike, written once (``{shared}`` in docstrings).
_SHARED_PARAMETERS = """a, b : np.ndarray
        Images ``H x W`` or ``H x W x C`` of the same shape and dtype.
    channel : {"rgb", "y"}
        ``"rgb"``: all colour channels (alpha ignored); ``"y"``: BT.601 luma in 0..255 units.
    crop : int
        Pixels removed from every border before measuring."""

_F = TypeVar("_F", bound=Callable[..., float])


def _shared_doc(metric: _F) -> _F:
    metric.__doc__ = (metric.__doc__ or "").replace("{shared}", _SHARED_PARAMETERS)
    return metric


def _prepare(
    a: np.ndarray, b: np.ndarray, channel: str, crop: int, data_range: float | None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Check both images and the keywords; return the (cropped, converted) pair and the range.

    The pair comes back as ``H x W`` (grey or Y) or ``H x W x 3`` (RGB, alpha dropped), in the
    dtype's own units for ``channel="rgb"`` (not converted) and as float64 Y for ``"y"``.
    """
    check_image(a, "a")
    check_image(b, "b")
    if a.shape != b.shape:
        raise InvalidImage(
            f"the images must have the same shape to be compared; got {a.shape} and {b.shape} "
            "(resize or crop one of them first)"
        )
    if a.dtype != b.dtype:
        raise InvalidImage(
            f"the images must have the same dtype to be compared; got {a.dtype} and {b.dtype} "
            "(convert one, e.g. with atelier.arrays.to_uint8 or to_float)"
        )
    if channel not in ("rgb", "y"):
        raise InvalidArgument(f"channel must be 'rgb' or 'y', got {channel!r}")
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or crop < 0:
        raise InvalidArgument(f"crop must be an integer >= 0, got {crop!r}")
    height, width = a.shape[:2]
    if 2 * crop >= min(height, width):
        raise InvalidArgument(
            f"crop={crop} removes the whole {height} x {width} image "
            f"(crop must be less than {(min(height, width) + 1) // 2})"
        )
    if data_range is not None and (
        isinstance(data_range, bool)
        or not isinstance(data_range, (int, float, np.integer, np.floating))
        or not math.isfinite(data_range)
        or data_range <= 0
    ):
        raise InvalidArgument(f"data_range must be a number > 0, got {data_range!r}")

    if crop:
        a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
    if a.ndim == 3 and a.shape[2] == 1:
        a, b = a[..., 0], b[..., 0]
    elif a.ndim == 3 and a.shape[2] == 4:  # alpha is not part of the picture's fidelity
        a, b = a[..., :3], b[..., :3]

    if channel == "y":
        a, b = _luma(a), _luma(b)
        default_range = 255.0
    else:
        default_range = _PEAKS[a.dtype]
    return a, b, float(data_range) if data_range is not None else default_range


def _luma(image: np.ndarray) -> np.ndarray:
    """Y of BT.601 YCbCr in 0..255 units, float64, not rounded (some papers round; we don't).

    Grey images are taken as Y already and only scaled to 0..255.
    """
    peak = _PEAKS[image.dtype]
    if image.ndim == 2:
        return image.astype(np.float64) * (255.0 / peak)
    return image.astype(np.float64) @ (_Y_WEIGHTS / peak) + 16.0


def _squared_error(x: np.ndarray, y: np.ndarray) -> float:
    """Mean squared difference; cv2.norm sums it in double precision without a float copy."""
    return cv2.norm(x, y, cv2.NORM_L2SQR) / x.size


def _plane_pairs(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two images as pairs of ``H x W`` channel planes (SSIM is computed per channel)."""
    if x.ndim == 2:
        return [(x, y)]
    return list(zip(cv2.split(x), cv2.split(y)))


@_shared_doc
def mse(
    a: np.ndarray,
    b: np.ndarray,
    *,
    channel: Channel = "rgb",
    crop: int = 0,
    data_range: float | None = None,
) -> float:
    """Mean squared error between two images, in the units of their dtype (or of Y).

    Parameters
    ----------
    {shared}
    data_range : float or None
        Unused by MSE; accepted so every metric takes the same keywords.

    Returns
    -------
    float
        ``mean((a - b) ** 2)``, e.g. in 0..255**2 units for uint8 images.

    Example
    -------
    >>> import numpy as np
    >>> mse(np.zeros((4, 4), np.uint8), np.full((4, 4), 3, np.uint8))
    9.0
    """
    x, y, _ = _prepare(a, b, channel, crop, data_range)
    return _squared_error(x, y)


@_shared_doc
def psnr(
    a: np.ndarray,
    b: np.ndarray,
    *,
    channel: Channel = "rgb",
    crop: int = 0,
    data_range: float | None = None,
) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range**2 / MSE)``.

    ``channel="y"`` with ``crop=scale`` is the super-resolution protocol.

    Parameters
    ----------
    {shared}
    data_range : float or None
        The peak value; by default 255 (uint8 or ``channel="y"``), 65535 (uint16), 1.0 (float).

    Returns
    -------
    float
        PSNR in dB; ``inf`` when the images are identical (the MSE is 0).

    Example
    -------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), np.uint8)
    >>> round(psnr(a, a + 1), 2)  # MSE 1: 10 log10(255**2)
    48.13
    """
    x, y, peak = _prepare(a, b, channel, crop, data_range)
    err = _squared_error(x, y)
    return 10.0 * math.log10(peak * peak / err) if err else math.inf


@_shared_doc
def ssim(
    a: np.ndarray,
    b: np.ndarray,
    *,
    channel: Channel = "rgb",
    crop: int = 0,
    data_range: float | None = None,
) -> float:
    """Structural similarity (Wang et al. 2004) with the 11 x 11 Gaussian window, sigma 1.5.

    K1 = 0.01, K2 = 0.03 and population (co)variances, as in the paper; the SSIM map is
    averaged over the pixels whose window lies inside the image (5 pixels are left out at every
    border), and colour images average the per-channel means. This matches
    ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=..., channel_axis=-1)`` on float64 images to
    about 1e-6 (it is computed in float32, in a form that keeps flat bright areas precise,
    on ``cv2.getNumThreads()`` threads). The images must be at least 11 x 11 after ``crop``.

    Parameters
    ----------
    {shared}
    data_range : float or None
        Sets the constants C1 = (K1 data_range)**2 and C2 = (K2 data_range)**2; by default
        255 (uint8 or ``channel="y"``), 65535 (uint16), 1.0 (float).

    Returns
    -------
    float
        Mean SSIM, at most 1.0 (identical images give 1.0).

    Example
    -------
    >>> import numpy as np
    >>> a = np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))
    >>> ssim(a, a)
    1.0
    >>> ssim(a, 255 - a) < 0
    True

    Reference
    ---------
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from error
    visibility to structural similarity", IEEE Trans. Image Processing 13(4), 2004.
    """
    x, y, peak = _prepare(a, b, channel, crop, data_range)
    if min(x.shape[:2]) < WINDOW:
        raise InvalidArgument(
            f"ssim needs images of at least {WINDOW} x {WINDOW} pixels (after crop); "
            f"got {x.shape[0]} x {x.shape[1]}"
        )
    ssim_per_channel, _ = window_means(_plane_pairs(x, y), peak)
    return float(ssim_per_channel.mean())


@_shared_doc
def ms_ssim(
    a: np.ndarray,
    b: np.ndarray,
    *,
    channel: Channel = "rgb",
    crop: int = 0,
    data_range: float | None = None,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
) -> float:
    """Multi-scale structural similarity (Wang, Simoncelli & Bovik 2003), 5 scales by default.

    At each scale but the coarsest the mean contrast-structure term ``cs`` is taken, then both
    images are halved by 2 x 2 averaging (an odd side is first extended by repeating its last
    row or column, as in the authors' MATLAB code and ``tf.image.ssim_multiscale``); at the
    coarsest scale the full mean SSIM (luminance times ``cs``) is taken. The result is
    ``prod(cs_i ** w_i) * ssim_coarsest ** w_last`` per channel, averaged over channels.
    Negative ``cs`` or SSIM values are clamped to 0 before the powers (as
    ``tf.image.ssim_multiscale`` and pytorch_msssim do), so the result lies in [0, 1].
    The smaller side (after ``crop``) must exceed ``10 * 2 ** (len(weights) - 1)`` -- 160
    pixels for 5 scales -- so that the 11-pixel window fits at the coarsest scale.

    Parameters
    ----------
    {shared}
    data_range : float or None
        Sets the SSIM constants; by default 255 (uint8 or ``channel="y"``), 65535 (uint16),
        1.0 (float).
    weights : tuple of float
        Exponent of each scale, finest first; its length is the number of scales.

    Returns
    -------
    float
        MS-SSIM in [0, 1]; 1.0 for identical images.

    Example
    -------
    >>> import numpy as np
    >>> a = np.random.default_rng(0).integers(0, 256, (176, 176), dtype=np.uint8)
    >>> ms_ssim(a, a)
    1.0

    Reference
    ---------
    Z. Wang, E. P. Simoncelli, A. C. Bovik, "Multiscale structural similarity for image quality
    assessment", 37th Asilomar Conference on Signals, Systems and Computers, 2003.
    """
    weights = _check_weights(weights)
    x, y, peak = _prepare(a, b, channel, crop, data_range)
    scales = len(weights)
    smallest = (WINDOW - 1) * 2 ** (scales - 1)  # a larger side leaves >= 11 px at the end
    if min(x.shape[:2]) <= smallest:
        raise InvalidArgument(
            f"ms_ssim with {scales} scales needs images larger than {smallest} x {smallest} "
            f"pixels (after crop) so the 11-pixel window fits at the coarsest scale; got "
            f"{x.shape[0]} x {x.shape[1]} (use ssim, or pass fewer weights)"
        )
    planes = _plane_pairs(x, y)
    result = np.ones(len(planes))
    for scale, weight in enumerate(weights, start=1):
        ssim_per_channel, cs_per_channel = window_means(planes, peak)
        if scale == scales:
            result *= np.maximum(ssim_per_channel, 0.0) ** weight
        else:
            result *= np.maximum(cs_per_channel, 0.0) ** weight
            planes = [(halve(p), halve(q)) for p, q in planes]
    return float(result.mean())


def _check_weights(weights: object) -> tuple[float, ...]:
    try:
        values = tuple(float(w) for w in weights)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InvalidArgument(f"weights must be a tuple of numbers, got {weights!r}") from None
    if not values or not all(math.isfinite(w) and w >= 0 for w in values):
        raise InvalidArgument(
            f"weights must be one or more finite numbers >= 0 (one per scale), got {weights!r}"
        )
    return values


Metric = Callable[..., float]

METRICS: dict[str, Metric] = {"mse": mse, "psnr": psnr, "ssim": ssim, "ms_ssim": ms_ssim}


def get_metric(name: str) -> Metric:
    """Look a fidelity metric up by name; ``UnknownName`` listing the known ones otherwise.

    Example
    -------
    >>> get_metric("ssim").__name__
    'ssim'
    """
    return lookup(METRICS, name, "metric")
