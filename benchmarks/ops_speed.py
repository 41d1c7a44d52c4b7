"""Speed of every registered op against raw OpenCV, Pillow and scikit-image, plus batch scaling.

What it measures
----------------
1. Every op in ``atelier.ops.list_ops()`` (new ops are never skipped: an op without an entry in
   ``_op_cases.OP_CASES`` is listed as "no case") on a 2048 x 2048 RGB uint8 photo
   (scikit-image's astronaut, resized with ``cv2.INTER_CUBIC``), with representative
   parameters, next to

   * **raw OpenCV**: the call sequence a user would write by hand for the same result
     (``cv2.GaussianBlur(img, (0, 0), 2)``); where OpenCV has no single call the row's note
     says "hand-written" and the reference is the shortest OpenCV/numpy recipe
     (``_recipes``);
   * **Pillow**: the same operation on a PIL image prepared beforehand -- the numpy <-> PIL
     conversions are *not* timed, the most favourable measurement for Pillow;
   * **scikit-image**: the same operation on the same uint8 numpy array; its conversion to
     float inside the call is timed, a conversion of the (float64) result back to uint8 is
     not.

   Where the peers' parameters or conventions cannot match exactly, the note says how.
   Extra rows time the colour-space conversions (``convert_color``) and the fidelity metrics
   (``mse``, ``psnr``, ``ssim`` against ``skimage.metrics`` and ``cv2.PSNR``).
2. ``atelier edit`` through the real command line (a subprocess) over a folder of 200
   photo-like 1024 x 768 JPEGs, with ``-j 1`` and ``-j 2`` (``_batch``): ``-j N`` runs N
   threads, each with single-threaded OpenCV (``-j 1`` too), and the command tunes glibc's
   allocator at start-up.

Timing (``_timing``): one warm-up call, one calibration call, then interleaved rounds
(A B C, B C A, ...); calls under 20 ms are repeated within a run so each run lasts about
20 ms; about 1 s per candidate (3 to 50 runs); the median time per call is reported. OpenCV
runs with its default thread count (printed in the header; Pillow and most of scikit-image
are single-threaded, which is part of why OpenCV-based code is faster). A candidate whose
single run would take more than 20 s at 2048 x 2048 (estimated from a 256 x 256 probe) is
measured, together with atelier's op, on the central 512 x 512 crop instead: its column
shows ``ms@512`` and the ratio uses atelier's time at 512 x 512. The machine's load average
is printed: other work on a small machine skews every figure, so compare ratios, and re-run
when the load is high.

How to run
----------
    .venv/bin/python benchmarks/ops_speed.py [--quick] [--json PATH] [--only NAME,...]
                                              [--skip-batch]

``--quick`` is a smoke run (1-3 repeats, 2 s limit before falling back to 512 x 512, 40
images in the folder, each batch mode and each machine control once). ``--only
gaussian_blur,batch`` runs some rows (and the folder run) only. JSON goes to
``benchmarks/results/ops_speed.json`` by default, with every single timing, the machine and
the library versions.

How to read the ratios
----------------------
* ``overhead = atelier / raw OpenCV`` at the same size; target <= 1.10 (the wrapper costs at
  most 10 %). ``+us`` is the same difference in microseconds: for ops that take well under a
  millisecond (crop), a fixed few-microsecond Python cost (argument checks) can break
  the 10 % rule while being irrelevant in practice; such misses (raw call under 1 ms, excess
  under 50 us) are marked "tiny".
* ``vs peer = atelier / fastest peer`` among Pillow and scikit-image; target <= 1.00 (no op
  slower than the fastest library that offers it). When peers were measured at different
  sizes, each is compared with atelier at its own size and the worst ratio is shown
  (``max_p atelier_p / peer_p``), which is atelier / fastest peer when sizes agree.
* ``diff`` is the mean absolute difference between atelier's and raw OpenCV's output (in
  output units, 0-255 for uint8): a sanity check that the two rows compute the same thing.
* ``atelier edit`` speedup = time with ``-j 1`` / time with ``-j 2`` (best of three runs
  each, alternating; wall clock of the whole command, start-up included); target >= 1.7.
  Read it next to the two machine controls, the same ratio (1 vs 2 workers, before and
  after the runs) for work that needs nothing from atelier (``_machine``):
  two CPU-bound pure-Python processes, about 2 on an idle 2-core machine (far lower: another
  load holds a core and the batch figure says nothing about atelier); and threads running
  an in-memory OpenCV kernel with the GIL released (4 tasks of 40 ``cv2.GaussianBlur``
  sigma 2 on 1024 x 768 x 3 uint8, OpenCV single-threaded, ``ThreadPoolExecutor(1)`` vs
  ``(2)``). The second is the machine's ceiling for SIMD image work -- two vCPUs can share
  vector units, caches or memory bandwidth (about 1.45 on the 2-vCPU development VM) -- and
  atelier's batch, all decoding, SIMD filtering and encoding, cannot be expected to beat it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import cv2

from atelier.cli.memory import tune_allocator
from atelier.ops import list_ops

from _batch import bench_batch, miss, report
from _inputs import make_inputs
from _machine import machine_info
from _op_cases import EXTRA_CASES, OP_CASES
from _op_rows import OVERHEAD_TARGET, PEER_TARGET, PEERS, PROBE, SIZE, SMALL, Row, bench_row
from _timing import QUICK, Timing

COLUMNS = {"atelier": "atelier", "cv2": "raw OpenCV", "pil": "Pillow", "sk": "scikit-image"}


def _fmt_ms(row: Row, cand: str) -> str:
    size = row.size.get(cand)
    if size is None:
        return "-"
    value = row.at(cand, size)
    text = f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return text if size == SIZE else f"{text}@{size}"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(title: str, rows: list[Row]) -> None:
    head = (
        f"{'op':26} {'atelier ms':>11} {'raw cv2 ms':>11} {'Pillow ms':>11} "
        f"{'skimage ms':>13} {'overhead':>8} {'+us':>8} {'vs peer':>11} {'diff':>7}  "
        f"{'status':22} note"
    )
    print(f"\n{title}\n{head}\n{'-' * len(head)}")
    for r in rows:
        if r.status == "no case":
            print(f"{r.name:26} {'no case':>11}")
            continue
        peer = f"{r.vs_peer:.2f} {r.fastest_peer}" if r.vs_peer is not None else "-"
        diff = r.diff if isinstance(r.diff, str) or r.diff is None else f"{r.diff:.2f}"
        note = r.note
        if any(r.size.get(c) == SMALL for c in ("cv2", *PEERS)):
            small = f"at {SMALL}x{SMALL}: atelier {r.at('atelier', SMALL):.1f} ms"
            note = f"{small}; {note}" if note else small
        print(
            f"{r.name:26} {_fmt_ms(r, 'atelier'):>11} {_fmt_ms(r, 'cv2'):>11} "
            f"{_fmt_ms(r, 'pil'):>11} {_fmt_ms(r, 'sk'):>13} {_fmt(r.overhead, '.2f'):>8} "
            f"{_fmt(r.overhead_us, '+.0f'):>8} {peer:>11} {diff or '-':>7}  {r.status:22} {note}"
        )


def print_misses(rows: list[Row], batch: dict | None) -> None:
    print("\nMisses")
    lines = []
    for r in rows:
        if "overhead" in r.misses or "overhead (tiny)" in r.misses:
            lines.append(
                f"  {r.name}: overhead {r.overhead:.2f} (target <= {OVERHEAD_TARGET:.2f}), "
                f"{r.overhead_us:+.0f} us per call"
                + (" -- tiny op, fixed Python cost" if "overhead (tiny)" in r.misses else "")
            )
        if "peer" in r.misses:
            name = COLUMNS[r.fastest_peer]
            lines.append(
                f"  {r.name}: {r.vs_peer:.2f}x the time of {name} (target <= {PEER_TARGET:.2f})"
            )
    batch_miss = miss(batch) if batch is not None else None
    if batch_miss is not None:
        lines.append(batch_miss)
    no_case = [r.name for r in rows if r.status == "no case"]
    if no_case:
        lines.append(f"  no case defined (not measured): {', '.join(no_case)}")
    print("\n".join(lines) if lines else "  none")


def print_header(machine: dict) -> None:
    print(
        f"ops_speed: {SIZE}x{SIZE} RGB uint8 (astronaut, INTER_CUBIC), "
        f"{_dt.datetime.now().isoformat(timespec='seconds')}"
    )
    print(
        f"machine: {machine['cpu']}, {machine['cpu_count']} CPUs; OpenCV threads "
        f"{machine['cv2_threads']} (Pillow and most of scikit-image use 1); load average "
        f"{machine['load_avg_at_start']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()))
    print(
        "Pillow is timed on a PIL image prepared beforehand (numpy<->PIL conversion not "
        "timed, its most favourable case); scikit-image on the same uint8 array (its float "
        "output is not converted back). Median of interleaved runs after one warm-up."
    )


def bench_rows(only: set[str], timing: Timing, slow_s: float) -> tuple[list[Row], list[Row]]:
    """Measure the registered ops and the extra rows (those named in ``only``, if any)."""
    full = make_inputs(SIZE)
    inputs = {SIZE: full, SMALL: make_inputs(SMALL, full), PROBE: make_inputs(PROBE, full)}
    rows: list[Row] = []
    for spec in list_ops():
        if only and spec.name not in only:
            continue
        case = OP_CASES.get(spec.name)
        if case is None:
            rows.append(Row(spec.name, "op", spec.category, status="no case"))
            continue
        rows.append(bench_row(spec.name, "op", spec.category, case, inputs, timing, slow_s))
        print(f"  measured {spec.name}", file=sys.stderr, flush=True)
    registered = {spec.name for spec in list_ops()}
    for name in sorted(set(OP_CASES) - registered):
        print(f"warning: case {name!r} matches no registered op", file=sys.stderr)
    extras = []
    for name, case in EXTRA_CASES.items():
        if only and name not in only:
            continue
        extras.append(bench_row(name, "extra", "extra", case, inputs, timing, slow_s))
        print(f"  measured {name}", file=sys.stderr, flush=True)
    return rows, extras


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few repeats, 40 images")
    parser.add_argument(
        "--json", type=Path, default=Path(__file__).parent / "results" / "ops_speed.json"
    )
    parser.add_argument(
        "--only", default="", help='comma-separated row names to run ("batch" for the folder run)'
    )
    parser.add_argument("--skip-batch", action="store_true", help="skip the `atelier edit` part")
    args = parser.parse_args(argv)
    quick = (QUICK, 2.0, 40, 1)  # timing, slow_s, batch images, batch repeats
    timing, slow_s, images, repeats = quick if args.quick else (Timing(), 20.0, 200, 3)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    warnings.filterwarnings("ignore", module="skimage")
    cv2.setNumThreads(-1)  # OpenCV's default (all cores)
    # The allocator settings of the `atelier` command, for every candidate alike: without
    # them, whichever call follows a large free pays for paging fresh memory in again.
    tune_allocator()
    started = time.perf_counter()
    machine = machine_info()
    print_header(machine)

    rows, extras = bench_rows(only, timing, slow_s)
    print_table(f"Registered ops ({len(rows)})", rows)
    print_table("Extra rows: second settings, colour conversions, fidelity metrics", extras)
    batch = None
    if not args.skip_batch and (not only or "batch" in only):
        batch = bench_batch(images, repeats)
        print("\n" + report(batch))
    print_misses(rows + extras, batch)
    runtime = time.perf_counter() - started
    print(f"\ntotal runtime {runtime:.0f} s")

    result = {
        "benchmark": "ops_speed",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "quick": args.quick,
        "image": f"{SIZE}x{SIZE} RGB uint8, skimage astronaut resized with INTER_CUBIC",
        "machine": {**machine, "load_avg_at_end": list(os.getloadavg())},
        "settings": {
            **asdict(timing), "slow_s": slow_s, "batch_images": images, "batch_repeats": repeats,
            "small_size": SMALL, "probe_size": PROBE,
            "overhead_target": OVERHEAD_TARGET, "peer_target": PEER_TARGET,
        },
        "rows": [vars(r) for r in rows + extras],
        "batch": batch,
        "runtime_s": round(runtime, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, default=str))
    print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
