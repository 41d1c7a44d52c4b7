"""Inpainting: fill the masked pixels of an image; every other pixel is returned unchanged.

Classic methods are ops (:mod:`atelier.ops.inpaint`): OpenCV's Telea (fast marching, Telea
2004) and Navier-Stokes (Bertalmio et al. 2001), and scikit-image's biharmonic inpainting
(Damelin & Hoang 2018).
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
from typing import Any

import numpy as np

from atelier.errors import InvalidArgument
from atelier.ops.inpaint import CLASSIC_METHODS, box_mask, check_mask, inpaint_classic

__all__ = ["inpaint", "box_mask", "check_mask", "diffusion_source", "CLASSIC_METHODS"]


def diffusion_source(method: Any) -> Any:
    """The diffusion model a method names (``diffusion``, ``diffusion:RUN``, a diffusion run
    folder, a shipped diffusion name, a ``DiffusionModel``), or None for other methods."""
    from atelier.tasks.diffusion_model import is_diffusion_source

    if isinstance(method, str) and (method == "diffusion" or method.startswith("diffusion:")):
        from atelier.tasks.diffusion_inpaint import DEFAULT_DIFFUSION_MODEL

        return method.partition(":")[2] or DEFAULT_DIFFUSION_MODEL
    if isinstance(method, str) and method.lower() in CLASSIC_METHODS:
        return None
    return method if is_diffusion_source(method) else None


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
    from atelier.devices import resolve_device

    resolve_device(device)  # checked for every method: a wrong name is an error, not ignored
    source = diffusion_source(method)
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
    return inpaint_classic(image, mask, method, radius=radius)
