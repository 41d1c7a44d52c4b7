"""The shared ending of the table benchmarks (restoration, captioning): the aligned table of
``(part, measure, target, measured, result)`` rows, the part times and the JSON file.

Example
-------
    rows = [("scenes", "exact match", ">= 90 %", "92.3 %", "PASS")]
    finish_report(result, rows, started, "captioning benchmark (full)", Path("out.json"))
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

HEAD = ("part", "measure", "target", "measured", "result")


def print_table(rows: list) -> None:
    """Print ``rows`` (tuples of five cells) under ``HEAD``, columns aligned."""
    cells = [HEAD] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(HEAD))]
    for j, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def finish_report(result: dict[str, Any], rows: list, started: dt.datetime, title: str, path: Path) -> None:
    """Store ``rows`` and the total time in ``result``, print the title line (with torch,
    CPUs, threads and load from ``result["machine"]``), the table and the part times, and
    write ``result`` as JSON to ``path``."""
    import torch

    result["rows"] = [dict(zip(HEAD, r)) for r in rows]
    result["total_seconds"] = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    m = result["machine"]
    print()
    print(f"{title}, torch {torch.__version__}, {m['cpus_usable']} CPUs, {m['torch_threads']} torch threads, "
          f"load {m['load_avg_at_start']}")
    print_table(rows)
    print("\npart times: " + ", ".join(f"{k} {v:.1f} s" for k, v in result["part_seconds"].items())
          + f"; total {result['total_seconds']:.1f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str))
    print(f"JSON: {path}")
