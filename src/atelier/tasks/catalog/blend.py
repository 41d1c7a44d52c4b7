"""Task ``blend``: mix two images in a VAE's latent space (posterior means) and decode: one
blend, or a strip from the first image to the second."""

from __future__ import annotations

from typing import Annotated

import numpy as np

from atelier.errors import InvalidArgument
from atelier.ops.registry import Range
from atelier.tasks.catalog._models import cached_model, model_named
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task


@register_task(
    "blend",
    inputs=[InputSpec("image", "image", help="The first image."),
            InputSpec("other", "image", help="The second image.")],
    category="generate",
    precheck=model_named(),
)
def blend_task(
    ctx: TaskContext,
    image: np.ndarray,
    other: np.ndarray,
    *,
    model: Annotated[str, "a VAE: shipped vae-mnist or cvae-mnist, or a vae, vaegan or cvae run"] = "vae-mnist",
    weights: Annotated[tuple[float, ...] | None, "two weights >= 0, the first image's first (default 0.5,0.5)"] = None,
    steps: Annotated[int | None, Range(2, 64), "instead of one blend: a strip of this many images"] = None,
    label: Annotated[int | None, Range(0, 9999), "the images' class (a conditional VAE needs it)"] = None,
) -> TaskResult:
    """Blend two images through a VAE's latent space (one mix, or an interpolation strip)."""
    from atelier.tasks.latent_blend import latent_blend, load_vae, strip_image

    if weights is not None and steps is not None:
        raise InvalidArgument("give weights (one blend) or steps (a strip), not both")
    device = ctx.torch_device()
    source = ctx.model_source(model)
    net = cached_model("vae", source, device, lambda: load_vae(source, device=device))
    ctx.report(0, 1, "blending")
    out = latent_blend([image, other], net, weights=weights, steps=steps, label=label)
    if steps is not None:
        out = strip_image(out)
    ctx.report(1, 1, "blended")
    return TaskResult(images={"image": out})
