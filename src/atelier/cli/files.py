"""Printing for the file-processing commands (``edit``, ``upscale``, ``denoise``): a progress
bar, a line per skipped file, the summary line and the exit code of
:class:`~atelier.tasks.batch.BatchSummary`.

A failed file is named once: ``skipped photos/b.png: truncated image`` (a batch goes on), or
for a single input ``error: b.png: truncated image`` and exit code 2."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import typer

from atelier.cli.progress import progress_bar
from atelier.tasks.batch import check_format, run_batch

__all__ = ["check_format", "run_files"]


def run_files(label: str, jobs: Sequence[Any], processor: Any, *, workers: Optional[int], options: Any, output: str) -> None:
    """``run_batch`` under a progress bar; a bad file is reported and skipped.

    Exit codes: 0 when every file was written; 1 when some failed; 2 when none could be done
    (or the only one failed, whose error line is then the whole output).
    """
    with progress_bar(label, total=len(jobs)) as advance:

        def on_result(result):
            if result.note:
                typer.echo(f"{result.job.source}: {result.note}", err=True)
            if not result.ok and len(jobs) > 1:
                typer.echo(f"skipped {result.job.source}: {result.error}", err=True)
            advance()

        summary = run_batch(jobs, processor, workers=workers, options=options, on_result=on_result)
    if summary.only_failure is not None:  # the one file failed: its error is the whole answer
        typer.echo(f"error: {summary.only_failure.job.source}: {summary.only_failure.error}", err=True)
        raise SystemExit(2)
    typer.echo(f"{summary.done} of {summary.total} images written to {output}", err=True)
    if summary.exit_code:
        raise SystemExit(summary.exit_code)
