"""Task ``edit``: a pipeline of classic ops (``atelier ops`` lists them) on one image."""

from __future__ import annotations

from typing import Annotated

import numpy as np

from atelier.ops.pipeline import Pipeline
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task


def _parse(ctx: TaskContext, params: dict) -> None:
    Pipeline.parse(params["pipeline"], allow_files=ctx.allow_paths)


@register_task("edit", inputs=[InputSpec("image", "image", help="The photo to edit.")], category="edit",
               precheck=_parse)
def edit_task(
    ctx: TaskContext,
    image: np.ndarray,
    *,
    pipeline: Annotated[str, 'ops chained with |, e.g. "equalize | unsharp amount=1.5"'],
) -> TaskResult:
    """Edit an image with a pipeline of classic ops (colour, histogram, filters, geometry)."""
    parsed = Pipeline.parse(pipeline, allow_files=ctx.allow_paths)
    ctx.report(0, len(parsed.stages), "editing")
    for i, stage in enumerate(parsed.stages):
        image = stage.op.func(image, **stage.kwargs)
        ctx.report(i + 1, len(parsed.stages), str(stage))
    return TaskResult(images={"image": image})
