"""Histogram-based tone ops: autocontrast, equalize, clahe, match_histogram.

Ops (registered, category ``color``; numpy in, numpy out, same dtype and layout)
    ``autocontrast`` (stretch levels to the full range), ``equalize`` (global histogram
    equalisation), ``clahe`` (contrast-limited adaptive equalisation) and
    ``match_histogram`` (copy another image's histogram). They change the colour channels
    only: the alpha of an RGBA image is passed through unchanged. Colour images are equalised
    on luma (``equalize``) or CIE L (``clahe``), so hue is kept.

Example
-------
>>> import numpy as np
>>> equalize(np.array([[10, 10, 20, 30]], np.uint8))
array([[  0,   0, 128, 255]], dtype=uint8)
>>> autocontrast(np.array([[50, 101, 150]], np.uint8))
array([[  0, 130, 255]], dtype=uint8)
"""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np

from atelier.arrays import (
    from_float,
    is_color,
    merge_alpha,
    split_alpha,
    squeeze_like,
    to_float,
    to_uint8,
)
from atelier.errors import InvalidArgument
from atelier.ops._color_math import (
    apply_affine,
    apply_lut,
    histograms,
    n_colour,
    stretch_bounds,
)
from atelier.ops.registry import Range, register

__all__ = [
    "autocontrast",
    "equalize",
    "clahe",
    "match_histogram",
]


@register("autocontrast", category="color")
def autocontrast(
    image: np.ndarray,
    cutoff: Annotated[
        float, Range(0, 50, high_open=True), "percent of pixels to clip at each end"
    ] = 0.0,
    per_channel: Annotated[
        bool, "stretch each channel on its own (True) or all channels jointly (False)"
    ] = True,
) -> np.ndarray:
    """Stretch levels so the darkest / brightest pixels (after ``cutoff``) span the full range.

    Like Pillow's ``ImageOps.autocontrast``: for each channel, ``cutoff`` percent of the pixels
    are ignored at each end of the histogram, and the remaining range ``[lo, hi]`` is mapped
    linearly to ``[0, max]``. A channel with ``hi <= lo`` (flat) is left unchanged. With
    ``per_channel=False`` one range, taken over all colour channels, keeps the colour balance.
    Integer images use the exact histogram; float images ``numpy.percentile``.

    Parameters
    ----------
    image : ndarray, grey, RGB or RGBA; uint8, uint16 or float.
    cutoff : percent in [0, 50) clipped at each end.
    per_channel : stretch channels independently (True, like Pillow) or jointly.

    Returns
    -------
    ndarray, same shape and dtype; alpha unchanged.

    Example
    -------
    >>> import numpy as np
    >>> autocontrast(np.array([[50, 101, 150]], np.uint8))
    array([[  0, 130, 255]], dtype=uint8)

    Reference
    ---------
    Pillow ``PIL.ImageOps.autocontrast``.
    """
    lo, hi = stretch_bounds(split_alpha(image)[0], cutoff, 100.0 - cutoff, per_channel)
    flat = hi <= lo
    scale = np.where(flat, 1.0, 1.0 / np.where(flat, 1.0, hi - lo))
    return apply_affine(image, scale, np.where(flat, 0.0, -lo * scale))


def _equalize_levels(values: np.ndarray, levels: int) -> np.ndarray:
    """Histogram equalisation of an integer array with OpenCV's ``equalizeHist`` formula.

    Written by hand because OpenCV only equalises 8-bit images: the first occupied level maps
    to 0 and level v to ``round((cdf[v] - cdf[first]) * (levels - 1) / (n - hist[first]))``.
    """
    hist = np.bincount(values.ravel(), minlength=levels)
    first = int(np.flatnonzero(hist)[0])
    if hist[first] == values.size:  # constant image: unchanged, as OpenCV
        return values.copy()
    cdf = np.cumsum(hist)
    lut = np.rint((cdf - cdf[first]) * ((levels - 1) / (values.size - hist[first])))
    lut[:first] = 0
    return np.take(lut.astype(values.dtype), values)


@register("equalize", category="color")
def equalize(image: np.ndarray) -> np.ndarray:
    """Histogram equalisation; colour images are equalised on luma only (hue is kept).

    Grey uint8 images use ``cv2.equalizeHist``. Colour images are converted to full-range
    YCrCb (OpenCV ``RGB2YCrCb``), Y is equalised and the result converted back. uint16 and
    float images are equalised with the same formula on 65536 levels (float Y is quantised
    to 16 bits for the histogram).

    Parameters
    ----------
    image : ndarray, grey, RGB or RGBA; uint8, uint16 or float.

    Returns
    -------
    ndarray, same shape and dtype; alpha unchanged.

    Example
    -------
    >>> import numpy as np
    >>> equalize(np.array([[10, 10, 20, 30]], np.uint8))
    array([[  0,   0, 128, 255]], dtype=uint8)

    Reference
    ---------
    OpenCV ``cv2.equalizeHist``; https://en.wikipedia.org/wiki/Histogram_equalization
    """
    rgb, alpha = split_alpha(image)
    if not is_color(image):
        if image.dtype == np.uint8:
            return squeeze_like(cv2.equalizeHist(rgb.reshape(rgb.shape[:2])), image)
        if image.dtype == np.uint16:
            return _equalize_levels(image, 65536)
        levels = _equalize_levels(from_float(image, np.uint16), 65536)
        return to_float(levels).astype(image.dtype, copy=False)
    if image.dtype == np.uint8:
        ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
        ycc[..., 0] = cv2.equalizeHist(ycc[..., 0])
        return merge_alpha(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB), alpha)
    ycc = cv2.cvtColor(to_float(rgb), cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = to_float(_equalize_levels(from_float(ycc[..., 0], np.uint16), 65536))
    out = from_float(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB), image.dtype)
    return merge_alpha(out, alpha)


@register("clahe", category="color")
def clahe(
    image: np.ndarray,
    clip_limit: Annotated[
        float, Range(0, None, low_open=True), "contrast limit (OpenCV clipLimit)"
    ] = 2.0,
    tile_grid: Annotated[
        tuple[int, int], Range(1, 1024), "number of tiles (rows, columns)"
    ] = (8, 8),
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (``cv2.createCLAHE``).

    Grey images are processed directly; colour images on the L channel of CIE LAB (the usual
    recipe, as in albumentations), so hue is kept. CLAHE itself always runs on 8 bits: uint16
    and float grey (or L) values are quantised to 256 levels first, because OpenCV's 16-bit
    CLAHE uses 65536-bin histograms on which the same ``clip_limit`` has almost no effect.
    So uint16 and float results have 256 grey (lightness) levels; colour keeps full precision
    in a and b (float LAB).

    Parameters
    ----------
    image : ndarray, grey, RGB or RGBA; uint8, uint16 or float.
    clip_limit : > 0, OpenCV's ``clipLimit`` (histogram bins are clipped at ``clip_limit``
        times the mean bin height); larger means stronger contrast.
    tile_grid : (rows, columns) of the tile grid. Note the order: OpenCV's ``tileGridSize``
        is (columns, rows).

    Returns
    -------
    ndarray, same shape and dtype; alpha unchanged.

    Example
    -------
    >>> import numpy as np
    >>> clahe(np.zeros((32, 32), np.uint8), clip_limit=2.0).shape
    (32, 32)

    Reference
    ---------
    K. Zuiderveld, "Contrast Limited Adaptive Histogram Equalization", Graphics Gems IV, 1994.
    """
    rows, cols = tile_grid
    tool = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(cols, rows))
    rgb, alpha = split_alpha(image)
    if not is_color(image):
        grey = to_uint8(rgb.reshape(rgb.shape[:2]))
        out = tool.apply(grey)
        if image.dtype != np.uint8:
            out = from_float(to_float(out), image.dtype)
        return squeeze_like(out, image)
    if image.dtype == np.uint8:
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
        lab[..., 0] = tool.apply(lab[..., 0])
        return merge_alpha(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), alpha)
    lab = cv2.cvtColor(to_float(rgb), cv2.COLOR_RGB2Lab)
    lightness = tool.apply(from_float(lab[..., 0] / 100.0, np.uint8))
    lab[..., 0] = lightness * np.float32(100.0 / 255.0)
    out = from_float(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), image.dtype)
    return merge_alpha(out, alpha)


def _match_lut(src_hist: np.ndarray, ref_hist: np.ndarray) -> np.ndarray:
    """Level -> matched value, as ``skimage.exposure.match_histograms`` (quantile mapping)."""
    src_quantiles = np.cumsum(src_hist) / src_hist.sum()
    ref_values = np.flatnonzero(ref_hist)
    ref_quantiles = np.cumsum(ref_hist[ref_values]) / ref_hist.sum()
    return np.interp(src_quantiles, ref_quantiles, ref_values)


def _match_float(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Quantile mapping of float values (on the unique values, as scikit-image)."""
    values, index, counts = np.unique(src.ravel(), return_inverse=True, return_counts=True)
    ref_values, ref_counts = np.unique(ref.ravel(), return_counts=True)
    quantiles = np.cumsum(counts) / src.size
    ref_quantiles = np.cumsum(ref_counts) / ref.size
    return np.interp(quantiles, ref_quantiles, ref_values)[index].reshape(src.shape)


@register("match_histogram", category="color")
def match_histogram(
    image: np.ndarray,
    reference: Annotated[np.ndarray, "image whose histogram to copy (any size)"],
) -> np.ndarray:
    """Map each colour channel so its histogram matches that of ``reference``.

    Same quantile mapping as ``skimage.exposure.match_histograms(..., channel_axis=-1)``:
    every level goes to the reference value at the same cumulative fraction (interpolated),
    rounded for integer images. uint8 runs as one 256-entry LUT per channel.

    Parameters
    ----------
    image : ndarray, grey, RGB or RGBA; uint8, uint16 or float.
    reference : image with the same number of colour channels (grey vs RGB/RGBA; alpha is
        ignored), any size. A reference of another dtype is first converted to ``image``'s.

    Returns
    -------
    ndarray, same shape and dtype as ``image``; alpha unchanged.

    Example
    -------
    >>> import numpy as np
    >>> ref = np.array([[10, 20, 30, 40]], np.uint8)
    >>> match_histogram(np.array([[0, 1, 2, 3]], np.uint8), reference=ref)
    array([[10, 20, 30, 40]], dtype=uint8)

    Reference
    ---------
    ``skimage.exposure.match_histograms``; https://en.wikipedia.org/wiki/Histogram_matching
    """
    if n_colour(reference) != n_colour(image):
        raise InvalidArgument(
            f"reference has {n_colour(reference)} colour channel(s) but image has "
            f"{n_colour(image)}; convert one of them (e.g. with grayscale) so they match"
        )
    ref = split_alpha(reference)[0]
    if ref.dtype != image.dtype:
        ref = from_float(to_float(ref), image.dtype)
    rgb, alpha = split_alpha(image)
    if image.dtype.kind == "u":
        src_hist, ref_hist = histograms(rgb), histograms(ref)
        lut = np.stack([_match_lut(s, r) for s, r in zip(src_hist, ref_hist)], axis=1)
        return apply_lut(image, np.rint(lut).astype(image.dtype))
    if not is_color(image):
        out = _match_float(rgb, ref)
    else:
        out = np.stack([_match_float(rgb[..., c], ref[..., c]) for c in range(3)], axis=2)
    return merge_alpha(out.astype(image.dtype), alpha)
