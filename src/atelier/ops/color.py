"""Colour and tone adjustments: grayscale, brightness, contrast, gamma, saturation, hue,
white balance.

Ops (registered, category ``color``; numpy in, numpy out, same dtype and layout)
    ``grayscale``, ``brightness``, ``contrast``, ``gamma``, ``saturation``, ``hue``,
    ``white_balance``. They change the colour channels only: the alpha of an RGBA image is
    passed through unchanged. Linear tone changes run as one ``cv2.transform`` (on uint8
    with a scale and an offset >= 0 as ``cv2.convertScaleAbs``), other tone curves on uint8
    as a 256-entry ``cv2.LUT``.

The histogram-based ops (``autocontrast``, ``equalize``, ``clahe``, ``match_histogram``) are
in ``atelier.ops.histogram``; the colour-space conversions (``convert_color``, ``rgb_to_hsv``,
...) in ``atelier.ops.color_spaces``.

Example
-------
>>> import numpy as np
>>> brightness(np.zeros((2, 2), np.uint8), amount=0.5)[0, 0]
np.uint8(128)
>>> grayscale(np.full((2, 2, 3), 255, np.uint8)).shape
(2, 2)
"""

from __future__ import annotations

from typing import Annotated, Literal

import cv2
import numpy as np

from atelier.arrays import (
    clip_float,
    from_float,
    is_color,
    max_value,
    merge_alpha,
    split_alpha,
    to_float,
)
from atelier.ops._color_math import (
    LUMA,
    apply_affine,
    apply_curve,
    grey_to_rgb,
    luma,
    n_colour,
    stretch_bounds,
)
from atelier.ops.registry import Range, register

__all__ = [
    "grayscale",
    "brightness",
    "contrast",
    "gamma",
    "saturation",
    "hue",
    "white_balance",
]


def _channel_means(image: np.ndarray) -> np.ndarray:
    """Mean of each colour channel, as a fraction of full intensity (length 1 or 3)."""
    means = np.array(cv2.mean(image)[: n_colour(image)], np.float64)
    return means / max_value(image.dtype)


# --------------------------------------------------------------------------- ops


@register("grayscale", category="color")
def grayscale(
    image: np.ndarray,
    keep_channels: Annotated[
        bool, "keep the channel count: RGB -> 3 equal channels, RGBA -> grey RGB + alpha"
    ] = False,
) -> np.ndarray:
    """Convert to grey (BT.601 luma, as OpenCV RGB2GRAY); alpha is dropped unless kept.

    Parameters
    ----------
    image : ndarray, grey, RGB or RGBA; uint8, uint16 or float.
    keep_channels : if False (default) return ``H x W``; if True return the input's layout
        (RGB: three equal channels, RGBA: grey RGB with the original alpha).

    Returns
    -------
    ndarray, ``H x W`` (or the input's shape with ``keep_channels``), same dtype. A grey
    input is returned unchanged (a copy).

    Example
    -------
    >>> import numpy as np
    >>> grayscale(np.array([[[0, 255, 0]]], np.uint8))
    array([[150]], dtype=uint8)
    """
    if not is_color(image):
        return image.copy()
    grey = luma(image)
    if not keep_channels:
        return grey
    return merge_alpha(grey_to_rgb(grey), split_alpha(image)[1])


@register("brightness", category="color")
def brightness(
    image: np.ndarray,
    amount: Annotated[float, Range(-1, 1), "added to every channel, fraction of full range"],
) -> np.ndarray:
    """Brighten or darken by adding ``amount`` of the full range: ``out = in + amount``.

    Parameters
    ----------
    image : ndarray, grey, RGB or RGBA; uint8, uint16 or float.
    amount : in [-1, 1]; 0.1 adds 25.5 levels to a uint8 image (rounded, then clipped).

    Returns
    -------
    ndarray, same shape and dtype; alpha unchanged.

    Example
    -------
    >>> import numpy as np
    >>> brightness(np.array([[10, 250]], np.uint8), amount=0.1)
    array([[ 36, 255]], dtype=uint8)
    """
    return apply_affine(image, 1.0, amount)


@register("contrast", category="color")
def contrast(
    image: np.ndarray,
    factor: Annotated[float, Range(0, None), "0 = flat grey, 1 = unchanged, >1 = more"],
) -> np.ndarray:
    """Scale contrast around the image's mean luma, like Pillow's ``ImageEnhance.Contrast``.

    ``out = mean + factor * (in - mean)``, where ``mean`` is the mean BT.601 luma of the whole
    image (one value for all channels, so colours keep their balance).

    Parameters
    ----------
    image : ndarray, grey, RGB or RGBA; uint8, uint16 or float.
    factor : >= 0. 0 gives a flat grey image at the mean, 1 the original.

    Returns
    -------
    ndarray, same shape and dtype; alpha unchanged.

    Example
    -------
    >>> import numpy as np
    >>> contrast(np.array([[100, 200]], np.uint8), factor=2.0)
    array([[ 50, 250]], dtype=uint8)

    Reference
    ---------
    Pillow ``PIL.ImageEnhance.Contrast``.
    """
    means = _channel_means(image)
    mean = float(means @ LUMA) if means.size == 3 else float(means[0])
    return apply_affine(image, factor, (1.0 - factor) * mean)


@register("gamma", category="color")
def gamma(
    image: np.ndarray,
    gamma: Annotated[float, Range(0, None, low_open=True), ">1 darkens, <1 brightens"],
) -> np.ndarray:
    """Gamma curve ``out = in ** gamma`` on values in [0, 1] (as ``skimage.exposure.adjust_gamma``).

    Parameters
    ----------
    image : ndarray, grey, RGB or RGBA; uint8, uint16 or float.
    gamma : > 0. Values above 1 darken the mid-tones, values below 1 brighten them; to undo
        a gamma of g apply 1 / g.

    Returns
    -------
    ndarray, same shape and dtype; alpha unchanged.

    Example
    -------
    >>> import numpy as np
    >>> gamma(np.array([[0, 128, 255]], np.uint8), gamma=2.0)
    array([[  0,  64, 255]], dtype=uint8)

    Reference
    ---------
    https://en.wikipedia.org/wiki/Gamma_correction
    """
    return apply_curve(image, lambda x: np.power(x, gamma))


@register("saturation", category="color")
def saturation(
    image: np.ndarray,
    factor: Annotated[float, Range(0, None), "0 = grey, 1 = unchanged, >1 = more vivid"],
) -> np.ndarray:
    """Scale colour saturation by blending with the grey image (Pillow ``ImageEnhance.Color``).

    ``out = grey + factor * (in - grey)`` per pixel, with grey the BT.601 luma.

    Parameters
    ----------
    image : ndarray, RGB or RGBA (a grey image is returned unchanged); uint8, uint16 or float.
    factor : >= 0. 0 gives the grey image, 1 the original.

    Returns
    -------
    ndarray, same shape and dtype; alpha unchanged.

    Example
    -------
    >>> import numpy as np
    >>> saturation(np.array([[[200, 100, 100]]], np.uint8), factor=0.0)[0, 0].tolist()
    [130, 130, 130]

    Reference
    ---------
    Pillow ``PIL.ImageEnhance.Color``.
    """
    if not is_color(image):
        return image.copy()
    rgb, alpha = split_alpha(image)
    grey = grey_to_rgb(luma(image))
    out = cv2.addWeighted(rgb, factor, grey, 1.0 - factor, 0.0)  # saturates integer types
    return merge_alpha(clip_float(out), alpha)


@register("hue", category="color")
def hue(
    image: np.ndarray,
    shift: Annotated[float, Range(-180, 180), "hue rotation in degrees"],
) -> np.ndarray:
    """Rotate the hue by ``shift`` degrees in HSV space, keeping saturation and value.

    uint8 images use OpenCV's 8-bit full-range HSV (hue in 256 steps of 1.4 degrees, so a
    shift is rounded to that step and pixels may move by a few levels); other dtypes are
    converted exactly in float32.

    Parameters
    ----------
    image : ndarray, RGB or RGBA (a grey image is returned unchanged); uint8, uint16 or float.
    shift : degrees in [-180, 180]; 120 turns red into green.

    Returns
    -------
    ndarray, same shape and dtype; alpha unchanged.

    Example
    -------
    >>> import numpy as np
    >>> hue(np.array([[[1.0, 0.0, 0.0]]], np.float32), shift=120.0)[0, 0].round(4).tolist()
    [0.0, 1.0, 0.0]
    """
    if not is_color(image) or shift == 0:
        return image.copy()
    rgb, alpha = split_alpha(image)
    if image.dtype == np.uint8:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
        hsv[..., 0] += np.uint8(round(shift * 256 / 360) % 256)  # uint8 wraps: hue mod 256
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
    else:
        hsv = cv2.cvtColor(to_float(rgb), cv2.COLOR_RGB2HSV)
        h = hsv[..., 0]
        h += shift
        np.mod(h, 360.0, out=h)
        out = from_float(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), image.dtype)
    return merge_alpha(out, alpha)


@register("white_balance", category="color")
def white_balance(
    image: np.ndarray,
    method: Annotated[
        Literal["gray_world", "white_patch"], "gray_world: equal means; white_patch: bright = white"
    ] = "gray_world",
    percentile: Annotated[
        float, Range(0, 100, low_open=True), "white_patch only: percentile taken as white"
    ] = 99.0,
) -> np.ndarray:
    """Automatic white balance by scaling each colour channel (von Kries gains).

    * ``gray_world``: assume the scene averages to grey; channel c is multiplied by
      ``mean(means) / mean_c`` so all channel means become equal.
    * ``white_patch``: assume the brightest pixels are white; channel c is multiplied by
      ``max / p_c`` where ``p_c`` is its ``percentile``-th percentile (99 by default, robust
      to specular highlights; 100 uses the maximum, the classic "max-RGB").

    A channel whose mean (or percentile) is 0 is left unchanged. Results are clipped.

    Parameters
    ----------
    image : ndarray, grey, RGB or RGBA; uint8, uint16 or float. (On a grey image gray_world
        is the identity and white_patch a stretch of its ``percentile`` to white.)
    method : ``"gray_world"`` or ``"white_patch"``.
    percentile : in (0, 100], used by ``white_patch`` only.

    Returns
    -------
    ndarray, same shape and dtype; alpha unchanged.

    Example
    -------
    >>> import numpy as np
    >>> img = np.array([[[100, 50, 25], [60, 30, 15]]], np.uint8)
    >>> white_balance(img, method="gray_world")[0].tolist()
    [[58, 58, 58], [35, 35, 35]]

    Reference
    ---------
    G. Buchsbaum, "A spatial processor model for object colour perception", 1980 (gray world);
    E. Land, "The retinex theory of color vision", 1977 (white patch).
    """
    if method == "gray_world":
        anchors = _channel_means(image)
        targets = np.full_like(anchors, anchors.mean())
    else:
        anchors = stretch_bounds(split_alpha(image)[0], 0.0, percentile, True)[1]
        targets = np.ones_like(anchors)
    gains = np.where(anchors > 0, targets / np.where(anchors > 0, anchors, 1.0), 1.0)
    return apply_affine(image, gains, 0.0)
