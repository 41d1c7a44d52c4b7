"""Geometry: rotate, flip, resize, crop and pad.

Geometry ops move pixels, so they transform every channel alike (alpha included), keep the
dtype and the channel layout (``H x W x 1`` stays ``H x W x 1``), and run on OpenCV. Where a
fill colour is needed (``rotate``, ``pad``) it is given in the image's own value units
(0-255 for uint8, 0-65535 for uint16, 0-1 for float): one value for every channel, or one
per channel.

Example
-------
>>> import numpy as np
>>> img = np.zeros((48, 64, 3), np.uint8)
>>> rotate(img, angle=90).shape, resize(img, fit=(32, 32)).shape
((64, 48, 3), (24, 32, 3))
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import cv2
import numpy as np
from PIL import Image

from atelier.arrays import max_value, squeeze_like
from atelier.errors import InvalidArgument
from atelier.ops.registry import Range, register

__all__ = ["crop", "flip", "pad", "resize", "rotate"]

_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}
# Resizing uses INTER_NEAREST_EXACT: OpenCV's plain INTER_NEAREST samples half a pixel off;
# the exact variant picks the same pixels as Pillow, scikit-image and Matlab.
_RESIZE_METHODS = {**_INTERPOLATION, "nearest": cv2.INTER_NEAREST_EXACT, "area": cv2.INTER_AREA}
_FLIP_CODES = {"horizontal": 1, "vertical": 0, "both": -1}
_BORDERS = {
    "constant": cv2.BORDER_CONSTANT,
    "reflect": cv2.BORDER_REFLECT_101,  # numpy "reflect": d c b | a b c d | c b a
    "symmetric": cv2.BORDER_REFLECT,  # numpy "symmetric": c b a | a b c d | d c b
    "edge": cv2.BORDER_REPLICATE,
    "wrap": cv2.BORDER_WRAP,
}
_SIZE = Range(1, 65536)


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else image.shape[2]


def _border_value(fill: tuple[float, ...], image: np.ndarray) -> tuple[float, ...]:
    """Check a fill colour against the image and widen it to OpenCV's 4-value scalar."""
    n = _channels(image)
    if len(fill) not in (1, n):
        raise InvalidArgument(
            f"fill needs 1 value or {n} (one per channel) for this image, got {len(fill)}"
        )
    top = max_value(image.dtype)
    if any(not 0 <= v <= top for v in fill):
        raise InvalidArgument(
            f"fill values must be in [0, {top:g}] for a {image.dtype} image, got {fill}"
        )
    values = fill * n if len(fill) == 1 else fill
    return tuple(values) + (0.0,) * (4 - n)


def _finish(result: np.ndarray, image: np.ndarray, method: str) -> np.ndarray:
    """Clip float results of the methods that overshoot [0, 1] (bicubic and Lanczos) in place,
    and give the result the image's channel layout."""
    if method in ("bicubic", "lanczos") and result.dtype.kind == "f":
        np.clip(result, 0.0, 1.0, out=result)
    return squeeze_like(result, image)


_PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}


def _pillow_resize(image: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """Resize with Pillow, whose kernels widen by the shrink factor (anti-aliasing): the
    degradation the super-resolution literature uses ("bicubic downsampling" = Pillow's or
    MATLAB's ``imresize``, not ``cv2.resize``). 8-bit grey/RGB/RGBA go through Pillow's own
    modes; other dtypes channel by channel in its 32-bit float mode."""
    if image.dtype == np.uint8 and (image.ndim == 2 or image.shape[2] in (3, 4)):
        return np.asarray(Image.fromarray(image).resize(size, _PIL_FILTERS[method]))
    planes = image if image.ndim == 3 else image[..., None]
    out = np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(planes[..., c], np.float32), "F").resize(
                    size, _PIL_FILTERS[method]
                )
            )
            for c in range(planes.shape[2])
        ],
        axis=2,
    )
    top = max_value(image.dtype)
    np.clip(out, 0.0, top, out=out)
    if image.dtype.kind == "u":
        out = np.rint(out)
    out = out.astype(image.dtype)
    return out if image.ndim == 3 else out[..., 0]


def _ceil(x: float) -> int:
    """Canvas size for an extent ``x``, ignoring float noise of up to 1/1000 pixel."""
    return max(1, math.ceil(x - 1e-3))


@register("rotate", category="geometry")
def rotate(
    image: np.ndarray,
    angle: Annotated[float, Range(-360, 360), "degrees, counter-clockwise"],
    expand: Annotated[bool, "grow the canvas to hold the whole rotated image"] = True,
    fill: Annotated[
        tuple[float, ...], "colour of uncovered areas, in image units (1 value or 1 per channel)"
    ] = (0.0,),
    interpolation: Annotated[
        Literal["nearest", "bilinear", "bicubic", "lanczos"],
        "resampling for angles that are not multiples of 90 degrees",
    ] = "bilinear",
) -> np.ndarray:
    """Rotate counter-clockwise by ``angle`` degrees about the image centre.

    Multiples of 90 degrees are exact and lossless (``cv2.rotate``), unless ``expand=False``
    on a non-square image turns by 90 or 270 degrees (the canvas then keeps its size and the
    general path is used). Other angles use ``cv2.getRotationMatrix2D`` and
    ``cv2.warpAffine``; with ``expand`` the canvas grows to the rotated bounding box
    (``ceil(w |cos| + h |sin|)`` by ``ceil(w |sin| + h |cos|)``) and the translation is moved
    so the image stays centred. Uncovered areas get ``fill``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image; all channels are rotated.
    angle : float
        Rotation in degrees, counter-clockwise, in [-360, 360].
    expand : bool
        True: grow the canvas to hold the whole rotated image. False: keep ``H x W`` and cut
        the corners off.
    fill : tuple of float
        Colour of uncovered areas in the image's units, one value or one per channel.
    interpolation : {"nearest", "bilinear", "bicubic", "lanczos"}
        Resampling for angles that are not multiples of 90.

    Returns
    -------
    ndarray
        Rotated image, shape (H', W'[, C]), same dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> img = np.arange(6, dtype=np.uint8).reshape(2, 3)
    >>> rotate(img, angle=90).tolist()
    [[2, 5], [1, 4], [0, 3]]
    >>> rotate(np.zeros((100, 100), np.uint8), angle=45).shape
    (142, 142)

    Reference
    ---------
    https://docs.opencv.org/4.x/da/d54/group__imgproc__transform.html (warpAffine)
    """
    border = _border_value(fill, image)
    h, w = image.shape[:2]
    if angle % 90 == 0:
        quarter = int(angle // 90) % 4
        if quarter == 0:
            return image.copy()
        if quarter == 2 or expand or h == w:
            codes = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180,
                     3: cv2.ROTATE_90_CLOCKWISE}
            return squeeze_like(cv2.rotate(image, codes[quarter]), image)
    # Pixel centres sit on integer coordinates, so the image centre is ((w-1)/2, (h-1)/2).
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    size_w, size_h = w, h
    if expand:
        cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
        size_w, size_h = _ceil(w * cos + h * sin), _ceil(w * sin + h * cos)
        matrix[0, 2] += (size_w - w) / 2
        matrix[1, 2] += (size_h - h) / 2
    out = cv2.warpAffine(
        image,
        matrix,
        (size_w, size_h),
        flags=_INTERPOLATION[interpolation],
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )
    return _finish(out, image, interpolation)


@register("flip", category="geometry")
def flip(
    image: np.ndarray,
    axis: Annotated[
        Literal["horizontal", "vertical", "both"],
        "horizontal = mirror left-right, vertical = upside down",
    ] = "horizontal",
) -> np.ndarray:
    """Mirror the image left-right, top-bottom or both (cv2.flip).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image.
    axis : {"horizontal", "vertical", "both"}
        "horizontal" mirrors left-right (Pillow's FLIP_LEFT_RIGHT), "vertical" turns it
        upside down (FLIP_TOP_BOTTOM), "both" does both (a 180 degree rotation).

    Returns
    -------
    ndarray
        Flipped image, same shape and dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> flip(np.array([[1, 2, 3]], np.uint8), axis="horizontal").tolist()
    [[3, 2, 1]]
    """
    return squeeze_like(cv2.flip(image, _FLIP_CODES[axis]), image)


def _target_size(
    w: int,
    h: int,
    width: int | None,
    height: int | None,
    scale: float | None,
    fit: tuple[int, int] | None,
) -> tuple[int, int]:
    given = [
        name
        for name, used in (
            ("width/height", width is not None or height is not None),
            ("scale", scale is not None),
            ("fit", fit is not None),
        )
        if used
    ]
    if len(given) != 1:
        got = " and ".join(given) if given else "none"
        raise InvalidArgument(
            f"resize needs exactly one of: width and/or height, scale, or fit; got {got}"
        )
    if scale is not None:
        size = (round(w * scale), round(h * scale))  # what cv2.resize computes from fx, fy
        if min(size) < 1:
            raise InvalidArgument(
                f"scale {scale:g} shrinks the {w}x{h} image below one pixel; use a larger scale"
            )
        return size
    if fit is not None:
        # Largest size inside the box with the image's aspect ratio (as PIL.ImageOps.contain).
        box_w, box_h = fit
        if w * box_h > h * box_w:  # the image is wider than the box: width limits
            return box_w, max(1, round(h * box_w / w))
        if w * box_h < h * box_w:
            return max(1, round(w * box_h / h)), box_h
        return box_w, box_h
    if width is None:
        return max(1, round(w * height / h)), height
    if height is None:
        return width, max(1, round(h * width / w))
    return width, height


@register("resize", category="geometry")
def resize(
    image: np.ndarray,
    width: Annotated[int | None, _SIZE, "new width; alone, the height keeps the aspect"] = None,
    height: Annotated[
        int | None, _SIZE, "new height; alone, the width keeps the aspect"
    ] = None,
    scale: Annotated[
        float | None, Range(0, 100, low_open=True), "scale factor for both sides"
    ] = None,
    fit: Annotated[
        tuple[int, int] | None, _SIZE, "box w,h to fit inside, keeping the aspect"
    ] = None,
    method: Annotated[
        Literal["auto", "nearest", "bilinear", "bicubic", "lanczos", "area"],
        "resampling; auto: area to shrink, bicubic to enlarge",
    ] = "auto",
    antialias: Annotated[bool, "Pillow's resampling: kernels widen when shrinking"] = False,
) -> np.ndarray:
    """Resize to a size given by width and/or height, a scale factor, or a box to fit in.

    Give exactly one of: ``width`` and/or ``height`` (one alone keeps the aspect ratio),
    ``scale``, or ``fit`` (the largest size inside the box ``(w, h)`` with the image's aspect
    ratio, enlarging or shrinking). Resampling is ``cv2.resize``: "area" averages the source
    pixels each output pixel covers (anti-aliased, best for shrinking); "bilinear", "bicubic"
    and "lanczos" interpolate without anti-aliasing; "nearest" is OpenCV's
    ``INTER_NEAREST_EXACT`` (same pixels as Pillow and scikit-image). "auto" (default) is
    "area" when no side grows and "bicubic" otherwise, as the OpenCV documentation advises.
    ``antialias=True`` resamples with Pillow instead, whose bilinear/bicubic/Lanczos kernels
    widen by the shrink factor: the "bicubic downsampling" of the super-resolution
    benchmarks (the output size is the same; "area" is Pillow's box filter there).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image; all channels are resized.
    width, height : int or None
        Output width / height in pixels.
    scale : float or None
        Factor for both sides; the output is ``round(W * scale) x round(H * scale)``.
    fit : (int, int) or None
        Box ``(width, height)`` the result must fit in.
    method : {"auto", "nearest", "bilinear", "bicubic", "lanczos", "area"}
        Resampling method.
    antialias : bool
        Resample with Pillow (anti-aliased when shrinking) instead of ``cv2.resize``.

    Returns
    -------
    ndarray
        Resized image, shape (H', W'[, C]), same dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> img = np.zeros((48, 64, 3), np.uint8)
    >>> resize(img, width=32).shape, resize(img, scale=0.5).shape
    ((24, 32, 3), (24, 32, 3))
    >>> resize(img, fit=(100, 100)).shape
    (75, 100, 3)

    Reference
    ---------
    https://docs.opencv.org/4.x/da/d54/group__imgproc__transform.html (resize)
    """
    h, w = image.shape[:2]
    size = _target_size(w, h, width, height, scale, fit)
    if method == "auto":
        method = "area" if size[0] <= w and size[1] <= h else "bicubic"
    if antialias:
        return _pillow_resize(image, size, method)
    flags = _RESIZE_METHODS[method]
    if scale is not None:  # let OpenCV map coordinates with the exact factor, as fx=fy=scale
        out = cv2.resize(image, None, fx=scale, fy=scale, interpolation=flags)
    else:
        out = cv2.resize(image, size, interpolation=flags)
    return _finish(out, image, method)


@register("crop", category="geometry")
def crop(
    image: np.ndarray,
    x: Annotated[int, Range(0, None), "left edge in pixels"],
    y: Annotated[int, Range(0, None), "top edge in pixels"],
    width: Annotated[int, Range(1, None), "width in pixels"],
    height: Annotated[int, Range(1, None), "height in pixels"],
) -> np.ndarray:
    """Cut out the rectangle at (x, y) of size width x height (a contiguous copy).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image.
    x, y : int
        Top-left corner of the rectangle, in pixels from the image's top-left corner.
    width, height : int
        Size of the rectangle; it must lie inside the image.

    Returns
    -------
    ndarray
        The rectangle, shape (height, width[, C]), same dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    >>> crop(img, x=1, y=1, width=2, height=2).tolist()
    [[5, 6], [9, 10]]
    """
    h, w = image.shape[:2]
    if x + width > w or y + height > h:
        raise InvalidArgument(
            f"crop box x={x}..{x + width}, y={y}..{y + height} does not fit the {w}x{h} image;"
            f" keep x + width <= {w} and y + height <= {h}"
        )
    return image[y : y + height, x : x + width].copy()


@register("pad", category="geometry")
def pad(
    image: np.ndarray,
    top: Annotated[int, Range(0, 65536), "pixels added above"] = 0,
    bottom: Annotated[int, Range(0, 65536), "pixels added below"] = 0,
    left: Annotated[int, Range(0, 65536), "pixels added on the left"] = 0,
    right: Annotated[int, Range(0, 65536), "pixels added on the right"] = 0,
    mode: Annotated[
        Literal["constant", "reflect", "symmetric", "edge", "wrap"],
        "how the border is filled (numpy.pad's mode names)",
    ] = "constant",
    fill: Annotated[
        tuple[float, ...], "colour for mode=constant, in image units (1 value or 1 per channel)"
    ] = (0.0,),
) -> np.ndarray:
    """Add borders around the image (cv2.copyMakeBorder), with numpy.pad's mode names.

    Modes: "constant" fills with ``fill``; "reflect" mirrors without repeating the edge pixel
    (``dcb|abcd|cba``, OpenCV's BORDER_REFLECT_101); "symmetric" mirrors with it
    (``cba|abcd|dcb``); "edge" repeats the edge pixel; "wrap" tiles the image.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image; all channels are padded.
    top, bottom, left, right : int
        Border widths in pixels.
    mode : {"constant", "reflect", "symmetric", "edge", "wrap"}
        How the border is filled.
    fill : tuple of float
        Colour for "constant", in the image's units: one value or one per channel.

    Returns
    -------
    ndarray
        Padded image, shape (H + top + bottom, W + left + right[, C]), same dtype.

    Example
    -------
    >>> import numpy as np
    >>> pad(np.array([[1, 2, 3]], np.uint8), left=2, mode="reflect").tolist()
    [[3, 2, 1, 2, 3]]
    """
    border = _border_value(fill, image)
    out = cv2.copyMakeBorder(image, top, bottom, left, right, _BORDERS[mode], value=border)
    return squeeze_like(out, image)
