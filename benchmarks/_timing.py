"""Timing machinery shared by the benchmarks: interleaved adaptive runs, alternating long runs.

``measure`` times several candidates that do the same job (atelier and its peers) in
interleaved rounds (A B C, B C A, C A B, ...) so slow drifts of the machine hit all of them
alike and none always follows the same one. Each candidate is called once to warm up and once
to calibrate; calls under ``run_s`` are repeated back to back within a run (timeit-style) so a
run lasts about ``run_s``; the run count is adaptive (about ``budget_s`` per candidate,
clamped to [min_runs, max_runs]). Report the median of the runs.

``alternate`` times a few long calls (a command over a folder, a thread pool) a few times
each, in turn (A B, A B, ...); report the best.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Collection

import numpy as np


@dataclass(frozen=True)
class Timing:
    budget_s: float = 1.0  # timed seconds aimed at per candidate
    run_s: float = 0.02  # calls faster than this are repeated within one run
    min_runs: int = 3
    max_runs: int = 50


QUICK = Timing(budget_s=0.1, run_s=0.005, min_runs=1, max_runs=3)  # smoke runs


def clock(fn: Callable[[], Any], calls: int = 1) -> float:
    """Seconds per call of ``fn`` over ``calls`` back-to-back calls.

    Each output is freed when the next call returns, as in a pipeline; freeing the last one
    is not timed.
    """
    start = time.perf_counter()
    for _ in range(calls):
        result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed / calls


def measure(
    fns: dict[str, Callable[[], Any]], timing: Timing, keep: Collection[str] = ()
) -> tuple[dict[str, list[float]], dict[str, int], dict[str, Any]]:
    """Warm up every candidate, then time them in interleaved rounds.

    Returns (seconds per call of every run, calls per run, warm-up outputs of the candidates
    named in ``keep``). A second call calibrates each candidate: calls faster than
    ``timing.run_s`` are repeated back to back within one run (so a run lasts about
    ``run_s``; the calibration call is then discarded, else it is the first run), and the
    number of runs is ``timing.budget_s`` / run time, clamped to [min_runs, max_runs].
    """
    outputs = {}
    for k, f in fns.items():
        output = f()
        if k in keep:
            outputs[k] = output
        del output  # peers' outputs can be large (float64): free each before the next call
    calls, want = {}, {}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for k, f in fns.items():
        once = max(clock(f), 1e-7)
        calls[k] = int(min(1000, max(1, np.ceil(timing.run_s / once))))
        if calls[k] == 1:  # a slow call: the calibration is a valid first run
            times[k].append(once)
        runs = round(timing.budget_s / (calls[k] * once))
        want[k] = int(min(timing.max_runs, max(timing.min_runs, runs)))
    order, rounds = list(fns), 0
    while any(len(times[k]) < want[k] for k in fns):
        # Rotate the order every round, so no candidate always runs right after the same
        # one (which leaves the caches and the allocator warm or cold for it).
        for k in order[rounds % len(order) :] + order[: rounds % len(order)]:
            if len(times[k]) < want[k]:
                times[k].append(clock(fns[k], calls[k]))
        rounds += 1
    return times, calls, outputs


def alternate(
    fns: dict[str, Callable[[], Any]],
    repeats: int,
    after: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds of ``repeats`` runs of each long call, run in turn (A B, A B, ...).

    ``after(name)``, when given, runs untimed after each run (checks, clean-up).
    """
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            times[k].append(clock(f))
            if after is not None:
                after(k)
    return times
