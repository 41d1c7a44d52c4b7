"""Task ``stylize``: a trained feed-forward style network in one pass, an AdaIN model (any style
image, one pass), or Gatys' optimisation towards a style image."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np

from atelier.errors import InvalidArgument
from atelier.ops.registry import Range
from atelier.tasks.catalog._models import cached_model, model_named
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task


@register_task(
    "stylize",
    inputs=[InputSpec("image", "image", help="The content photo."),
            InputSpec("style", "image", required=False, help="A style image (optimisation or an adain model).")],
    category="style",
    precheck=model_named("optimize"),
)
def stylize_task(
    ctx: TaskContext,
    image: np.ndarray,
    style: np.ndarray | None = None,
    *,
    model: Annotated[str, "a shipped style network (style-starry, style-scream, style-monet) or a run; adain (or an adain "
                          "run): any style image; optimize: Gatys' optimisation towards the style image"] = "style-starry",
    size: Annotated[int | None, Range(16, 4096), "longer side of the result (none: the content's; 512 when optimising)"] = None,
    steps: Annotated[int, Range(1, 2000), "optimiser steps (optimisation only)"] = 300,
    content_weight: Annotated[float, Range(0, None), "content against style (optimisation only)"] = 1.0,
    preserve_color: Annotated[bool, "keep the content's colours (optimisation or adain)"] = False,
    alpha: Annotated[float, Range(0, 1), "content-style trade-off, 1: full style (adain only)"] = 1.0,
    optimizer: Annotated[Literal["lbfgs", "adam"], "optimiser (optimisation only)"] = "lbfgs",
) -> TaskResult:
    """Paint a photo in a style: a trained network in one pass (adain: any style image), or optimisation towards a style image."""
    from atelier.tasks.stylize import load_style_model, stylize, stylize_with_model

    device = ctx.torch_device()
    if model != "optimize":
        from atelier.tasks.adain import adain_stylize, is_adain_source, load_adain_model

        source = ctx.model_source(model)
        if is_adain_source(source):
            if style is None:
                raise InvalidArgument(f"model {model} is an adain model: it needs a style image")
            net = cached_model("adain", source, device, lambda: load_adain_model(source, device=device))
            ctx.report(0, 1, "stylizing")
            out = adain_stylize(image, [style], alpha=alpha, preserve_color=preserve_color, size=size, model=net,
                                device=device)
            ctx.report(1, 1, "stylized")
            return TaskResult(images={"image": out})
        if style is not None:
            raise InvalidArgument("a style image is for model optimize or an adain model; a style network has its "
                                  "style built in")
        net = cached_model("style", source, device, lambda: load_style_model(source, device=device))
        ctx.report(0, 1, "stylizing")
        out = stylize_with_model(image, net, size=size, device=device)
        ctx.report(1, 1, "stylized")
        return TaskResult(images={"image": out})
    if style is None:
        raise InvalidArgument("model optimize needs a style image")
    done = [0]

    def on_step(loss: float) -> None:
        done[0] += 1
        ctx.report(done[0], steps, f"loss {loss:.4g}")

    ctx.report(0, steps, "stylizing")
    out, loss = stylize(image, [style], size=size or 512, steps=steps, content_weight=content_weight,
                        preserve_color=preserve_color, optimizer=optimizer, seed=ctx.seed, device=device,
                        on_step=on_step, return_loss=True)
    return TaskResult(images={"image": out}, data={"loss": float(loss)})
