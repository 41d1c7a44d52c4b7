"""Classic inpainting: fill the masked pixels of an image; every other pixel is kept exactly.

OpenCV's Telea (fast marching, Telea 2004) and Navier-Stokes (Bertalmio et al. 2001), and
scikit-image's biharmonic inpainting (Damelin & Hoang 2018). :func:`inpaint_classic` is the
plain function (any mask form, a bool one included); the registered ops ``inpaint_telea``,
``inpaint_ns`` and ``inpaint_biharmonic`` take the mask as an image (a file path in a
pipeline: ``"inpaint_telea mask=holes.png"``). The learned and diffusion methods are tasks
(:func:`atelier.tasks.inpaint.inpaint`).

``mask``: ``H x W`` (or an RGB/RGBA mask image: any channel, or its alpha), nonzero (or True)
where pixels are to be filled. :func:`box_mask` builds one from rectangles. Colour, grey,
alpha (passed through) and 8/16-bit or float images keep their layout and dtype; the
unmasked pixels are bit-identical to the input.

Example
-------
>>> import numpy as np
>>> image = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (24, 1))[..., None].repeat(3, 2)
>>> mask = box_mask(image.shape, [(10, 8, 6, 6)])
>>> out = inpaint_classic(image, mask, "telea")
>>> bool((out[~mask] == image[~mask]).all()), int(abs(int(out[10, 12, 0]) - int(image[10, 12, 0]))) < 20
(True, True)
>>> inpaint_telea(image, mask=mask.astype(np.uint8) * 255).shape
(24, 32, 3)
"""

from __future__ import annotations

from typing import Annotated, Sequence

import numpy as np

from atelier.arrays import check_image, from_float, merge_alpha, split_alpha, to_float
from atelier.errors import InvalidArgument
from atelier.ops.registry import Range, register

__all__ = [
    "CLASSIC_METHODS",
    "box_mask",
    "check_mask",
    "inpaint_biharmonic",
    "inpaint_classic",
    "inpaint_ns",
    "inpaint_telea",
]

CLASSIC_METHODS = ("telea", "ns", "biharmonic")


def box_mask(shape: Sequence[int], boxes: Sequence[Sequence[int]]) -> np.ndarray:
    """``H x W`` bool mask, True inside each ``(x, y, w, h)`` box (clipped to the image).

    Example
    -------
    >>> box_mask((3, 4), [(1, 0, 2, 2)]).astype(int)
    array([[0, 1, 1, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 0]])
    """
    height, width = int(shape[0]), int(shape[1])
    mask = np.zeros((height, width), bool)
    for box in boxes:
        if len(box) != 4 or any(int(v) != v for v in box) or box[2] <= 0 or box[3] <= 0:
            raise InvalidArgument(f"a box is x,y,w,h with w, h > 0 (integers), got {tuple(box)}")
        x, y, w, h = (int(v) for v in box)
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise InvalidArgument(f"box {x},{y},{w},{h} lies outside the {width}x{height} image")
        mask[max(y, 0) : y + h, max(x, 0) : x + w] = True
    return mask


def check_mask(mask: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The mask as ``H x W`` bool, checked against the image's ``shape``: one clear error for
    a wrong size, an empty mask or a mask that covers everything."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 4:
        alpha = m[..., 3]
        # RGBA: its alpha where the alpha draws the mask; an opaque mask (a canvas export of
        # black and white paint) by its colour
        m = alpha if (alpha != alpha.flat[0]).any() else m[..., :3].max(axis=2)
    elif m.ndim == 3 and m.shape[2] in (1, 3):
        m = m.max(axis=2)  # any channel
    if m.ndim != 2:
        raise InvalidArgument(f"the mask must be H x W, got shape {m.shape}")
    if m.shape != tuple(shape[:2]):
        raise InvalidArgument(f"the mask is {m.shape[1]}x{m.shape[0]} but the image is {shape[1]}x{shape[0]}")
    m = m > (0.5 if m.dtype.kind == "f" else (127 if m.dtype != bool and m.max() > 1 else 0))
    if not m.any():
        raise InvalidArgument("the mask is empty: nothing to inpaint")
    if m.all():
        raise InvalidArgument("the mask covers the whole image: there is nothing to fill it from")
    return m


def _opencv(planes: np.ndarray, mask: np.ndarray, method: str, radius: float) -> np.ndarray:
    """cv2.inpaint of ``H x W x C`` float32 in [0, 1], channel by channel (OpenCV takes float
    and 16-bit images one channel at a time; 8-bit grey/RGB go to it whole)."""
    import cv2

    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    m8 = mask.astype(np.uint8)
    out = np.empty_like(planes)
    for c in range(planes.shape[2]):
        out[..., c] = cv2.inpaint(np.ascontiguousarray(planes[..., c]), m8, float(radius), flag)
    return out


def inpaint_classic(
    image: np.ndarray, mask: np.ndarray, method: str = "telea", *, radius: float = 5.0
) -> np.ndarray:
    """Fill ``mask`` in ``image`` with a classic method; unmasked pixels are returned bit-identical.

    Parameters
    ----------
    image : ``H x W``, ``H x W x 1|3|4``; uint8, uint16 or float in [0, 1].
    mask : ``H x W`` (or an RGB/RGBA mask image), nonzero (or True) where to fill; an RGBA
        mask is read by its alpha, or by its colour when it is opaque everywhere.
    method : ``telea``, ``ns`` (OpenCV) or ``biharmonic`` (scikit-image).
    radius : neighbourhood of the OpenCV methods, in pixels (> 0).

    Returns
    -------
    The image with the masked pixels filled, same shape and dtype.
    """
    img = check_image(image)
    if not isinstance(method, str) or method.lower() not in CLASSIC_METHODS:
        raise InvalidArgument(f"unknown classic inpainting method {method!r}; use {', '.join(CLASSIC_METHODS)}")
    m = check_mask(mask, img.shape)
    method = method.lower()
    if isinstance(radius, bool) or not isinstance(radius, (int, float, np.number)) or not radius > 0:
        raise InvalidArgument(f"radius must be > 0, got {radius!r}")
    if method in ("telea", "ns") and img.dtype == np.uint8 and (img.ndim == 2 or img.shape[2] in (1, 3)):
        import cv2

        flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
        filled = cv2.inpaint(img, m.astype(np.uint8), float(radius), flag).reshape(img.shape)
    else:
        rgb, alpha = split_alpha(to_float(img) if img.ndim == 3 else to_float(img)[..., None])
        if method == "biharmonic":
            from skimage.restoration import inpaint_biharmonic as biharmonic

            planes = biharmonic(rgb.astype(np.float64), m, channel_axis=-1).astype(np.float32)
        else:
            planes = _opencv(rgb.astype(np.float32), m, method, radius)
        full = merge_alpha(np.clip(planes, 0, 1), alpha)
        filled = from_float(full.reshape(img.shape) if img.ndim == 2 else full, img.dtype)
    out = img.copy()
    out[m] = filled[m]
    return out


_MASK_HELP = "white (nonzero) where to fill, the image's size; an RGBA mask: its alpha"
_RADIUS_HELP = "neighbourhood of each filled pixel, in pixels"


@register("inpaint_telea", category="inpaint")
def inpaint_telea(
    image: np.ndarray,
    mask: Annotated[np.ndarray, _MASK_HELP],
    radius: Annotated[float, Range(0, 100, low_open=True), _RADIUS_HELP] = 5.0,
) -> np.ndarray:
    """Fill the masked pixels from their surroundings by fast marching (Telea 2004, OpenCV).

    Unmasked pixels are kept bit-identical; alpha passes through; dtype and layout are kept.
    See :func:`inpaint_classic`.
    """
    return inpaint_classic(image, mask, "telea", radius=radius)


@register("inpaint_ns", category="inpaint")
def inpaint_ns(
    image: np.ndarray,
    mask: Annotated[np.ndarray, _MASK_HELP],
    radius: Annotated[float, Range(0, 100, low_open=True), _RADIUS_HELP] = 5.0,
) -> np.ndarray:
    """Fill the masked pixels along isophotes, Navier-Stokes style (Bertalmio et al. 2001, OpenCV).

    Unmasked pixels are kept bit-identical; alpha passes through; dtype and layout are kept.
    See :func:`inpaint_classic`.
    """
    return inpaint_classic(image, mask, "ns", radius=radius)


@register("inpaint_biharmonic", category="inpaint")
def inpaint_biharmonic(image: np.ndarray, mask: Annotated[np.ndarray, _MASK_HELP]) -> np.ndarray:
    """Fill the masked pixels with a smooth biharmonic surface (Damelin & Hoang 2018, scikit-image).

    Unmasked pixels are kept bit-identical; alpha passes through; dtype and layout are kept.
    Slower than Telea on large holes. See :func:`inpaint_classic`.
    """
    return inpaint_classic(image, mask, "biharmonic")
