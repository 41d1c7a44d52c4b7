"""Task ``explain``: where a classifier looked for a class, as a heat map over the image
(class-activation map, or Grad-CAM for the small CNN)."""

from __future__ import annotations

from typing import Annotated

import numpy as np

from atelier.ops.registry import Range
from atelier.tasks.catalog._models import cached_model, model_named
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task


@register_task("explain", inputs=[InputSpec("image", "image", help="The image to explain.")],
               category="describe", precheck=model_named())
def explain_task(
    ctx: TaskContext,
    image: np.ndarray,
    *,
    model: Annotated[str, "a classifier run (atelier train classifier)"],
    class_name: Annotated[str | None, "the class to explain (none: the predicted one)"] = None,
    alpha: Annotated[float, Range(0.0, 1.0), "opacity of the heat map"] = 0.5,
) -> TaskResult:
    """Draw the class-activation map of a class over the image (where the classifier looked)."""
    from atelier.tasks.classify import load_classifier
    from atelier.tasks.explain import explain_image

    device = ctx.torch_device()
    source = ctx.model_source(model, "classifier")
    loaded = cached_model("classifier", source, device, lambda: load_classifier(source, device=device))
    ctx.report(0, 1, "explaining")
    overlay, info = explain_image(image, loaded, class_name=class_name, alpha=alpha, device=device)
    ctx.report(1, 1, "explained")
    text = f"{info['method']} of {info['class']} (probability {info['probability']:.3f})"
    return TaskResult(images={"image": overlay}, text=text, data=info)
