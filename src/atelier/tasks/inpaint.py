"""Inpainting: fill the masked pixels of an image; every other pixel is returned unchanged.

Classic methods (this module): OpenCV's Telea (fast marching, Telea 2004) and Navier-Stokes
(Bertalmio et al. 2001), and scikit-image's biharmonic inpainting (Damelin & Hoang 2018).
The learned method, a gated-convolution U-Net (:mod:`atelier.tasks.inpaint_learned`), is
``method="inpaint"`` (the shipped model), a run folder or a ``model.safetensors`` path.
A diffusion model fills by RePaint (:mod:`atelier.tasks.diffusion_inpaint`):
``method="diffusion:RUN"`` (``"diffusion"`` alone: the shipped ``t2i-scenes``), or a
diffusion run folder or shipped name directly, with a prompt or a label among its options.

``mask``: ``H x W``, nonzero (or True) where pixels are to be filled. :func:`box_mask` builds
one from rectangles. Colour, grey, alpha (passed through) and 8/16-bit or float images keep
their layout and dtype; the unmasked pixels are bit-identical to the input.

Example
-------
>>> import numpy as np
>>> image = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (24, 1))[..., None].repeat(3, 2)
>>> mask = box_mask(image.shape, [(10, 8, 6, 6)])
>>> out = inpaint(image, mask, method="telea")
>>> bool((out[~mask] == image[~mask]).all()), int(abs(int(out[10, 12, 0]) - int(image[10, 12, 0]))) < 20
(True, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from atelier.arrays import check_image, from_float, merge_alpha, split_alpha, to_float
from atelier.errors import InvalidArgument

__all__ = ["inpaint", "box_mask", "check_mask", "CLASSIC_METHODS"]

CLASSIC_METHODS = ("telea", "ns", "biharmonic")


def box_mask(shape: Sequence[int], boxes: Sequence[Sequence[int]]) -> np.ndarray:
    """``H x W`` bool mask, True inside each ``(x, y, w, h)`` box (clipped to the image)."""
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
    if m.ndim == 3 and m.shape[2] in (1, 3, 4):
        m = m[..., -1] if m.shape[2] == 4 else m.max(axis=2)  # RGBA: its alpha; RGB: any channel
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


def _diffusion_source(method: Any) -> Any:
    """The diffusion model a method names (``diffusion``, ``diffusion:RUN``, a diffusion run
    folder, a shipped diffusion name, a ``DiffusionModel``), or None for other methods."""
    from atelier.tasks.diffusion_model import is_diffusion_source

    if isinstance(method, str) and (method == "diffusion" or method.startswith("diffusion:")):
        from atelier.tasks.diffusion_inpaint import DEFAULT_DIFFUSION_MODEL

        return method.partition(":")[2] or DEFAULT_DIFFUSION_MODEL
    if isinstance(method, str) and method.lower() in CLASSIC_METHODS:
        return None
    return method if is_diffusion_source(method) else None


def _opencv(planes: np.ndarray, mask: np.ndarray, method: str, radius: float) -> np.ndarray:
    """cv2.inpaint of ``H x W x C`` float32 in [0, 1], channel by channel (OpenCV takes float
    and 16-bit images one channel at a time; 8-bit grey/RGB go to it whole, in :func:`inpaint`)."""
    import cv2

    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    m8 = mask.astype(np.uint8)
    out = np.empty_like(planes)
    for c in range(planes.shape[2]):
        out[..., c] = cv2.inpaint(np.ascontiguousarray(planes[..., c]), m8, float(radius), flag)
    return out


def inpaint(
    image: np.ndarray,
    mask: np.ndarray,
    method: str = "telea",
    *,
    radius: float = 5.0,
    device: str = "cpu",
    **diffusion_options: Any,
) -> np.ndarray:
    """Fill ``mask`` in ``image``; unmasked pixels are returned bit-identical.

    Parameters
    ----------
    image : ``H x W``, ``H x W x 1|3|4``; uint8, uint16 or float32 in [0, 1].
    mask : ``H x W`` (or an RGB/RGBA mask image), nonzero where to fill.
    method : ``telea``, ``ns`` (OpenCV), ``biharmonic`` (scikit-image), or a learned model:
        a shipped name (``inpaint``), a run folder, a ``model.safetensors`` path or a module.
    radius : neighbourhood of the OpenCV methods, in pixels.
    device : where a learned model runs.
    diffusion_options : the diffusion method's keyword options (``prompt``, ``label``,
        ``steps``, ``resample``, ``sampler``, ``guidance``, ``eta``, ``seed``, ``progress``;
        see :func:`~atelier.tasks.diffusion_inpaint.inpaint_diffusion`); other methods take none.

    Returns
    -------
    The image with the masked pixels filled, same shape and dtype.
    """
    from atelier.devices import select_device

    select_device(device)  # checked for every method: a wrong name is an error, not ignored
    source = _diffusion_source(method)
    if source is not None:
        from atelier.tasks.diffusion_inpaint import inpaint_diffusion

        return inpaint_diffusion(source, image, mask, device=device, **diffusion_options)
    if diffusion_options:
        raise InvalidArgument(
            f"{', '.join(sorted(diffusion_options))}: options of the diffusion method, not of {method!r}"
        )
    if not isinstance(method, str) or method.lower() not in CLASSIC_METHODS:
        from atelier.pretrained import PRETRAINED
        from atelier.tasks.inpaint_learned import inpaint_with_model

        if isinstance(method, str) and method not in PRETRAINED and not Path(method).expanduser().exists():
            learned = sorted(n for n, p in PRETRAINED.items() if p.task == "inpaint")
            raise InvalidArgument(
                f"unknown inpainting method {method!r}; use {', '.join((*CLASSIC_METHODS, *learned))}, "
                "diffusion[:RUN], a run folder or a model.safetensors path"
            )

        return inpaint_with_model(image, mask, method, device=device)
    img = check_image(image)
    m = check_mask(mask, img.shape)
    method = method.lower()
    if not radius > 0:
        raise InvalidArgument(f"radius must be > 0, got {radius}")
    if method in ("telea", "ns") and img.dtype == np.uint8 and (img.ndim == 2 or img.shape[2] in (1, 3)):
        import cv2

        flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
        filled = cv2.inpaint(img, m.astype(np.uint8), float(radius), flag).reshape(img.shape)
    else:
        rgb, alpha = split_alpha(to_float(img) if img.ndim == 3 else to_float(img)[..., None])
        if method == "biharmonic":
            from skimage.restoration import inpaint_biharmonic

            planes = inpaint_biharmonic(rgb.astype(np.float64), m, channel_axis=-1).astype(np.float32)
        else:
            planes = _opencv(rgb.astype(np.float32), m, method, radius)
        full = merge_alpha(np.clip(planes, 0, 1), alpha)
        filled = from_float(full.reshape(img.shape) if img.ndim == 2 else full, img.dtype)
    out = img.copy()
    out[m] = filled[m]
    return out
