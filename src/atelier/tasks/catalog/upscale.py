"""Task ``upscale``: x2, x3 or x4 super-resolution with a shipped or trained network."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np

from atelier.ops.registry import Range
from atelier.tasks.catalog._models import cached_model, model_named
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task
from atelier.tasks.ensemble import ENSEMBLE_HELP
from atelier.tasks.tiling import AUTO, TILE_HELP, tile_argument


def load_upscaler(ctx: TaskContext, scale: int, model: str, tile: int, self_ensemble: bool = False) -> Any:
    """The network (or ``"bicubic"``) the task runs, through the model cache, checked against
    ``tile`` and ``self_ensemble``: a command calls it before reading any image, so a model
    error comes first."""
    from atelier.tasks.restore import check_ensemble, check_model_tile, load_sr_model

    if model == "bicubic":
        check_ensemble("bicubic", self_ensemble)
        return "bicubic"
    device = ctx.torch_device()
    source = None if model == "auto" else ctx.model_source(model)
    net = cached_model("sr", source or f"sr-x{scale}", device, lambda: load_sr_model(source, scale, device=device), scale)
    check_model_tile(net, tile_argument(tile))
    check_ensemble(net, self_ensemble)
    return net


@register_task("upscale", inputs=[InputSpec("image", "image", help="The photo to enlarge.")], category="restore",
               precheck=model_named("auto", "bicubic"))
def upscale_task(
    ctx: TaskContext,
    image: np.ndarray,
    *,
    scale: Annotated[Literal[2, 3, 4], "enlargement factor"] = 4,
    model: Annotated[str, "auto (the shipped sr-xN for the scale), bicubic, a shipped name or a run"] = "auto",
    tile: Annotated[int, Range(0, 8192), TILE_HELP] = AUTO,
    self_ensemble: Annotated[bool, ENSEMBLE_HELP] = False,
) -> TaskResult:
    """Upscale an image 2, 3 or 4 times with a super-resolution network (alpha kept)."""
    from atelier.tasks.restore import upscale

    net = load_upscaler(ctx, scale, model, tile, self_ensemble)
    ctx.report(0, 1, "upscaling")
    kwargs = {} if ctx.max_pixels is None else {"max_pixels": ctx.max_pixels}
    out = upscale(image, scale=scale, model=net, tile=tile_argument(tile), device=ctx.torch_device(),
                  self_ensemble=self_ensemble, **kwargs)
    ctx.report(1, 1, "upscaled")
    return TaskResult(images={"image": out})
