"""Task ``texture``: synthesise a texture of any size from a sample image: image quilting
(Efros & Freeman 2001) or Gram-matrix matching on VGG19 (Gatys et al. 2015)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np

from atelier.errors import InvalidArgument
from atelier.image import DEFAULT_MAX_PIXELS
from atelier.ops.registry import Range
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task

#: The largest side a texture task makes (the pixel limit applies to width x height as well).
MAX_SIDE = 1 << 16


def check_size(ctx: TaskContext, params: dict[str, Any]) -> None:
    """Precheck of a task that makes a ``width x height`` image: the pixel limit, before any work."""
    limit = DEFAULT_MAX_PIXELS if ctx.max_pixels is None else ctx.max_pixels
    width, height = params["width"], params["height"]
    if width * height > limit:
        raise InvalidArgument(
            f"the output {width}x{height} is {width * height / 1e6:.6g} megapixels, over the limit of "
            f"{limit / 1e6:.6g}; ask for a smaller size"
        )


def _precheck(ctx: TaskContext, params: dict[str, Any]) -> None:
    check_size(ctx, params)
    patch, overlap = params["patch"], params["overlap"]
    if patch is not None and overlap is not None and overlap > patch // 3:
        raise InvalidArgument(
            f"overlap must be in [1, {patch // 3}] (1 to a third of the {patch}-pixel patch), got {overlap}"
        )


def _quilting(ctx: TaskContext, sample: np.ndarray, width: int, height: int, tileable: bool,
              options: dict[str, Any]) -> np.ndarray:
    from atelier.ops.texture import quilt

    limit = DEFAULT_MAX_PIXELS if ctx.max_pixels is None else ctx.max_pixels
    return quilt(sample, height, width, patch=options["patch"], overlap=options["overlap"], tileable=tileable,
                 seed=ctx.seed, max_pixels=limit, progress=lambda done, total: ctx.report(done, total, "quilting"))


def _gatys(ctx: TaskContext, sample: np.ndarray, width: int, height: int, tileable: bool,
           options: dict[str, Any]) -> np.ndarray:
    from atelier.tasks.texture_gatys import synthesize_gatys

    steps, done = options["steps"], [0]

    def on_step(loss: float) -> None:
        done[0] += 1
        ctx.report(done[0], steps, f"loss {loss:.4g}")

    return synthesize_gatys(sample, height, width, steps=steps, tileable=tileable, seed=ctx.seed,
                            device=ctx.torch_device(), on_step=on_step)


def _adain(ctx: TaskContext, sample: np.ndarray, width: int, height: int, tileable: bool,
           options: dict[str, Any]) -> np.ndarray:
    """AdaIN (Huang & Belongie 2017) of colour Perlin noise to the sample's feature statistics,
    decoded in one pass; the sample keeps its own scale (``style_size`` its shorter side)."""
    from atelier.ops.noise import noise_image
    from atelier.tasks.adain import adain_stylize

    if tileable:
        raise InvalidArgument("tileable textures come from quilting or gatys; adain makes plain ones")
    ctx.report(0, 1, "adain")
    start = noise_image(height, width, kind="perlin", channels=3, seed=ctx.seed)
    out = adain_stylize(start, [sample], style_size=min(sample.shape[:2]), model=ctx.model_source(options["model"]),
                        device=ctx.torch_device())
    ctx.report(1, 1, "adain")
    return out[..., :3]


#: How each method makes the texture: ``method(ctx, sample, width, height, tileable, options)``,
#: ``options`` the task's method-specific parameters by name.
METHODS: dict[str, Callable[..., np.ndarray]] = {"quilting": _quilting, "gatys": _gatys, "adain": _adain}


@register_task(
    "texture",
    inputs=[InputSpec("sample", "image", help="A texture sample to grow (any size of at least the patch).")],
    category="generate",
    precheck=_precheck,
)
def texture_task(
    ctx: TaskContext,
    sample: np.ndarray,
    *,
    method: Annotated[Literal["quilting", "gatys", "adain"], "quilting: image quilting (Efros & Freeman "
                      "2001), seconds; gatys: Gram matrices of VGG19 features matched from noise (Gatys et "
                      "al. 2015), minutes on a CPU; adain: noise given the sample's VGG19 feature "
                      "statistics by an AdaIN model (Huang & Belongie 2017), one pass"] = "quilting",
    width: Annotated[int, Range(1, MAX_SIDE), "width of the result in pixels"] = 512,
    height: Annotated[int, Range(1, MAX_SIDE), "height of the result in pixels"] = 512,
    tileable: Annotated[bool, "wrap around: copies side by side show no seam"] = False,
    patch: Annotated[int | None, Range(3, 4096), "quilting: side of the square patches (none: a third of "
                                                 "the sample's shorter side, at most 64)"] = None,
    overlap: Annotated[int | None, Range(1, 1365), "quilting: overlap of the patches (none: a quarter of "
                                                   "the patch)"] = None,
    steps: Annotated[int, Range(1, 5000), "gatys: L-BFGS steps in all, coarse to fine"] = 300,
    model: Annotated[str, "adain: the AdaIN model (the shipped adain or a run folder)"] = "adain",
) -> TaskResult:
    """Grow a texture of any size (optionally a seamless tile) from a sample image."""
    options = {"patch": patch, "overlap": overlap, "steps": steps, "model": model}
    out = METHODS[method](ctx, sample, width, height, tileable, options)  # reports its progress
    return TaskResult(images={"image": out})
