"""What the benchmarks ran on: the machine, the library versions, and two parallel controls.

The controls measure the speedup of 2 workers over 1 on work that needs nothing from atelier,
so a parallel figure of atelier's can be read against what this machine gives at all:

* ``python_control``: two CPU-bound pure-Python processes vs the same two jobs in one. About
  2 on an idle 2-core machine; far lower means another load holds a core.
* ``opencv_control``: an in-memory OpenCV kernel that releases the GIL, single-threaded
  OpenCV, in ``ThreadPoolExecutor(1)`` vs ``(2)``. Image work is SIMD work, and two vCPUs
  can share a physical core's vector units, caches or memory bandwidth: this ratio is the
  machine's ceiling for image work, which can be well under the first.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import cv2
import numpy as np
import PIL
import scipy
import skimage
from skimage import data as skdata

import atelier

from _timing import alternate

BLUR_TASKS, BLURS_PER_TASK, BLUR_SIGMA = 4, 40, 2.0
OPENCV_CONTROL = (
    f"{BLUR_TASKS} tasks x {BLURS_PER_TASK} cv2.GaussianBlur(sigma {BLUR_SIGMA:g}) of 1024x768x3 "
    "uint8, OpenCV single-threaded, ThreadPoolExecutor(2) vs (1)"
)


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cv2_threads": cv2.getNumThreads(),
        "load_avg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "numpy": np.__version__,
            "cv2": cv2.__version__,
            "PIL": PIL.__version__,
            "skimage": skimage.__version__,
            "scipy": scipy.__version__,
            "atelier": atelier.__version__,
        },
    }


def _best_ratio(one: Callable[[], Any], two: Callable[[], Any], repeats: int) -> float:
    """Best time with 1 worker / best time with 2 (runs alternate)."""
    times = alternate({"one": one, "two": two}, repeats)
    return min(times["one"]) / min(times["two"])


def _burn(n: int) -> int:
    """Pure-Python CPU work for the process control."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def python_control(repeats: int = 1, n: int = 6_000_000) -> float:
    """Speedup of two processes over one running the same two CPU-bound jobs (2 when two
    cores are free, 1 when only one is)."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ctx.Pool(2) as pool:
        pool.map(_burn, [1, 1])  # start the workers first
        return _best_ratio(
            lambda: [_burn(n), _burn(n)],
            lambda: pool.map(_burn, [n, n], chunksize=1),
            repeats,
        )


def opencv_control(repeats: int = 1) -> float:
    """Speedup of 2 threads over 1 running in-memory OpenCV blurs (see ``OPENCV_CONTROL``).

    Each task blurs into its own preallocated output, so neither the allocator nor page
    faults are measured: only the kernel, with the GIL released.
    """
    photo = cv2.resize(skdata.astronaut(), (1024, 768), interpolation=cv2.INTER_CUBIC)
    outputs = [np.empty_like(photo) for _ in range(BLUR_TASKS)]

    def task(out: np.ndarray) -> None:
        for _ in range(BLURS_PER_TASK):
            cv2.GaussianBlur(photo, (0, 0), BLUR_SIGMA, dst=out)

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with ThreadPoolExecutor(1) as one, ThreadPoolExecutor(2) as two:
            list(two.map(task, outputs[:2]))  # start both pools' threads first
            list(one.map(task, outputs[:1]))
            return _best_ratio(
                lambda: list(one.map(task, outputs)), lambda: list(two.map(task, outputs)), repeats
            )
    finally:
        cv2.setNumThreads(threads)


def torch_machine_info() -> dict:
    """:func:`machine_info` plus the torch version and its intra-op thread count."""
    import torch

    info = machine_info()
    info["versions"]["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    return info
