"""Task ``composite``: paste a masked region of a foreground into a background, blended by
Poisson cloning (OpenCV) or deep image blending (Zhang et al. 2020, VGG19 optimisation).

``at`` is where the centre of the mask's bounding box lands in the background (both methods;
the convention of :func:`atelier.ops.composite.seamless_clone`); default the middle.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np

from atelier.errors import InvalidArgument
from atelier.ops.registry import Range
from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task

#: Steps per pass of deep blending when none are given.
DEEP_STEPS = 50


def _check(ctx: TaskContext, params: dict[str, Any]) -> None:
    """Options that belong to the other method are a mistake, not silently ignored."""
    if params.get("method", "poisson") == "deep" and params.get("mode") is not None:
        raise InvalidArgument("mode (normal or mixed) is an option of method poisson; deep blending has no mode")
    for name in ("steps", "init"):
        if params.get("method", "poisson") == "poisson" and params.get(name) is not None:
            raise InvalidArgument(f"{name} is an option of method deep; poisson cloning solves in one go")


@register_task(
    "composite",
    inputs=[InputSpec("image", "image", help="The foreground: the picture to paste from."),
            InputSpec("mask", "mask", help="White (nonzero) on the foreground's pixels to paste, the foreground's size."),
            InputSpec("background", "image", help="The picture to paste into (its size and dtype are kept).")],
    category="edit",
    precheck=_check,
)
def composite_task(
    ctx: TaskContext,
    image: np.ndarray,
    mask: np.ndarray,
    background: np.ndarray,
    *,
    method: Annotated[Literal["poisson", "deep"], "poisson: Poisson cloning (OpenCV, instant); deep: deep image "
                                                  "blending (VGG19 optimisation, takes on the background's style)"] = "poisson",
    at: Annotated[tuple[int, int] | None, "x,y in the background where the centre of the mask's bounding box "
                                         "lands; default the middle"] = None,
    mode: Annotated[Literal["normal", "mixed"] | None, "poisson only: normal (foreground gradients, the default) "
                                                      "or mixed (the stronger of both)"] = None,
    steps: Annotated[int | None, Range(1, 2000), f"deep only: L-BFGS steps in each of its two passes "
                                                 f"(default {DEEP_STEPS})"] = None,
    init: Annotated[Literal["poisson", "paste", "noise"] | None, "deep only: where its first pass starts: the "
                                                               "Poisson clone (default), the plain paste, or "
                                                               "seeded noise (the paper's)"] = None,
) -> TaskResult:
    """Paste a masked region into a background, blended (Poisson cloning or deep image blending)."""
    from atelier.tasks.deep_blend import place_mask

    _check(ctx, {"method": method, "mode": mode, "steps": steps, "init": init})
    place = place_mask(mask, image.shape, background.shape, at)  # one wording of every mistake, for both methods
    centre = (place.x0 + place.w // 2, place.y0 + place.h // 2)
    if method == "poisson":
        from atelier.ops.composite import seamless_clone

        ctx.report(0, 1, "cloning")
        out = seamless_clone(background, image, mask, center=centre, mode=mode or "normal")
        ctx.report(1, 1, "cloned")
        return TaskResult(images={"image": out}, data={"method": method, "at": list(centre)})
    from atelier.tasks.deep_blend import deep_blend

    n = DEEP_STEPS if steps is None else steps
    done = [0]

    def on_step(loss: float) -> None:
        done[0] += 1
        ctx.report(done[0], 2 * n, f"pass {1 if done[0] <= n else 2}, loss {loss:.4g}")

    ctx.report(0, 2 * n, "blending")
    out, losses = deep_blend(image, mask, background, at=centre, steps=n, init=init or "poisson", device=ctx.torch_device(),
                             on_step=on_step, seed=ctx.seed, return_losses=True)
    return TaskResult(images={"image": out}, data={"method": method, "at": list(centre), "losses": losses})
