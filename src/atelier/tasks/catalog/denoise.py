"""Task ``denoise``: remove Gaussian-like noise with the shipped DRUNet (or a trained denoiser, or NLM)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np

from atelier.ops.registry import Range
from atelier.tasks.catalog._models import cached_model, model_named
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task
from atelier.tasks.ensemble import ENSEMBLE_HELP
from atelier.tasks.tiling import AUTO, TILE_HELP, tile_argument


def load_denoise_net(ctx: TaskContext, model: str, tile: int, sigma: float | None,
                     self_ensemble: bool = False) -> Any:
    """The network (or ``"nlm"``) the task runs, through the model cache, checked against
    ``tile``, ``sigma`` (a blind denoiser takes none) and ``self_ensemble``: a command calls
    it before reading any image, so a model error comes first."""
    from atelier.tasks.restore import check_denoiser_sigma, check_ensemble, check_model_tile, load_denoiser

    if model == "nlm":
        check_ensemble("nlm", self_ensemble)
        return "nlm"
    device = ctx.torch_device()
    source = ctx.model_source(model)
    net = cached_model("denoise", source, device, lambda: load_denoiser(source, device=device))
    check_model_tile(net, tile_argument(tile))
    check_denoiser_sigma(net, "auto" if sigma is None else sigma, model)
    check_ensemble(net, self_ensemble)
    return net


@register_task("denoise", inputs=[InputSpec("image", "image", help="The noisy photo.")], category="restore",
               precheck=model_named("nlm"))
def denoise_task(
    ctx: TaskContext,
    image: np.ndarray,
    *,
    sigma: Annotated[float | None, Range(0, 255), "noise level in 8-bit units; none: estimate it"] = None,
    model: Annotated[str, "denoise (shipped), nlm (OpenCV non-local means) or a run"] = "denoise",
    tile: Annotated[int, Range(0, 8192), TILE_HELP] = AUTO,
    self_ensemble: Annotated[bool, ENSEMBLE_HELP] = False,
) -> TaskResult:
    """Remove noise with a learned denoiser (the shipped DRUNet); the noise level is estimated unless given (alpha kept)."""
    from atelier.tasks.restore import denoise

    net = load_denoise_net(ctx, model, tile, sigma, self_ensemble)
    ctx.report(0, 1, "denoising")
    kwargs = {} if ctx.max_pixels is None else {"max_pixels": ctx.max_pixels}
    out, level = denoise(image, sigma="auto" if sigma is None else sigma, model=net, tile=tile_argument(tile),
                         device=ctx.torch_device(), return_sigma=True, self_ensemble=self_ensemble, **kwargs)
    ctx.report(1, 1, "denoised")
    return TaskResult(images={"image": out}, data={"sigma": round(float(level), 2)})
