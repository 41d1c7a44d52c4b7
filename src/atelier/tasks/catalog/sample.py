"""Task ``sample``: draw images from a trained generator (GAN, VAE, diffusion), optionally of one class."""

from __future__ import annotations

from typing import Annotated, Literal

from atelier.errors import InvalidArgument
from atelier.ops.registry import Range
from atelier.tasks.catalog._grid import grid_of
from atelier.tasks.catalog._models import cached_model, model_named
from atelier.tasks.registry import TaskContext, TaskResult, register_task


@register_task("sample", category="generate", precheck=model_named())
def sample_task(
    ctx: TaskContext,
    *,
    model: Annotated[str, "a generator run (trained here) or a shipped one: diffusion-mnist, dcgan-mnist, "
                          "cgan-mnist, vae-mnist, cvae-mnist"] = "diffusion-mnist",
    n: Annotated[int, Range(1, 256), "number of images"] = 64,
    label: Annotated[int | None, Range(0, 9999), "class of a conditional model (none: every class in turn)"] = None,
    steps: Annotated[int, Range(1, 1000), "diffusion: sampling steps"] = 25,
    sampler: Annotated[Literal["ddim", "dpm", "ddpm"], "diffusion: the sampler"] = "ddim",
) -> TaskResult:
    """Draw a grid of samples from a trained generator (GAN, VAE or diffusion)."""
    from atelier.tasks.diffusion_model import is_diffusion_source, load_diffusion
    from atelier.tasks.diffusion_sample import generate_images
    from atelier.tasks.generate import load_generator, sample_images

    device = ctx.torch_device()
    source = ctx.model_source(model, "generator")
    if is_diffusion_source(source):
        net = cached_model("diffusion", source, device, lambda: load_diffusion(source, device=device))
        if net.cond == "text":
            raise InvalidArgument(f"{model} is a text-to-image model: use the task generate with a prompt")
        if label is not None and net.cond != "label":
            raise InvalidArgument(f"{model} is an unconditional model: it takes no label")
        images = grid_of(generate_images(
            net, labels=label, n=n, steps=steps, sampler=sampler, seed=ctx.seed, device=device, dtype="float32",
            progress=lambda done, total: ctx.report(done, total, "sampling")))
    else:
        net = cached_model("generator", source, device, lambda: load_generator(source, device=device))
        done = [0]

        def step(k: int) -> None:
            done[0] += k
            ctx.report(done[0], n, "sampling")

        images = grid_of(sample_images(net, n, seed=ctx.seed, labels=label, device=device, progress=step))
    return TaskResult(images={"image": images}, data={"n": n})
