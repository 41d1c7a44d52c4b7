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
    return image.astype(np.float32) * np.float32(1.0 / max_value(image.dtype))


def from_float(image: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Convert float in [0, 1] back to ``dtype``, clipping and rounding for integer types."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.clip(image, 0.0, 1.0).astype(dtype, copy=False)
    scaled = np.clip(image, 0.0, 1.0) * np.float32(max_value(dtype))
    return np.rint(scaled).astype(dtype)


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
