"""Colour-space conversions: RGB to and from grey, HSV, CIE LAB and BT.601 YCbCr.

These are plain functions, not registered ops: they change what the array means.
``convert_color`` converts between any two spaces; the named helpers are ``rgb_to_grey``,
``rgb_to_hsv``, ``hsv_to_rgb``, ``rgb_to_lab``, ``lab_to_rgb``, ``rgb_to_ycbcr`` and
``ycbcr_to_rgb``.

Value conventions
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

Example
-------
>>> import numpy as np
>>> white = np.full((2, 2, 3), 255, np.uint8)
>>> rgb_to_ycbcr(white)[0, 0].round(3).tolist()
[235.0, 128.0, 128.0]
>>> convert_color(white, "rgb", "lab")[0, 0].round(1).tolist()
[100.0, 0.0, 0.0]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from atelier.arrays import (
    SUPPORTED_DTYPES,
    check_image,
    from_float,
    is_color,
    max_value,
    row_strips,
    split_alpha,
    to_float,
)
from atelier.errors import InvalidArgument, InvalidImage
from atelier.ops._color_math import grey_to_rgb, luma

__all__ = [
    "convert_color",
    "rgb_to_grey",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "rgb_to_lab",
    "lab_to_rgb",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
]

# ITU-R BT.601 studio-swing YCbCr for R, G, B in [0, 1], as MATLAB's rgb2ycbcr.
_YCBCR_MATRIX = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
)
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])
_YCBCR_INVERSE = np.linalg.inv(_YCBCR_MATRIX)
_YCBCR_TO_RGB = np.hstack(  # the 3 x 4 affine matrix of cv2.transform
    [_YCBCR_INVERSE, -(_YCBCR_INVERSE @ _YCBCR_OFFSET)[:, None]]
).astype(np.float32)

_SPACES = ("rgb", "grey", "gray", "hsv", "lab", "ycbcr")


@functools.cache
def _rgb_to_ycbcr_matrix(dtype: np.dtype) -> np.ndarray:
    """The 3 x 4 affine matrix of cv2.transform for RGB of ``dtype`` (scaled to [0, 1])."""
    scale = 1.0 / max_value(dtype)
    return np.hstack([_YCBCR_MATRIX * scale, _YCBCR_OFFSET[:, None]]).astype(np.float32)


# --------------------------------------------------------------------------- checks


def _check_rgb(image: object, what: str) -> np.ndarray:
    image = check_image(image)
    if not is_color(image):
        raise InvalidImage(
            f"{what} needs an RGB or RGBA image (H x W x 3 or 4), got shape {image.shape}; "
            "for a grey image use convert_color(image, src='grey', dst=...)"
        )
    return image


def _check_triplet(array: object, space: str) -> np.ndarray:
    """Validate the shape and dtype of an H x W x 3 float array in ``space`` units (the values
    are checked strip by strip in ``_to_rgb``)."""
    if not isinstance(array, np.ndarray):
        raise InvalidImage(f"{space} array must be a numpy array, got {type(array).__name__}")
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidImage(f"{space} array must be H x W x 3, got shape {array.shape}")
    if array.dtype.kind != "f":
        raise InvalidImage(
            f"{space} array must be float (as returned by rgb_to_{space}), got {array.dtype}"
        )
    return array


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


# --------------------------------------------------------------------------- strip loops
# Both directions run strip by strip (``row_strips``): the float intermediates stay in the CPU
# cache instead of being full-size temporaries, which makes them faster than the plain
# "convert the whole image, then scale it" sequence of OpenCV calls.

_Convert = Callable[[np.ndarray, np.ndarray], object]  # (source strip, destination strip)


def _strips(shape: tuple[int, ...], overlap: bool) -> Iterator[tuple[slice, slice]]:
    """(rows, extended rows) of each strip of an ``H x W x C`` array.

    cv2.cvtColor works row by row, so strips of whole rows give the same values as one call on
    the whole image. cv2.transform instead runs over all pixels at once, in SIMD blocks of a
    few pixels, and rounds the last few (the scalar tail) differently. With ``overlap`` each
    strip starts at a multiple of 64 pixels (so the blocks fall as in a whole-image call) and
    is extended by rows of at least 64 pixels, so its tail falls in rows that the next strip
    computes again: the values match a whole-image call bit for bit.
    """
    width = shape[1]
    multiple, extra = (64 // math.gcd(width, 64), -(-64 // width)) if overlap else (1, 0)
    for rows in row_strips(shape, multiple=multiple):
        yield rows, slice(rows.start, min(rows.stop + extra, shape[0]))


def _from_rgb(image: object, what: str, convert: _Convert, overlap: bool = False) -> np.ndarray:
    """Shared body of rgb_to_hsv/lab/ycbcr: ``convert`` writes each float32 strip of the
    ``H x W x 3`` result from the matching strip of the RGB image (``overlap``: see
    ``_strips``; the extra rows are overwritten by the next strip)."""
    rgb, _ = split_alpha(_check_rgb(image, what))
    out = np.empty(rgb.shape[:2] + (3,), np.float32)
    for _, rows in _strips(out.shape, overlap):
        convert(rgb[rows], out[rows])
    return out


def _to_rgb(
    array: object, space: str, dtype: object, convert: _Convert, overlap: bool = False
) -> np.ndarray:
    """Shared body of hsv/lab/ycbcr_to_rgb: check each strip of ``array`` (finite values;
    hue wrapped into [0, 360) for hsv), ``convert`` it to float32 RGB in a scratch strip,
    then clip and scale that into the result of ``dtype`` (``overlap``: see ``_strips``)."""
    array = _check_triplet(array, space)
    dtype = _check_dtype(dtype)
    out = np.empty(array.shape, dtype)
    rgb = np.empty((0,), np.float32)
    for rows, extended in _strips(array.shape, overlap):
        part = array[extended].astype(np.float32, copy=False)
        lo, hi = float(part.min()), float(part.max())  # NaN propagates into both
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise InvalidImage(f"{space} array contains NaN or infinite values; clean it first")
        if space == "hsv" and (lo < 0 or hi >= 360):  # OpenCV does not wrap the hue itself
            part = part.copy()
            part[..., 0] %= 360
        if rgb.shape != part.shape:
            rgb = np.empty(part.shape, np.float32)
        convert(part, rgb)
        from_float(rgb[: rows.stop - rows.start], dtype, out=out[rows], overwrite_input=True)
    return out


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
    return luma(image)


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
    return _from_rgb(
        image, "rgb_to_hsv", lambda rgb, dst: cv2.cvtColor(to_float(rgb), cv2.COLOR_RGB2HSV, dst)
    )


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
    return _to_rgb(hsv, "hsv", dtype, lambda p, dst: cv2.cvtColor(p, cv2.COLOR_HSV2RGB, dst))


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
    return _from_rgb(
        image, "rgb_to_lab", lambda rgb, dst: cv2.cvtColor(to_float(rgb), cv2.COLOR_RGB2Lab, dst)
    )


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
    return _to_rgb(lab, "lab", dtype, lambda p, dst: cv2.cvtColor(p, cv2.COLOR_Lab2RGB, dst))


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
    # cv2.transform applies a per-pixel 3 x 4 affine matrix. Its output depth is its
    # input's, so each strip goes to float32 first (in the cache, not a full-size copy),
    # unscaled: the 1 / 255 of integer input is folded into the matrix.
    return _from_rgb(
        image,
        "rgb_to_ycbcr",
        lambda rgb, dst: cv2.transform(
            rgb.astype(np.float32, copy=False), _rgb_to_ycbcr_matrix(rgb.dtype), dst
        ),
        overlap=True,
    )


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
    return _to_rgb(
        ycbcr, "ycbcr", dtype, lambda p, dst: cv2.transform(p, _YCBCR_TO_RGB, dst), overlap=True
    )


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
        rgb = grey_to_rgb(image)
    else:
        rgb = split_alpha(_check_rgb(image, "convert_color(src='rgb')"))[0]
    if dst_key in _FROM_RGB:
        return _FROM_RGB[dst_key](rgb)
    if dst_key == "grey":
        out = luma(rgb)
    elif src_key == "rgb" and (dtype is None or rgb.dtype == dtype):
        out = np.array(rgb)  # the input's own pixels: return a contiguous copy
    else:
        out = rgb  # a new array computed above, or converted below
    if dtype is not None and out.dtype != dtype:
        out = from_float(to_float(out), dtype)
    return out
