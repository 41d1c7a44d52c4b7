"""Colour: conversions between colour spaces and tone/colour edits (brightness, contrast, ...).

Conversions (plain functions, not ops: they change what the array means)
    ``convert_color`` and its named helpers ``rgb_to_grey``, ``rgb_to_hsv``, ``hsv_to_rgb``,
    ``rgb_to_lab``, ``lab_to_rgb``, ``rgb_to_ycbcr``, ``ycbcr_to_rgb``.

Value conventions of the conversions
    * RGB and grey images follow the usual image convention: uint8 [0, 255], uint16
      [0, 65535] or float32/float64 in [0, 1]. RGBA input is accepted; alpha is dropped.
    * HSV, LAB and YCbCr are always returned as ``float32 H x W x 3`` in natural units,
      whatever the input dtype:

      ======  ==========================================================================
      HSV     H in degrees [0, 360), S and V in [0, 1]  (OpenCV's float convention)
      LAB     CIE L*a*b*, D65 white: L in [0, 100], a and b roughly [-128, 127]
      YCbCr   ITU-R BT.601 "studio swing" scaled to 8 bits, as MATLAB ``rgb2ycbcr``:
              Y in [16, 235], Cb and Cr in [16, 240] (floats, not rounded)
      ======  ==========================================================================

    * The inverse conversions take such float arrays and a ``dtype`` for the RGB result
      (float32 by default); values outside the RGB cube are clipped.
    * Grey is BT.601 luma, 0.299 R + 0.587 G + 0.114 B (same as OpenCV ``RGB2GRAY``).

Ops (registered, category ``color``; numpy in, numpy out, same dtype and layout)
    ``grayscale``, ``brightness``, ``contrast``, ``gamma``, ``saturation``, ``hue``,
    ``autocontrast``, ``equalize``, ``clahe``, ``match_histogram``, ``white_balance``.
    They change the colour channels only: the alpha of an RGBA image is passed through
    unchanged. Linear tone changes run as one ``cv2.transform``, other tone curves on uint8
    as a 256-entry ``cv2.LUT``.

Example
-------
>>> import numpy as np
>>> white = np.full((2, 2, 3), 255, np.uint8)
>>> rgb_to_ycbcr(white)[0, 0].round(3).tolist()
[235.0, 128.0, 128.0]
>>> brightness(np.zeros((2, 2), np.uint8), amount=0.5)[0, 0]
np.uint8(128)
"""

from __future__ import annotations

from typing import Annotated, Callable, Literal

import cv2
import numpy as np

from atelier.errors import InvalidArgument, InvalidImage
from atelier.arrays import (
    SUPPORTED_DTYPES,
    check_image,
    from_float,
    is_color,
    max_value,
    merge_alpha,
    split_alpha,
    squeeze_like,
    to_float,
    to_uint8,
)
from atelier.ops.registry import Range, register

__all__ = [
    "convert_color",
    "rgb_to_grey",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "rgb_to_lab",
    "lab_to_rgb",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "grayscale",
    "brightness",
    "contrast",
    "gamma",
    "saturation",
    "hue",
    "autocontrast",
    "equalize",
    "clahe",
    "match_histogram",
    "white_balance",
]

_LUMA = np.array([0.299, 0.587, 0.114])

# ITU-R BT.601 studio-swing YCbCr for R, G, B in [0, 1], as MATLAB's rgb2ycbcr.
_YCBCR_MATRIX = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
)
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])
_YCBCR_INVERSE = np.linalg.inv(_YCBCR_MATRIX)

_SPACES = ("rgb", "grey", "gray", "hsv", "lab", "ycbcr")


# --------------------------------------------------------------------------- checks, helpers


def _check_rgb(image: object, what: str) -> np.ndarray:
    image = check_image(image)
    if not is_color(image):
        raise InvalidImage(
            f"{what} needs an RGB or RGBA image (H x W x 3 or 4), got shape {image.shape}; "
            "for a grey image use convert_color(image, src='grey', dst=...)"
        )
    return image


def _check_triplet(array: object, space: str) -> np.ndarray:
    """Validate an H x W x 3 float array in ``space`` units; return it as float32."""
    if not isinstance(array, np.ndarray):
        raise InvalidImage(f"{space} array must be a numpy array, got {type(array).__name__}")
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidImage(f"{space} array must be H x W x 3, got shape {array.shape}")
    if array.dtype.kind != "f":
        raise InvalidImage(
            f"{space} array must be float (as returned by rgb_to_{space}), got {array.dtype}"
        )
    if not np.isfinite(array).all():
        raise InvalidImage(f"{space} array contains NaN or infinite values; clean it first")
    return array.astype(np.float32, copy=False)


def _check_dtype(dtype: object) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.type not in SUPPORTED_DTYPES:
        raise InvalidArgument(
            f"dtype must be uint8, uint16, float32 or float64, got {dtype!r}"
        )
    return dt


def _n_colour(image: np.ndarray) -> int:
    """Number of colour channels: 1 (grey) or 3 (RGB, RGBA)."""
    return 3 if is_color(image) else 1


def _luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma ``H x W`` of an RGB or RGBA image, same dtype."""
    if image.dtype == np.float64:  # cv2.cvtColor has no 64-bit float path
        return image[..., :3] @ _LUMA
    code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
    return cv2.cvtColor(image, code)


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """Repeat a grey ``H x W`` (or ``H x W x 1``) image into three equal channels."""
    grey = grey.reshape(grey.shape[:2])
    if grey.dtype == np.float64:
        return np.repeat(grey[..., None], 3, axis=2)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)


def _apply_lut(image: np.ndarray, lut: np.ndarray) -> np.ndarray:
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


def _apply_curve(image: np.ndarray, curve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a tone curve to the colour channels, alpha unchanged.

    ``curve`` maps float values in [0, 1] to float values (clipped afterwards); per-channel
    curves broadcast over the last axis. Integer images are mapped through a LUT of the curve
    sampled at every level, float images are computed directly.
    """
    if image.dtype.kind == "u":
        levels = int(max_value(image.dtype)) + 1
        x = np.linspace(0.0, 1.0, levels)[:, None]
        return _apply_lut(image, from_float(curve(x), image.dtype))
    rgb, alpha = split_alpha(image)
    return merge_alpha(from_float(curve(rgb), image.dtype), alpha)


def _apply_affine(image: np.ndarray, scale: object, offset: object) -> np.ndarray:
    """``out = in * scale + offset`` per colour channel (fractions of full range; scalars or
    one value per colour channel), clipped; alpha unchanged.

    Runs as one ``cv2.transform`` with a diagonal matrix (rounds and saturates integer types;
    faster than a per-channel LUT), except uint8 RGBA, where OpenCV's 4-channel transform has
    no fast path and a 4-channel ``cv2.LUT`` is used.
    """
    channels = 1 if image.ndim == 2 else image.shape[2]
    k = _n_colour(image)
    scale = np.broadcast_to(np.asarray(scale, np.float64), (k,))
    offset = np.broadcast_to(np.asarray(offset, np.float64), (k,))
    if image.dtype == np.uint8 and channels == 4:
        return _apply_curve(image, lambda x: x * scale + offset)
    matrix = np.zeros((channels, channels + 1))
    matrix[np.arange(channels), np.arange(channels)] = 1.0  # alpha row stays identity
    matrix[np.arange(k), np.arange(k)] = scale
    matrix[:k, -1] = offset * max_value(image.dtype)
    out = squeeze_like(cv2.transform(image, matrix), image)
    if out.dtype.kind == "f":
        np.clip(out, 0.0, 1.0, out=out)
    return out


def _channel_means(image: np.ndarray) -> np.ndarray:
    """Mean of each colour channel, as a fraction of full intensity (length 1 or 3)."""
    means = np.array(cv2.mean(image)[: _n_colour(image)], np.float64)
    return means / max_value(image.dtype)


def _histograms(rgb: np.ndarray) -> np.ndarray:
    """Per-channel histograms (``k x levels``) of an integer image's colour channels."""
    channels = _n_colour(rgb)
    if rgb.dtype == np.uint8:
        return np.stack(
            [cv2.calcHist([rgb], [c], None, [256], [0, 256]).ravel() for c in range(channels)]
        ).astype(np.int64)
    planes = [rgb] if rgb.ndim == 2 else [rgb[..., c] for c in range(channels)]
    return np.stack([np.bincount(p.ravel(), minlength=65536) for p in planes])


# --------------------------------------------------------------------------- conversions


def rgb_to_grey(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image: ``0.299 R + 0.587 G + 0.114 B`` (as OpenCV ``RGB2GRAY``).

    Parameters
    ----------
    image : ndarray, ``H x W x 3`` or ``H x W x 4`` (alpha is dropped), or a grey image
        (returned as an ``H x W`` copy). Any supported dtype.

    Returns
    -------
    ndarray, ``H x W``, same dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> rgb_to_grey(np.array([[[255, 0, 0]]], np.uint8))
    array([[76]], dtype=uint8)
    """
    image = check_image(image)
    if not is_color(image):
        return image.reshape(image.shape[:2]).copy()
    return _luma(image)


def rgb_to_hsv(image: np.ndarray) -> np.ndarray:
    """Convert RGB to HSV: float32, H in degrees [0, 360), S and V in [0, 1].

    Parameters
    ----------
    image : ndarray, ``H x W x 3`` or ``H x W x 4`` (alpha is dropped), any supported dtype.

    Returns
    -------
    ndarray, ``H x W x 3`` float32. Grey pixels (S = 0) get H = 0.

    Example
    -------
    >>> import numpy as np
    >>> rgb_to_hsv(np.array([[[0, 255, 0]]], np.uint8))[0, 0].round(4).tolist()
    [120.0, 1.0, 1.0]
    """
    rgb, _ = split_alpha(_check_rgb(image, "rgb_to_hsv"))
    return cv2.cvtColor(to_float(rgb), cv2.COLOR_RGB2HSV)


def hsv_to_rgb(hsv: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Convert HSV (H in degrees, S and V in [0, 1], as from ``rgb_to_hsv``) back to RGB.

    Parameters
    ----------
    hsv : ndarray, ``H x W x 3`` float. Hue is taken modulo 360.
    dtype : dtype of the RGB result (uint8, uint16, float32 or float64).

    Returns
    -------
    ndarray, ``H x W x 3`` RGB of ``dtype``.

    Example
    -------
    >>> import numpy as np
    >>> hsv_to_rgb(np.array([[[240.0, 1.0, 1.0]]]), np.uint8)[0, 0].tolist()
    [0, 0, 255]
    """
    hsv = _check_triplet(hsv, "hsv")
    dtype = _check_dtype(dtype)
    if (hsv[..., 0] < 0).any() or (hsv[..., 0] >= 360).any():
        hsv = hsv.copy()
        hsv[..., 0] %= 360
    return from_float(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), dtype)


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """Convert sRGB to CIE L*a*b* (D65): float32, L in [0, 100], a and b about [-128, 127].

    Uses OpenCV's float conversion, which agrees with ``skimage.color.rgb2lab`` to within
    about 0.5 units.

    Parameters
    ----------
    image : ndarray, ``H x W x 3`` or ``H x W x 4`` (alpha is dropped), any supported dtype.

    Returns
    -------
    ndarray, ``H x W x 3`` float32.

    Example
    -------
    >>> import numpy as np
    >>> rgb_to_lab(np.full((1, 1, 3), 255, np.uint8))[0, 0].round(1).tolist()
    [100.0, 0.0, 0.0]

    Reference
    ---------
    https://en.wikipedia.org/wiki/CIELAB_color_space
    """
    rgb, _ = split_alpha(_check_rgb(image, "rgb_to_lab"))
    return cv2.cvtColor(to_float(rgb), cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Convert CIE L*a*b* (as from ``rgb_to_lab``) back to sRGB; out-of-gamut values clip.

    Parameters
    ----------
    lab : ndarray, ``H x W x 3`` float, L in [0, 100].
    dtype : dtype of the RGB result (uint8, uint16, float32 or float64).

    Returns
    -------
    ndarray, ``H x W x 3`` RGB of ``dtype``.

    Example
    -------
    >>> import numpy as np
    >>> lab_to_rgb(np.array([[[100.0, 0.0, 0.0]]]), np.uint8)[0, 0].tolist()
    [255, 255, 255]
    """
    lab = _check_triplet(lab, "lab")
    dtype = _check_dtype(dtype)
    return from_float(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), dtype)


def rgb_to_ycbcr(image: np.ndarray) -> np.ndarray:
    """Convert RGB to BT.601 YCbCr exactly as MATLAB's ``rgb2ycbcr`` (float, not rounded).

    With R, G, B in [0, 1]::

        Y  =  16 + 65.481 R + 128.553 G +  24.966 B      in [16, 235]
        Cb = 128 - 37.797 R -  74.203 G + 112.000 B      in [16, 240]
        Cr = 128 + 112.000 R - 93.786 G -  18.214 B      in [16, 240]

    This is the studio-swing YCbCr used for PSNR/SSIM on the Y channel in super-resolution
    papers; it is *not* OpenCV's ``COLOR_RGB2YCrCb`` (full-range JPEG YCbCr).

    Parameters
    ----------
    image : ndarray, ``H x W x 3`` or ``H x W x 4`` (alpha is dropped), any supported dtype.

    Returns
    -------
    ndarray, ``H x W x 3`` float32, channels (Y, Cb, Cr).

    Example
    -------
    >>> import numpy as np
    >>> rgb_to_ycbcr(np.zeros((1, 1, 3), np.uint8))[0, 0].tolist()
    [16.0, 128.0, 128.0]

    Reference
    ---------
    ITU-R BT.601; MATLAB ``rgb2ycbcr``.
    """
    rgb, _ = split_alpha(_check_rgb(image, "rgb_to_ycbcr"))
    scale = 1.0 / max_value(rgb.dtype)
    # cv2.transform applies a per-pixel 3 x 4 affine matrix (multi-threaded); the 1 / 255
    # of integer input is folded into the matrix.
    matrix = np.hstack([_YCBCR_MATRIX * scale, _YCBCR_OFFSET[:, None]]).astype(np.float32)
    return cv2.transform(rgb.astype(np.float32, copy=False), matrix)


def ycbcr_to_rgb(ycbcr: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Convert BT.601 studio-swing YCbCr (as from ``rgb_to_ycbcr``) back to RGB.

    Parameters
    ----------
    ycbcr : ndarray, ``H x W x 3`` float, Y in [16, 235], Cb and Cr in [16, 240].
    dtype : dtype of the RGB result (uint8, uint16, float32 or float64).

    Returns
    -------
    ndarray, ``H x W x 3`` RGB of ``dtype`` (values outside the RGB cube are clipped).

    Example
    -------
    >>> import numpy as np
    >>> ycbcr_to_rgb(np.array([[[235.0, 128.0, 128.0]]]), np.uint8)[0, 0].tolist()
    [255, 255, 255]
    """
    ycbcr = _check_triplet(ycbcr, "ycbcr")
    dtype = _check_dtype(dtype)
    matrix = np.hstack([_YCBCR_INVERSE, -(_YCBCR_INVERSE @ _YCBCR_OFFSET)[:, None]])
    return from_float(cv2.transform(ycbcr, matrix.astype(np.float32)), dtype)


_TO_RGB = {"hsv": hsv_to_rgb, "lab": lab_to_rgb, "ycbcr": ycbcr_to_rgb}
_FROM_RGB = {"hsv": rgb_to_hsv, "lab": rgb_to_lab, "ycbcr": rgb_to_ycbcr}


def convert_color(
    image: np.ndarray,
    src: str = "rgb",
    dst: str = "ycbcr",
    dtype: np.dtype | type | None = None,
) -> np.ndarray:
    """Convert between the colour spaces rgb, grey (alias gray), hsv, lab and ycbcr.

    Conversions go through RGB; the value conventions are those of the named helpers (see the
    module docstring): HSV, LAB and YCbCr are float32 in natural units, RGB and grey are images.

    Parameters
    ----------
    image : ndarray in the ``src`` space: an image for rgb (RGBA allowed, alpha is dropped)
        and grey, an ``H x W x 3`` float array for hsv, lab and ycbcr.
    src, dst : one of ``"rgb"``, ``"grey"``, ``"gray"``, ``"hsv"``, ``"lab"``, ``"ycbcr"``.
    dtype : dtype of an rgb or grey result. Default: the input's dtype when ``src`` is rgb or
        grey, float32 otherwise. Not allowed when ``dst`` is hsv, lab or ycbcr (always float32).

    Returns
    -------
    ndarray: ``H x W`` for grey, ``H x W x 3`` otherwise.

    Example
    -------
    >>> import numpy as np
    >>> rgb = np.array([[[255, 0, 0]]], np.uint8)
    >>> convert_color(rgb, "rgb", "hsv")[0, 0].round(4).tolist()
    [0.0, 1.0, 1.0]
    >>> convert_color(rgb, "rgb", "grey")
    array([[76]], dtype=uint8)
    """
    src_key, dst_key = (
        s.lower().replace("gray", "grey") if isinstance(s, str) else s for s in (src, dst)
    )
    for name, value in (("src", src_key), ("dst", dst_key)):
        if value not in _SPACES:
            raise InvalidArgument(
                f"{name} must be one of {', '.join(_SPACES)}; got {value!r}"
            )
    if dtype is not None:
        if dst_key in _FROM_RGB:
            raise InvalidArgument(
                f"dtype only applies to rgb or grey results; {dst_key} is always float32"
            )
        dtype = _check_dtype(dtype)
    if src_key in _TO_RGB:
        rgb = _TO_RGB[src_key](image, dtype or np.float32)
    elif src_key == "grey":
        image = check_image(image)
        if is_color(image):
            raise InvalidImage(f"src='grey' needs an H x W image, got shape {image.shape}")
        rgb = _grey_to_rgb(image)
    else:
        rgb = split_alpha(_check_rgb(image, "convert_color(src='rgb')"))[0]
    if dst_key in _FROM_RGB:
        return _FROM_RGB[dst_key](rgb)
    out = _luma(rgb) if dst_key == "grey" else np.array(rgb)  # np.array: a copy, contiguous
    if dtype is not None and out.dtype != dtype:
        out = from_float(to_float(out), dtype)
    return out


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
    grey = _luma(image)
    if not keep_channels:
        return grey
    return merge_alpha(_grey_to_rgb(grey), split_alpha(image)[1])


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
    return _apply_affine(image, 1.0, amount)


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
    mean = float(means @ _LUMA) if means.size == 3 else float(means[0])
    return _apply_affine(image, factor, (1.0 - factor) * mean)


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
    return _apply_curve(image, lambda x: np.power(x, gamma))


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
    grey = _grey_to_rgb(_luma(image))
    out = cv2.addWeighted(rgb, factor, grey, 1.0 - factor, 0.0)  # saturates integer types
    if out.dtype.kind == "f":
        np.clip(out, 0.0, 1.0, out=out)
    return merge_alpha(out, alpha)


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


def _stretch_bounds(
    rgb: np.ndarray, low: float, high: float, per_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Low and high percentiles (fractions of full range) of each colour channel (or joint).

    Integer images use Pillow's rule on the exact histogram: drop ``low`` % of the pixels from
    the dark end and ``100 - high`` % from the bright end, take the extreme levels left.
    Float images use ``numpy.percentile`` (linear interpolation).
    """
    channels = _n_colour(rgb)
    if rgb.dtype.kind == "u":
        hist = _histograms(rgb)
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
    >>> autocontrast(np.array([[50, 100, 150]], np.uint8))
    array([[  0, 127, 255]], dtype=uint8)

    Reference
    ---------
    Pillow ``PIL.ImageOps.autocontrast``.
    """
    lo, hi = _stretch_bounds(split_alpha(image)[0], cutoff, 100.0 - cutoff, per_channel)
    flat = hi <= lo
    scale = np.where(flat, 1.0, 1.0 / np.where(flat, 1.0, hi - lo))
    return _apply_affine(image, scale, np.where(flat, 0.0, -lo * scale))


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
    if _n_colour(reference) != _n_colour(image):
        raise InvalidArgument(
            f"reference has {_n_colour(reference)} colour channel(s) but image has "
            f"{_n_colour(image)}; convert one of them (e.g. with grayscale) so they match"
        )
    ref = split_alpha(reference)[0]
    if ref.dtype != image.dtype:
        ref = from_float(to_float(ref), image.dtype)
    rgb, alpha = split_alpha(image)
    if image.dtype.kind == "u":
        src_hist, ref_hist = _histograms(rgb), _histograms(ref)
        lut = np.stack([_match_lut(s, r) for s, r in zip(src_hist, ref_hist)], axis=1)
        return _apply_lut(image, np.rint(lut).astype(image.dtype))
    if not is_color(image):
        out = _match_float(rgb, ref)
    else:
        out = np.stack([_match_float(rgb[..., c], ref[..., c]) for c in range(3)], axis=2)
    return merge_alpha(out.astype(image.dtype), alpha)


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
        anchors = _stretch_bounds(split_alpha(image)[0], 0.0, percentile, True)[1]
        targets = np.ones_like(anchors)
    gains = np.where(anchors > 0, targets / np.where(anchors > 0, anchors, 1.0), 1.0)
    return _apply_affine(image, gains, 0.0)
