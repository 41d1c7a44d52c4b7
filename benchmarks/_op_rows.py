"""Measure and rate one row of the ops benchmark: atelier against raw OpenCV and its peers.

Every candidate is first probed on a PROBE x PROBE crop; one whose single run would take
more than ``slow_s`` at SIZE x SIZE is measured, together with atelier's op, on the central
SMALL x SMALL crop instead. The ratios then compare each peer with atelier at the same size:

* ``overhead = atelier / raw OpenCV``, target <= OVERHEAD_TARGET; a miss on an op whose raw
  call takes under TINY_MS and costs under TINY_US more is marked "tiny";
* ``vs_peer = atelier / fastest peer`` among Pillow and scikit-image (the worst of the
  per-size ratios when they were measured at different sizes), target <= PEER_TARGET;
* ``diff``: mean absolute difference of atelier's and raw OpenCV's outputs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np

import atelier

from _inputs import Inputs
from _op_cases import Case
from _timing import Timing, clock, measure

SIZE = 2048  # side of the test photo
SMALL = 512  # side of the crop used for peers too slow at full size
PROBE = 256  # side of the crop used to estimate full-size run times
OVERHEAD_TARGET = 1.10
PEER_TARGET = 1.00
TINY_MS = 1.0  # an overhead miss on an op faster than this (raw OpenCV) ...
TINY_US = 50.0  # ... that costs less than this many microseconds is marked "tiny"
PEERS = ("pil", "sk")


def _mean_abs_diff(a: Any, b: Any) -> float | str | None:
    """Mean absolute difference of two results (arrays of one shape, or numbers)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape:
            return f"shape {a.shape} vs {b.shape}"
        return float(cv2.norm(a.astype(np.float32), b.astype(np.float32), cv2.NORM_L1) / a.size)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b))
    return None


def _describe(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return f"<image {value.shape[1]}x{value.shape[0]}>"
    if isinstance(value, tuple):
        return [_describe(v) for v in value]
    return value


@dataclass
class Row:
    name: str
    kind: str  # "op" or "extra"
    category: str
    note: str = ""
    params: dict = field(default_factory=dict)
    ms: dict = field(default_factory=dict)  # "cand@size" -> median ms
    runs: dict = field(default_factory=dict)  # "cand@size" -> ms per call of every run
    calls_per_run: dict = field(default_factory=dict)  # "cand@size" -> calls timed per run
    size: dict = field(default_factory=dict)  # cand -> size it was measured at (peers, raw)
    diff: Any = None
    overhead: float | None = None
    overhead_us: float | None = None
    vs_peer: float | None = None
    fastest_peer: str | None = None
    status: str = "pass"
    misses: list = field(default_factory=list)

    def at(self, cand: str, size: int) -> float | None:
        return self.ms.get(f"{cand}@{size}")


def bench_row(
    name: str, kind: str, category: str, case: Case, inputs: dict, timing: Timing, slow_s: float
) -> Row:
    """Probe, measure and rate one case (``inputs``: size -> Inputs, at SIZE, SMALL, PROBE)."""
    row = Row(name, kind, category, note=case.note)
    spec = None if kind == "extra" else atelier.get_op(name)

    def bind(cand: str, d: Inputs) -> Callable[[], Any]:
        if cand == "atelier":
            if case.atelier is not None:
                return lambda: case.atelier(d)
            kwargs = case.kwargs(d) if callable(case.kwargs) else dict(case.kwargs)
            func, img = spec.func, d.img
            return lambda: func(img, **kwargs)
        fn = getattr(case, cand)
        return lambda: fn(d)

    if spec is not None:
        kw = case.kwargs(inputs[SIZE]) if callable(case.kwargs) else case.kwargs
        row.params = {k: _describe(v) for k, v in kw.items()}
    cands = ["atelier"] + [c for c in ("cv2", *PEERS) if getattr(case, c) is not None]

    # Estimate each candidate's full-size time from the best of two runs at PROBE size.
    scale = (SIZE / PROBE) ** 2
    slow = set()
    for cand in cands:
        fn = bind(cand, inputs[PROBE])
        if min(clock(fn), clock(fn)) * scale > slow_s:
            slow.add(cand)
    if "atelier" in slow or "cv2" in slow:  # the row's own times must stay comparable
        slow |= {"atelier", "cv2"} & set(cands)
    groups = {SIZE: [c for c in cands if c not in slow], SMALL: sorted(slow)}
    if slow and "atelier" not in slow:
        groups[SMALL].insert(0, "atelier")

    for size, group in groups.items():
        if not group:
            continue
        d = inputs[size]
        fns = {c: bind(c, d) for c in group}
        times, calls, outputs = measure(fns, timing, keep=("atelier", "cv2"))
        for cand, ts in times.items():
            row.ms[f"{cand}@{size}"] = 1e3 * statistics.median(ts)
            row.runs[f"{cand}@{size}"] = [round(1e3 * t, 4) for t in ts]
            row.calls_per_run[f"{cand}@{size}"] = calls[cand]
            if cand != "atelier" or size == SIZE or "atelier" in slow:
                row.size[cand] = size
        if "cv2" in outputs:
            row.diff = _mean_abs_diff(outputs["atelier"], outputs["cv2"])
    rate(row)
    return row


def rate(row: Row) -> None:
    """Ratios against raw OpenCV and the fastest peer (each at matching size), and the verdict."""
    if "cv2" in row.size:
        size = row.size["cv2"]
        ours, raw = row.at("atelier", size), row.at("cv2", size)
        row.overhead = ours / raw
        row.overhead_us = 1e3 * (ours - raw)
        if row.overhead > OVERHEAD_TARGET:
            tiny = raw < TINY_MS and row.overhead_us < TINY_US
            row.misses.append("overhead (tiny)" if tiny else "overhead")
    worst = None
    for peer in PEERS:
        if peer in row.size:
            size = row.size[peer]
            ratio = row.at("atelier", size) / row.at(peer, size)
            if worst is None or ratio > worst[0]:
                worst = (ratio, peer)
    if worst is not None:
        row.vs_peer, row.fastest_peer = worst
        if row.vs_peer > PEER_TARGET:
            row.misses.append("peer")
    if row.misses:
        row.status = "MISS " + "+".join(row.misses)
