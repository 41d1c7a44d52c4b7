"""Task ``inpaint``: fill the masked pixels (classic, learned or diffusion); every other pixel is kept."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np

from atelier.errors import InvalidArgument
from atelier.ops.registry import Range
from atelier.tasks.catalog._models import model_named
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task


@register_task(
    "inpaint",
    inputs=[InputSpec("image", "image", help="The photo to repair."),
            InputSpec("mask", "mask", help="White (nonzero) where to fill, the image's size."),
            InputSpec("prompt", "text", required=False, help="What to fill with (diffusion, text models).")],
    category="restore",
    precheck=model_named(),
)
def inpaint_task(
    ctx: TaskContext,
    image: np.ndarray,
    mask: np.ndarray,
    prompt: str | None = None,
    *,
    method: Annotated[Literal["inpaint", "telea", "ns", "biharmonic", "diffusion"],
                      "inpaint: the shipped network; telea, ns (OpenCV), biharmonic (scikit-image); "
                      "diffusion: RePaint with a diffusion model"] = "inpaint",
    model: Annotated[str | None, "a trained inpainting or diffusion run (none: the shipped one)"] = None,
    radius: Annotated[float, Range(0.5, 100), "neighbourhood of telea and ns, in pixels"] = 5.0,
    steps: Annotated[int, Range(1, 1000), "diffusion: sampling steps"] = 25,
    resample: Annotated[int, Range(1, 20), "diffusion: times each step is redone (RePaint's r)"] = 5,
) -> TaskResult:
    """Fill the masked part of an image; every other pixel is kept exactly."""
    from atelier.tasks.inpaint import inpaint

    device = ctx.torch_device()
    if model is not None and method not in ("inpaint", "diffusion"):
        raise InvalidArgument(f"method {method} takes no model")
    if prompt is not None and method != "diffusion":
        raise InvalidArgument(f"a prompt is for method diffusion, not {method}")
    how = method if model is None else ctx.model_source(model)
    if method == "diffusion":
        how = "diffusion" if model is None else f"diffusion:{how}"
        options = {"steps": steps, "resample": resample, "seed": ctx.seed,
                   "progress": lambda done, total: ctx.report(done, total, "inpainting")}
        if prompt:
            options["prompt"] = prompt
        out = inpaint(image, mask, how, device=device, **options)
    else:
        ctx.report(0, 1, "inpainting")
        out = inpaint(image, mask, how, radius=radius, device=device)
        ctx.report(1, 1, "inpainted")
    return TaskResult(images={"image": out})
