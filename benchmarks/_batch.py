"""The folder benchmark: ``atelier edit`` over a folder of photos with ``-j 1`` and ``-j 2``.

It runs the real command line (a subprocess, start-up included), so it measures what a user
gets: ``-j N`` runs N threads, each editing whole images with single-threaded OpenCV
(``-j 1`` too: one thread, OpenCV single-threaded), and the command tunes glibc's allocator
when it starts (``atelier.cli.memory``), which a script calling the ops does not. The modes
alternate (j1 j2, j1 j2, ...) and each keeps its best run.

The speedup (-j 1 time / -j 2 time, target >= SPEEDUP_TARGET) only means something next to
the two machine controls (``_machine``), measured before and after the runs: pure-Python
processes (~2 when two cores are free) and threads running an OpenCV kernel (the ceiling for
SIMD image work on this machine, which can be well under 2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data as skdata

from _machine import OPENCV_CONTROL, opencv_control, python_control
from _timing import alternate, clock

PIPELINE = "autocontrast cutoff=1 | unsharp radius=2 amount=1 | resize scale=0.5"
SPEEDUP_TARGET = 1.7
MODES = {"j1": 1, "j2": 2}  # name -> workers


def make_photos(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` different 1024 x 768 JPEGs cut from scikit-image's bundled photos."""
    rng = np.random.default_rng(seed)
    sources = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket()]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = sources[i % len(sources)]
        h, w = src.shape[:2]
        ch = int(rng.uniform(0.6, 1.0) * min(h, w * 3 / 4))
        cw = ch * 4 // 3
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = src[y : y + ch, x : x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        photo = cv2.resize(np.ascontiguousarray(crop), (1024, 768), interpolation=cv2.INTER_CUBIC)
        Image.fromarray(photo).save(folder / f"photo_{i:03d}.jpg", quality=90)


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("atelier")
    return [str(script)] if script.exists() else [sys.executable, "-m", "atelier"]


def _controls(repeats: int) -> tuple[float, float, float]:
    """(pure-Python control, OpenCV control, 1-minute load average) now."""
    return python_control(repeats), opencv_control(repeats), os.getloadavg()[0]


def bench_batch(images: int, repeats: int) -> dict:
    """Time ``atelier edit`` over ``images`` photos, each mode ``repeats`` times, best kept."""
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
        src = Path(tmp) / "photos"
        make_photos(src, images)
        startup = min(
            clock(lambda: subprocess.run([*_cli(), "--help"], capture_output=True, check=True))
            for _ in range(3)
        )
        before = _controls(repeats)
        runs: dict[str, tuple[list[str], subprocess.CompletedProcess]] = {}

        def edit(mode: str) -> None:
            out = Path(tmp) / f"out-{mode}"
            cmd = [*_cli(), "edit", str(src), "-o", str(out), PIPELINE, "-j", str(MODES[mode])]
            runs[mode] = (cmd, subprocess.run(cmd, capture_output=True, text=True))

        def check(mode: str) -> None:  # untimed, after each run
            (cmd, done), out = runs[mode], Path(tmp) / f"out-{mode}"
            written = len(list(out.glob("*.jpg")))
            if done.returncode != 0 or written != images:
                raise RuntimeError(
                    f"{' '.join(cmd)} failed (exit {done.returncode}, {written} files):"
                    f"\n{done.stderr[-2000:]}"
                )
            shutil.rmtree(out)

        times = alternate({m: lambda m=m: edit(m) for m in MODES}, repeats, after=check)
        after = _controls(repeats)
    best = {m: min(t) for m, t in times.items()}
    speedup = best["j1"] / best["j2"]
    return {
        "images": images,
        "size": "1024x768 JPEG q90",
        "pipeline": PIPELINE,
        "workers": "-j N: N threads, each with single-threaded OpenCV; glibc allocator tuned",
        "runs_s": {m: [round(t, 3) for t in ts] for m, ts in times.items()},
        "best_s": {m: round(t, 3) for m, t in best.items()},
        "images_per_s": {m: round(images / t, 2) for m, t in best.items()},
        "cli_startup_s": round(startup, 3),
        "speedup": round(speedup, 3),
        # 2 workers vs 1, before and after the runs, best of `repeats` each
        "machine_control_speedup": [round(before[0], 2), round(after[0], 2)],  # pure Python
        "opencv_control_speedup": [round(before[1], 2), round(after[1], 2)],
        "opencv_control": OPENCV_CONTROL,
        "speedup_vs_opencv_control": round(2 * speedup / (before[1] + after[1]), 3),  # mean
        "load_avg_1min": [round(before[2], 2), round(after[2], 2)],
        "target": SPEEDUP_TARGET,
        "status": "pass" if speedup >= SPEEDUP_TARGET else "MISS",
    }


def report(batch: dict) -> str:
    """The batch part of the printed report."""
    b = batch
    modes = "".join(
        f"\n  -j {workers}: best {b['best_s'][m]:.2f} s ({b['images_per_s'][m]:.1f} "
        f"images/s), runs {b['runs_s'][m]}"
        for m, workers in MODES.items()
    )
    py, cv = b["machine_control_speedup"], b["opencv_control_speedup"]
    return (
        f"atelier edit over {b['images']} x {b['size']}: \"{b['pipeline']}\"\n"
        "  -j N runs N threads, each with single-threaded OpenCV; the CLI tunes glibc's "
        f"allocator{modes}\n"
        f"  speedup {b['speedup']:.2f} (target >= {b['target']}): {b['status']}; CLI start-up "
        f"(atelier --help) {b['cli_startup_s']:.2f} s is in both\n"
        "  machine controls, 2 workers vs 1 (before, after):\n"
        f"    pure Python, 2 processes (~2.0 when 2 cores are free): {py[0]:.2f}, {py[1]:.2f}\n"
        f"    OpenCV, 2 threads (this machine's ceiling for SIMD image work): {cv[0]:.2f}, "
        f"{cv[1]:.2f}\n      ({b['opencv_control']})\n"
        "  atelier's speedup / OpenCV control (mean of both): "
        f"{b['speedup_vs_opencv_control']:.2f}; "
        f"load average {b['load_avg_1min'][0]:.2f} -> {b['load_avg_1min'][1]:.2f}"
    )


def miss(batch: dict) -> str | None:
    """The line for the list of misses, or None when the speedup meets the target."""
    if batch["status"] == "pass":
        return None
    before, after = batch["opencv_control_speedup"]
    return (
        f"  atelier edit: speedup {batch['speedup']:.2f} with 2 workers (target >= "
        f"{batch['target']}; OpenCV control on this machine {before:.2f} before, {after:.2f} after)"
    )
