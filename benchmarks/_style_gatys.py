"""Gatys style transfer, atelier against the ``pastiche`` package's own command.

Both run as child processes on the same content and style files, at the same size and step
count, on the CPU, one after the other (atelier first, then pastiche, then atelier again if
``rounds`` > 1; the best time of each is kept). Both final images are then scored with the
same loss, atelier's :class:`~atelier.tasks.stylize.StyleProblem` (pastiche's own loss
definition: content ``relu4_2``, style Grams ``relu1_1`` .. ``relu5_1``), on the content
resized once by atelier, so a lower loss means a better optimum of the same objective.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ATELIER = [sys.executable, "-m", "atelier.cli.main", "stylize"]
PASTICHE = [sys.executable, "-m", "pastiche"]


def _run(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed: {lines[-1] if lines else done.returncode}")
    return seconds


def final_loss(image_path: Path, content_path: Path, style_path: Path, size: int) -> float:
    """atelier's Gatys loss of a finished image (resized to the problem's size if needed)."""
    import torch

    from atelier.image import load_image
    from atelier.nets.vgg19 import VGG19
    from atelier.tasks.stylize import CONTENT_TAP, STYLE_TAPS, StyleProblem, fit_size, resize_tensor, rgb_tensor

    content = rgb_tensor(load_image(content_path, mode="rgb"))
    h, w = fit_size(content.shape[-2], content.shape[-1], size)
    content = resize_tensor(content, h, w)
    problem = StyleProblem(VGG19(taps=(CONTENT_TAP, *STYLE_TAPS)), content,
                           [rgb_tensor(load_image(style_path, mode="rgb"))], [1.0],
                           content_weight=1.0, tv_weight=0.0)
    result = resize_tensor(rgb_tensor(load_image(image_path, mode="rgb")), h, w)
    with torch.no_grad():
        return float(problem.loss(result))


def gatys_part(content: Path, style: Path, size: int, steps: int, rounds: int = 1) -> dict[str, Any]:
    """Seconds and final loss of ``atelier stylize`` and ``pastiche`` (best of ``rounds``)."""
    out: dict[str, Any] = {"content": str(content), "style": str(style), "size": size, "steps": steps}
    with tempfile.TemporaryDirectory(prefix="atelier-gatys-") as tmp:
        paths = {"atelier": Path(tmp) / "atelier.png", "pastiche": Path(tmp) / "pastiche.png"}
        cmds = {
            "atelier": [*ATELIER, str(content), "--style", str(style), "-o", str(paths["atelier"]),
                        "--size", str(size), "--steps", str(steps), "--overwrite"],
            "pastiche": [*PASTICHE, "--content", str(content), "--styles", str(style), "--output",
                         str(paths["pastiche"]), "--size", str(size), "--num-steps", str(steps),
                         "--device", "cpu", "--no-verbose"],
        }
        seconds: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(rounds):
            for name, cmd in cmds.items():
                seconds[name].append(_run(cmd))
        out["seconds"] = {k: min(v) for k, v in seconds.items()}
        out["all_seconds"] = seconds
        out["loss"] = {k: final_loss(p, content, style, size) for k, p in paths.items()}
        out["commands"] = {k: " ".join(v) for k, v in cmds.items()}
    out["speedup"] = out["seconds"]["pastiche"] / out["seconds"]["atelier"]
    out["loss_ratio"] = out["loss"]["atelier"] / out["loss"]["pastiche"]
    return out
