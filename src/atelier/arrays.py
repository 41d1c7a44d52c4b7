"""The array convention of atelier: checks and dtype conversions (numpy in, numpy out).

An image is ``H x W`` (grey) or ``H x W x C`` with C in {1, 3, 4} (grey, RGB, RGBA), of dtype
uint8, uint16 (full range) or float32/float64 in [0, 1].

Example
-------
>>> import numpy as np
>>> img = np.full((4, 4, 3), 255, np.uint8)
>>> f = to_float(img); f.dtype, float(f.max())
(dtype('float32'), 1.0)
>>> from_float(f, np.uint8).dtype
dtype('uint8')
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

from atelier.errors import InvalidImage

SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


def check_image(image: object, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is a usable image array, else raise ``InvalidImage``."""
    if not isinstance(image, np.ndarray):
        raise InvalidImage(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise InvalidImage(
            f"{name} must be H x W or H x W x C with C in 1, 3, 4; got shape {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImage(f"{name} is empty (shape {image.shape})")
    if image.dtype.type not in SUPPORTED_DTYPES:
        raise InvalidImage(
            f"{name} has dtype {image.dtype}; use uint8, uint16, or float32 in [0, 1]"
        )
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise InvalidImage(f"{name} contains NaN or infinite values; clean it first")
    return image


def max_value(dtype: np.dtype | type) -> float:
    """The value that means full intensity: 255, 65535 or 1.0."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind == "u" else 1.0


def to_float(image: np.ndarray) -> np.ndarray:
    """Convert to float32 in [0, 1] (no copy if it already is float32)."""
    if image.dtype == np.float32:
        return image
    if image.dtype.kind == "f":
        return image.astype(np.float32)
    out = image.astype(np.float32)
    out *= np.float32(1.0 / max_value(image.dtype))  # in place: no second full-size array
    return out


STRIP_BYTES = 1 << 20  # fits the per-core L2 cache of current CPUs
OPENCV_STRIPE_PIXELS = 1 << 16  # OpenCV's cvtColor, threshold, ... give each thread this many


def row_strips(shape: tuple[int, ...], itemsize: int = 4, multiple: int = 1) -> Iterator[slice]:
    """Slices of the first axis that cut an array of ``shape`` into strips of about 1 MiB
    (of ``itemsize``-byte values), each a ``multiple`` of rows long but for the last.

    Doing every step of a conversion on one strip before the next keeps the intermediates in
    the CPU cache and reuses their buffers, instead of writing (and page-faulting) full-size
    temporaries: 2-3x faster on large images. ``itemsize`` is the bytes per value of the
    largest intermediate. A strip has at least 64 Ki pixels per OpenCV thread, so that
    OpenCV still runs each call on all its threads.
    """
    row_values = math.prod(shape[1:])
    row_pixels = shape[1] if len(shape) > 1 else 1
    step = max(
        1,
        STRIP_BYTES // max(1, row_values * itemsize),
        cv2.getNumThreads() * OPENCV_STRIPE_PIXELS // max(1, row_pixels),
    )
    step = -(-step // multiple) * multiple
    for start in range(0, shape[0], step):
        yield slice(start, min(start + step, shape[0]))


def from_float(
    image: np.ndarray,
    dtype: np.dtype | type,
    out: np.ndarray | None = None,
    overwrite_input: bool = False,
) -> np.ndarray:
    """Convert float in [0, 1] to ``dtype``: clipped to [0, 1], and for integer types scaled to
    the full range and rounded half to even (``np.rint``).

    Integer results are computed strip by strip (``row_strips``); float32 to uint8 in two
    OpenCV passes (``cv2.threshold``, ``cv2.convertScaleAbs``) with the same values.

    ``out``, if given, is a C-contiguous array of ``image``'s shape and ``dtype`` to write the
    result into (it is returned). ``image`` is not modified unless ``overwrite_input`` is
    True: then a C-contiguous float ``image`` (a temporary of the caller's) may serve as
    scratch space, which saves allocating one.
    """
    dtype = np.dtype(dtype)
    if out is None:
        out = np.empty(image.shape, dtype)
    if dtype.kind == "f":
        return np.clip(image, 0.0, 1.0, out=out)
    if image.size == 0:
        return out
    if image.ndim == 0:
        from_float(image[None], dtype, out[None])
        return out
    scale = max_value(dtype)
    fast_u8 = (
        dtype == np.uint8
        and image.dtype == np.float32
        and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] <= 4))
    )
    work = image.dtype if image.dtype.kind == "f" else np.dtype(np.float64)
    in_place = overwrite_input and image.dtype == work and image.flags.c_contiguous
    scratch = np.empty((0,), work)
    for rows in row_strips(image.shape, work.itemsize):
        part, n = image[rows], rows.stop - rows.start
        if in_place:
            scratch = part
        elif scratch.shape[:1] != (n,):
            scratch = np.empty((n,) + image.shape[1:], work)
        if fast_u8:
            # convertScaleAbs computes |x * 255| in float32, rounds half to even and
            # saturates: exactly np.rint of the clipped value (checked on every float32 in
            # [0, 1.01]) once negatives are zeroed. (Its float64 path works in float32, so
            # float64 takes the numpy path.)
            cv2.threshold(part, 0.0, 0.0, cv2.THRESH_TOZERO, dst=scratch)
            cv2.convertScaleAbs(scratch, dst=out[rows], alpha=scale)
        else:
            np.clip(part, 0.0, 1.0, out=scratch)
            np.multiply(scratch, np.float32(scale), out=scratch)
            np.rint(scratch, out=scratch)
            np.copyto(out[rows], scratch, casting="unsafe")
    return out


def clip_float(result: np.ndarray) -> np.ndarray:
    """Clip a float result to [0, 1] in place and return it; integer results pass unchanged
    (OpenCV already saturates them)."""
    if result.dtype.kind == "f":
        np.clip(result, 0.0, 1.0, out=result)
    return result


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Convert any supported image to uint8 (for OpenCV calls that only take 8-bit)."""
    if image.dtype == np.uint8:
        return image
    return from_float(to_float(image), np.uint8)


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split an RGBA image into (RGB, alpha ``H x W``); other images give (image, None)."""
    if image.ndim == 3 and image.shape[2] == 4:
        return image[..., :3], image[..., 3]
    return image, None


def merge_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Inverse of ``split_alpha``: re-attach alpha (if any) as the fourth channel."""
    if alpha is None:
        return rgb
    if rgb.ndim == 2:
        rgb = rgb[..., None]
    return np.concatenate([rgb, alpha[..., None].astype(rgb.dtype)], axis=2)


def squeeze_like(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Give ``result`` the channel layout of ``like`` (OpenCV drops a trailing axis of 1)."""
    if like.ndim == 3 and result.ndim == 2:
        return result[..., None]
    return result


def is_color(image: np.ndarray) -> bool:
    """True for RGB and RGBA images."""
    return image.ndim == 3 and image.shape[2] in (3, 4)
