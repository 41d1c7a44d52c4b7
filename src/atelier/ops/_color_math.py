"""Private helpers shared by the colour modules: luma, LUTs, tone curves, histograms.

Used by ``color_spaces`` (luma, grey to RGB), ``color`` (point adjustments) and ``histogram``
(histogram-based ops). Values of tone changes are fractions of the full range, so one helper
serves uint8, uint16 and float images; alpha always passes through unchanged.

Example
-------
>>> import numpy as np
>>> apply_affine(np.array([[10, 250]], np.uint8), 1.0, 0.1)
array([[ 36, 255]], dtype=uint8)
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from atelier.arrays import (
    clip_float,
    from_float,
    is_color,
    max_value,
    merge_alpha,
    split_alpha,
    squeeze_like,
)

__all__ = [
    "LUMA",
    "n_colour",
    "luma",
    "grey_to_rgb",
    "apply_lut",
    "apply_curve",
    "apply_affine",
    "histograms",
    "stretch_bounds",
]

LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma weights of R, G, B


def n_colour(image: np.ndarray) -> int:
    """Number of colour channels: 1 (grey) or 3 (RGB, RGBA)."""
    return 3 if is_color(image) else 1


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma ``H x W`` of an RGB or RGBA image, same dtype."""
    if image.dtype == np.float64:  # cv2.cvtColor has no 64-bit float path
        return image[..., :3] @ LUMA
    code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
    return cv2.cvtColor(image, code)


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """Repeat a grey ``H x W`` (or ``H x W x 1``) image into three equal channels."""
    grey = grey.reshape(grey.shape[:2])
    if grey.dtype == np.float64:
        return np.repeat(grey[..., None], 3, axis=2)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)


def apply_lut(image: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Map every colour-channel value of an integer image through ``lut`` (``n x k``, k = 1 or
    the number of colour channels); alpha passes unchanged."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    has_alpha = channels == 4
    if image.dtype == np.uint8:
        if lut.shape[1] == 1 and not has_alpha:
            table = lut[:, 0]
        else:
            table = np.empty((256, 1, channels), np.uint8)
            table[:, 0, : channels - has_alpha] = lut
            if has_alpha:
                table[:, 0, 3] = np.arange(256)
        return squeeze_like(cv2.LUT(image, table), image)
    # uint16: OpenCV's LUT only takes 8-bit input, so gather with numpy.
    if image.ndim == 2:
        return np.take(lut[:, 0], image)
    out = image.copy() if has_alpha else np.empty_like(image)
    for c in range(channels - has_alpha):
        out[..., c] = np.take(lut[:, min(c, lut.shape[1] - 1)], image[..., c])
    return out


def apply_curve(image: np.ndarray, curve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a tone curve to the colour channels, alpha unchanged.

    ``curve`` maps float values in [0, 1] to float values (clipped afterwards); per-channel
    curves broadcast over the last axis. Integer images are mapped through a LUT of the curve
    sampled at every level, float images are computed directly.
    """
    if image.dtype.kind == "u":
        levels = int(max_value(image.dtype)) + 1
        x = np.linspace(0.0, 1.0, levels)[:, None]
        return apply_lut(image, from_float(curve(x), image.dtype))
    rgb, alpha = split_alpha(image)
    return merge_alpha(from_float(curve(rgb), image.dtype), alpha)


def apply_affine(
    image: np.ndarray, scale: float | np.ndarray, offset: float | np.ndarray
) -> np.ndarray:
    """``out = in * scale + offset`` per colour channel (fractions of full range; scalars or
    one value per colour channel), clipped; alpha unchanged.

    Runs as one ``cv2.transform`` with a diagonal matrix (rounds and saturates integer types;
    faster than a per-channel LUT), with two exceptions for uint8: one scale >= 0 and one
    offset >= 0 for all channels run as ``cv2.convertScaleAbs`` (its ``abs`` never acts, as
    no result is negative; the same float32 arithmetic, a little faster), and RGBA, where
    OpenCV's 4-channel transform has no fast path, as a 4-channel ``cv2.LUT``.
    """
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype == np.uint8 and channels == 4:
        return apply_curve(image, lambda x: x * scale + offset)
    uniform = np.ndim(scale) == 0 and np.ndim(offset) == 0
    if image.dtype == np.uint8 and uniform and scale >= 0 and offset >= 0:
        out = cv2.convertScaleAbs(image, alpha=float(scale), beta=float(offset) * 255.0)
        return squeeze_like(out, image)
    k = n_colour(image)
    matrix = np.eye(channels, channels + 1)  # the alpha row stays identity
    matrix[:k, :k] *= scale  # scales the diagonal: scalar or one value per colour channel
    matrix[:k, -1] = np.multiply(offset, max_value(image.dtype))
    return clip_float(squeeze_like(cv2.transform(image, matrix), image))


def histograms(rgb: np.ndarray) -> np.ndarray:
    """Per-channel histograms (``k x levels``) of an integer image's colour channels."""
    channels = n_colour(rgb)
    if rgb.dtype == np.uint8:
        return np.stack(
            [cv2.calcHist([rgb], [c], None, [256], [0, 256]).ravel() for c in range(channels)]
        ).astype(np.int64)
    planes = [rgb] if rgb.ndim == 2 else [rgb[..., c] for c in range(channels)]
    return np.stack([np.bincount(p.ravel(), minlength=65536) for p in planes])


def stretch_bounds(
    rgb: np.ndarray, low: float, high: float, per_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Low and high percentiles (fractions of full range) of each colour channel (or joint).

    Integer images use Pillow's rule on the exact histogram: drop ``low`` % of the pixels from
    the dark end and ``100 - high`` % from the bright end, take the extreme levels left.
    Float images use ``numpy.percentile`` (linear interpolation).
    """
    channels = n_colour(rgb)
    if rgb.dtype.kind == "u":
        hist = histograms(rgb)
        if not per_channel:
            hist = hist.sum(axis=0, keepdims=True)
        cdf = np.cumsum(hist, axis=1)
        total = cdf[:, -1:]
        below = np.floor(total * low / 100.0)
        above = np.floor(total * (100.0 - high) / 100.0)
        lo = np.argmax(cdf > below, axis=1)
        at_or_above = total - cdf + hist  # pixels with value >= v
        hi = hist.shape[1] - 1 - np.argmax((at_or_above > above)[:, ::-1], axis=1)
        scale = max_value(rgb.dtype)
        return lo / scale, hi / scale
    values = rgb.reshape(-1, channels) if per_channel else rgb.reshape(-1, 1)
    lo, hi = np.percentile(values, [low, high], axis=0)
    return lo.astype(np.float64), hi.astype(np.float64)
