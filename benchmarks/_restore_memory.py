"""Peak memory of ``atelier.tasks.restore.upscale`` on a large input, each run in its own process.

The parent starts ``python _restore_memory.py SPEC SIZE TILE PHOTO RESULT``; the child
reports its own peak resident set size, ``VmHWM`` of ``/proc/self/status`` (a fresh process
per tile, so one run's peak never hides another's). Not ``ru_maxrss`` from ``wait4``: that
counts the parent's pages the child shared between fork and exec, and a parent that has run
the speed part holds gigabytes. The child loads the model
(``SPEC``: a shipped name, a run folder, ``bicubic``), resizes ``PHOTO`` to ``SIZE x SIZE``
(``cv2.INTER_CUBIC``), notes its RSS (interpreter + torch + model + input: the floor), then
upscales x4 with ``tile`` and writes the time and the floor to ``RESULT`` (JSON).

The tile is the one ``atelier upscale`` uses by default (read from the command's signature);
when that run is over the limit, smaller tiles (halving, not below the model's smallest
tile) are run too, until one passes.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCALE = 4


def cli_default_tile(net: Any) -> int:
    """The tile ``atelier upscale`` uses by default (``--tile 0``: auto, read from the command's
    signature) for the loaded x4 model ``net``."""
    from atelier.cli.restore import upscale
    from atelier.tasks.restore import resolve_tile
    from atelier.tasks.tiling import tile_argument

    default = tile_argument(int(inspect.signature(upscale).parameters["tile"].default.default))
    return int(resolve_tile(net, default))


def run_child(spec: str, size: int, tile: int, photo: Path) -> dict[str, Any]:
    """One child run: seconds, floor RSS and peak RSS (MiB), or the child's error."""
    with tempfile.TemporaryDirectory(prefix="atelier-restoration-mem-") as tmp:
        result, log = Path(tmp) / "result.json", Path(tmp) / "stderr.txt"
        with open(log, "w") as err:
            proc = subprocess.Popen([sys.executable, __file__, spec, str(size), str(tile), str(photo),
                                     str(result)], stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        out: dict[str, Any] = {"tile": tile, "size": size, "returncode": proc.returncode,
                               "wait4_maxrss_mib": usage.ru_maxrss / 1024}
        if proc.returncode != 0 or not result.is_file():
            lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
            out["error"] = lines[-1] if lines else f"exit {proc.returncode}"
            return out
        out.update(json.loads(result.read_text()))
    return out


def memory_part(spec: str, photo: Path, size: int, limit_mib: float) -> dict[str, Any]:
    """Default-tile run, then halved tiles while over ``limit_mib``."""
    from atelier.tasks.restore import load_sr_model, min_tile

    net = load_sr_model(spec, SCALE)
    tile, smallest = cli_default_tile(net), min_tile(net)
    runs = [run_child(spec, size, tile, photo)]
    while "error" not in runs[-1] and runs[-1]["peak_rss_mib"] >= limit_mib and tile // 2 >= max(smallest, 16):
        tile //= 2
        runs.append(run_child(spec, size, tile, photo))
    return {"model": spec, "size": size, "scale": SCALE, "limit_mib": limit_mib,
            "cli_default_tile": runs[0]["tile"], "min_tile": smallest, "runs": runs}


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    """This process's peak RSS since its exec (``VmHWM``, kB)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def _child(spec: str, size: int, tile: int, photo: str, result: str) -> None:
    import cv2

    from atelier.image import load_image
    from atelier.tasks.restore import load_sr_model, upscale

    net = load_sr_model(spec, SCALE)
    img = cv2.resize(load_image(photo, mode="rgb"), (size, size), interpolation=cv2.INTER_CUBIC)
    floor = _rss_mib()
    start = time.perf_counter()
    out = upscale(img, SCALE, net, tile=tile)
    seconds = time.perf_counter() - start
    Path(result).write_text(json.dumps({"seconds": seconds, "floor_rss_mib": floor,
                                        "peak_rss_mib": _peak_rss_mib(), "output_shape": list(out.shape)}))


if __name__ == "__main__":
    a = sys.argv[1:]
    _child(a[0], int(a[1]), int(a[2]), a[3], a[4])
