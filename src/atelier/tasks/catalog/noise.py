"""Task ``noise``: a procedural noise image (Perlin, value or white noise), from a seed alone."""

from __future__ import annotations

from typing import Annotated, Literal

from atelier.image import DEFAULT_MAX_PIXELS
from atelier.ops.registry import Range
from atelier.tasks.catalog.texture import MAX_SIDE, check_size
from atelier.tasks.registry import TaskContext, TaskResult, register_task


@register_task("noise", category="generate", precheck=check_size)
def noise_task(
    ctx: TaskContext,
    *,
    kind: Annotated[Literal["perlin", "value", "white"], "perlin: gradient noise (Perlin 2002); value: "
                                                         "smoothed random lattice values; white: random pixels"] = "perlin",
    width: Annotated[int, Range(1, MAX_SIDE), "width of the result in pixels"] = 512,
    height: Annotated[int, Range(1, MAX_SIDE), "height of the result in pixels"] = 512,
    scale: Annotated[float, Range(0, 1e6, low_open=True), "size of the largest features (lattice cell) in pixels"] = 64.0,
    octaves: Annotated[int, Range(1, 16), "octaves summed, each finer than the last"] = 4,
    persistence: Annotated[float, Range(0, 1, low_open=True), "weight of an octave relative to the previous one"] = 0.5,
    lacunarity: Annotated[float, Range(1, 16, low_open=True), "frequency of an octave relative to the previous one"] = 2.0,
    channels: Annotated[Literal[1, 3], "1: grey; 3: colour (independent noise per channel)"] = 1,
    tileable: Annotated[bool, "wrap around: copies side by side show no seam"] = False,
) -> TaskResult:
    """Draw a procedural noise image (Perlin, value or white noise; fractal octaves; tileable)."""
    from atelier.ops.noise import noise_image

    ctx.report(0, 1, "drawing noise")
    out = noise_image(height, width, kind=kind, scale=scale, octaves=octaves, persistence=persistence,
                      lacunarity=lacunarity, channels=channels, tileable=tileable, seed=ctx.seed,
                      max_pixels=DEFAULT_MAX_PIXELS if ctx.max_pixels is None else ctx.max_pixels)
    ctx.report(1, 1, "done")
    return TaskResult(images={"image": out})
