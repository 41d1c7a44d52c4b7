"""Task ``caption``: describe an image in words, with where the captioner looked for each word."""

from __future__ import annotations

from typing import Annotated

import numpy as np

from atelier.ops.registry import Range
from atelier.tasks.catalog._models import cached_model, model_named
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task


@register_task("caption", inputs=[InputSpec("image", "image", help="The image to describe.")],
               category="describe", outputs=("attention",), precheck=model_named())
def caption_task(
    ctx: TaskContext,
    image: np.ndarray,
    *,
    model: Annotated[str, "a shipped captioner (caption-emoji, caption-scenes) or a run"] = "caption-emoji",
    beam: Annotated[int, Range(1, 16), "beam width (1: greedy)"] = 3,
) -> TaskResult:
    """Caption an image; the attention strip shows where the model looked for each word."""
    from atelier.tasks.caption import attention_strip, caption_images, load_caption_model

    device = ctx.torch_device()
    source = ctx.model_source(model, "captioner")
    loaded = cached_model("caption", source, device, lambda: load_caption_model(source, device=device))
    ctx.report(0, 1, "captioning")
    result = caption_images([image], loaded, beam=beam, device=device)[0]
    ctx.report(1, 1, "captioned")
    data = {k: result[k] for k in ("caption", "log_prob", "score", "words", "alternatives")}
    return TaskResult(images={"attention": attention_strip(image, result)}, text=result["caption"], data=data)
