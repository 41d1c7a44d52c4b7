"""The few image transforms the datasets need: resize, crop, channels, to tensor.

numpy in (``H x W`` or ``H x W x C``, uint8, uint16 or float32 in [0, 1]), numpy out of the
same dtype, except ``to_tensor`` which returns a ``(C, H, W)`` float32 tensor in [0, 1].
OpenCV does the resampling: ``INTER_AREA`` when shrinking (antialiased), ``INTER_LINEAR``
when enlarging. No torchvision.

Example
-------
>>> import numpy as np
>>> from atelier.data.transforms import resize_crop, to_channels, to_tensor
>>> img = np.zeros((48, 64, 3), np.uint8)
>>> out = resize_crop(img, 32)               # shorter side -> 32, center crop 32 x 32
>>> to_tensor(to_channels(out, 1)).shape
torch.Size([1, 32, 32])
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import torch

from atelier.arrays import to_float
from atelier.errors import InvalidArgument

__all__ = [
    "MIN_SIZE",
    "center_crop",
    "check_channels",
    "check_size",
    "random_crop",
    "resize",
    "resize_crop",
    "resize_shorter",
    "to_channels",
    "to_tensor",
]

#: Smallest image size a dataset produces.
MIN_SIZE = 8


def check_size(size: object) -> int:
    """``size`` as an int >= 8, else ``InvalidArgument``."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise InvalidArgument(f"size must be an integer >= {MIN_SIZE}, got {size!r}")
    return int(size)


def check_channels(channels: object) -> int:
    """``channels`` as 1 or 3, else ``InvalidArgument``."""
    if channels not in (1, 3) or isinstance(channels, bool):
        raise InvalidArgument(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    return int(channels)  # type: ignore[arg-type]


def _interpolation(src: tuple[int, int], dst: tuple[int, int]) -> int:
    shrinking = dst[0] * dst[1] < src[0] * src[1]
    return cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR


def resize(image: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Resize to ``height x width`` (square when ``width`` is None), keeping dtype and channels.

    ``INTER_AREA`` when the pixel count shrinks, ``INTER_LINEAR`` otherwise.

    Example
    -------
    >>> resize(np.ones((8, 8), np.float32), 32).shape
    (32, 32)
    """
    width = height if width is None else width
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    out = cv2.resize(image, (width, height), interpolation=_interpolation((h, w), (height, width)))
    if image.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel axis
        out = out[..., None]
    return out


def resize_shorter(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so that the shorter side is ``size``, keeping the aspect ratio.

    Example
    -------
    >>> resize_shorter(np.zeros((100, 200, 3), np.uint8), 32).shape
    (32, 64, 3)
    """
    h, w = image.shape[:2]
    scale = size / min(h, w)
    return resize(image, max(size, round(h * scale)), max(size, round(w * scale)))


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` window (the image must be at least that big)."""
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top : top + size, left : left + size]


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size x size`` window at a position drawn from ``rng`` (uniform over valid ones)."""
    h, w = image.shape[:2]
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return image[top : top + size, left : left + size]


def resize_crop(
    image: np.ndarray,
    size: int,
    crop: Literal["center", "random"] = "center",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Resize the shorter side to ``size``, then crop ``size x size`` (center or random).

    Parameters
    ----------
    image : numpy.ndarray
        ``H x W`` or ``H x W x C``.
    size : int
        Output side.
    crop : {"center", "random"}
        Where the square window is taken along the longer side.
    rng : numpy.random.Generator
        Required for ``crop="random"``.

    Returns
    -------
    numpy.ndarray
        ``size x size`` (``x C``), same dtype.
    """
    image = resize_shorter(image, size)
    if crop == "center":
        return center_crop(image, size)
    if crop == "random":
        if rng is None:
            raise InvalidArgument("crop='random' needs an rng (numpy.random.Generator)")
        return random_crop(image, size, rng)
    raise InvalidArgument(f"crop must be 'center' or 'random', got {crop!r}")


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Convert grey <-> RGB (RGBA drops alpha) to ``channels`` (1 or 3); always ``H x W x C``.

    RGB to grey uses OpenCV's ``RGB2GRAY`` (BT.601 weights 0.299, 0.587, 0.114).

    Example
    -------
    >>> to_channels(np.zeros((4, 4), np.uint8), 3).shape
    (4, 4, 3)
    """
    if image.ndim == 2:
        image = image[..., None]
    have = image.shape[2]
    if have == 4:
        image, have = image[..., :3], 3
    if have == channels:
        return image
    if channels == 1:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[..., None]
    return np.repeat(image, 3, axis=2)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """numpy ``H x W x C`` (or ``H x W``) -> torch ``(C, H, W)`` float32 in [0, 1].

    Example
    -------
    >>> t = to_tensor(np.full((2, 3, 3), 255, np.uint8)); tuple(t.shape), float(t.max())
    ((3, 2, 3), 1.0)
    """
    f = to_float(image)
    if f.ndim == 2:
        f = f[..., None]
    return torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1), dtype=np.float32))
