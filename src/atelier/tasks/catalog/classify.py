"""Task ``classify``: the most probable classes of an image, by a trained classifier run."""

from __future__ import annotations

from typing import Annotated

import numpy as np

from atelier.ops.registry import Range
from atelier.tasks.catalog._models import cached_model, model_named
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task


@register_task("classify", inputs=[InputSpec("image", "image", help="The image to classify.")],
               category="describe", outputs=(), precheck=model_named())
def classify_task(
    ctx: TaskContext,
    image: np.ndarray,
    *,
    model: Annotated[str, "a classifier run (atelier train classifier)"],
    top: Annotated[int, Range(1, 1000), "how many classes to list, most probable first"] = 5,
) -> TaskResult:
    """Name the most probable classes of an image, with their probabilities."""
    from atelier.tasks.classify import classify_images, load_classifier

    device = ctx.torch_device()
    source = ctx.model_source(model, "classifier")
    loaded = cached_model("classifier", source, device, lambda: load_classifier(source, device=device))
    ctx.report(0, 1, "classifying")
    result = classify_images([image], loaded, top=top, device=device)[0]
    ctx.report(1, 1, "classified")
    text = ", ".join(f"{name} {p:.3f}" for name, p in result)
    return TaskResult(text=text, data={"top": [{"class": name, "probability": p} for name, p in result]})
