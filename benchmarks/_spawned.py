"""Run benchmark candidates each in a freshly spawned process, in alternating order.

A spawned process starts bare (no fork of the parent's heap, no warm caches), so its
``resource.getrusage`` max RSS is that candidate's alone and no candidate inherits another's
allocator state. ``alternating`` runs the candidates in turn for several rounds, the order
reversed every other round (A B, B A, A B, ...), so a slow drift of the machine (another
job starting) hits both alike.

Example
-------
    runs = alternating({"a": (fn_a, (x,)), "b": (fn_b, (x,))}, rounds=3)
    best = {k: max(r["images_per_s"] for r in v) for k, v in runs.items()}

Each ``fn`` must be a module-level function (spawn pickles it by name) returning a dict.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
from collections.abc import Callable
from typing import Any


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _entry(fn: Callable[..., dict[str, Any]], args: tuple, threads: int | None, queue) -> None:
    try:
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        out = fn(*args)
        out["peak_rss_mib"] = peak_rss_mib()
        out["threads"] = torch.get_num_threads()
        out["load_avg_after"] = list(os.getloadavg())
        queue.put(out)
    except BaseException as exc:  # noqa: BLE001 - report it; the parent raises
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def call_spawned(
    fn: Callable[..., dict[str, Any]], *args: Any, name: str = "", threads: int | None = None
) -> dict[str, Any]:
    """``fn(*args)`` in a new spawned process (``torch.set_num_threads(threads)`` first unless
    None: torch's default); its dict plus ``peak_rss_mib``, ``threads``, ``load_avg_before``
    and ``load_avg_after``. A failure in the child raises here."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    before = list(os.getloadavg())
    proc = ctx.Process(target=_entry, args=(fn, args, threads, queue))
    proc.start()
    out = queue.get()
    proc.join()
    if "error" in out:
        raise RuntimeError(f"{name or fn.__name__} run failed: {out['error']}")
    out["load_avg_before"] = before
    return out


def alternating(
    candidates: dict[str, tuple[Callable[..., dict[str, Any]], tuple]],
    rounds: int,
    after: Callable[[str, dict[str, Any]], None] | None = None,
    threads: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """``rounds`` spawned runs of each candidate ``name: (fn, args)``, in turn, the order
    reversed every other round; ``after(name, out)`` sees each result as it arrives;
    ``threads`` as in :func:`call_spawned`."""
    names = list(candidates)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            fn, args = candidates[name]
            out = call_spawned(fn, *args, name=name, threads=threads)
            out["round"] = r
            runs[name].append(out)
            if after is not None:
                after(name, out)
    return runs
