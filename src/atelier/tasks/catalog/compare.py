"""Task ``compare``: full-reference quality of an image against its reference (MSE, PSNR, SSIM)."""

from __future__ import annotations

import numpy as np

from atelier.tasks.registry import InputSpec, TaskContext, TaskResult, register_task


@register_task("compare", inputs=[InputSpec("image", "image", help="The image to score."),
                                  InputSpec("reference", "image", help="The reference, same size.")],
               category="measure", outputs=())
def compare_task(ctx: TaskContext, image: np.ndarray, reference: np.ndarray) -> TaskResult:
    """Score an image against a reference of the same size: MSE, PSNR (dB), SSIM."""
    from atelier.metrics import mse, psnr, ssim

    ctx.report(0, 1, "comparing")
    scores = {"mse": float(mse(reference, image)), "psnr": float(psnr(reference, image)),
              "ssim": float(ssim(reference, image))}
    ctx.report(1, 1, "compared")
    text = f"PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}, MSE {scores['mse']:.4g}"
    return TaskResult(text=text, data=scores)
