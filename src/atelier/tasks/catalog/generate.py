"""Task ``generate``: images from a text prompt, with a text diffusion model or a text GAN."""

from __future__ import annotations

from typing import Annotated, Literal

from atelier.errors import InvalidArgument
from atelier.ops.registry import Range
from atelier.tasks.catalog._grid import grid_of
from atelier.tasks.catalog._models import cached_model, model_named
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task


@register_task("generate", inputs=[InputSpec("prompt", "text", help="What to draw, e.g. 'a red circle left of a blue square'.")],
               category="generate", precheck=model_named())
def generate_task(
    ctx: TaskContext,
    prompt: str,
    *,
    model: Annotated[str, "a shipped text-to-image model (t2i-scenes, t2i-emoji) or a run"] = "t2i-scenes",
    n: Annotated[int, Range(1, 64), "number of images"] = 8,
    steps: Annotated[int, Range(1, 1000), "diffusion: sampling steps"] = 25,
    sampler: Annotated[Literal["ddim", "dpm", "ddpm"], "diffusion: the sampler"] = "ddim",
    guidance: Annotated[float | None, Range(0, 30), "diffusion: guidance scale (none: the model's)"] = None,
) -> TaskResult:
    """Generate images from a text prompt (a grid of n images)."""
    from atelier.tasks.diffusion_model import load_diffusion
    from atelier.tasks.diffusion_sample import generate_images
    from atelier.tasks.text_gan import generate_text_gan, is_text_gan_source, load_text_gan

    device = ctx.torch_device()
    source = ctx.model_source(model)
    if is_text_gan_source(source):
        net = cached_model("text-gan", source, device, lambda: load_text_gan(source, device=device))
        ctx.report(0, 1, "generating")
        images = generate_text_gan(net, [prompt], n, ctx.seed).astype("float32") / 255.0
        ctx.report(1, 1, "generated")
    else:
        net = cached_model("diffusion", source, device, lambda: load_diffusion(source, device=device))
        if net.cond != "text":
            raise InvalidArgument(f"{model} is not a text-to-image model: use the task sample")
        images = generate_images(net, prompts=[prompt], n=n, steps=steps, sampler=sampler, guidance=guidance,
                                 seed=ctx.seed, device=device, dtype="float32",
                                 progress=lambda done, total: ctx.report(done, total, "generating"))
    return TaskResult(images={"image": grid_of(images)}, data={"n": n, "prompt": prompt})
