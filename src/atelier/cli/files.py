"""What the file-processing commands (``edit``, ``upscale``, ``denoise``) share: the output
format check, and running the jobs with a progress bar, skipped-file lines and exit codes.

A failed file is named once: ``skipped photos/b.png: truncated image`` (a batch goes on), or
for a single input ``error: b.png: truncated image`` and exit code 2."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import typer

from atelier.cli.progress import progress_bar
from atelier.errors import InvalidArgument

FORMATS = ("png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp")


def check_format(format: Optional[str]) -> None:
    """One clear line for an unknown ``--format`` (or one atelier cannot write, like gif)."""
    if format is None:
        return
    key = format.lower().strip().lstrip(".")
    if key in FORMATS:
        return
    from atelier.tasks.batch import OTHER_IMAGE_SUFFIXES

    if "." + key in OTHER_IMAGE_SUFFIXES:
        raise InvalidArgument(f"--format {format}: atelier cannot write {key.upper()} files; use png, jpg, webp, tif or bmp")
    raise InvalidArgument(f"unknown --format {format!r}; use png, jpg, webp, tif or bmp")


def run_files(label: str, jobs: Sequence[Any], processor: Any, *, workers: Optional[int], options: Any, output: str) -> None:
    """``run_jobs`` under a progress bar; a bad file is reported and skipped.

    Exit codes: 0 when every file was written; 1 when some failed; 2 when none could be done
    (or the only one failed, whose error line is then the whole output).
    """
    from atelier.tasks.batch import run_jobs

    failures = []
    with progress_bar(label, total=len(jobs)) as advance:

        def on_result(result):
            if result.note:
                typer.echo(f"{result.job.source}: {result.note}", err=True)
            if not result.ok:
                failures.append(result)
                if len(jobs) > 1:
                    typer.echo(f"skipped {result.job.source}: {result.error}", err=True)
            advance()

        run_jobs(jobs, processor, workers=workers, options=options, on_result=on_result)
    done = len(jobs) - len(failures)
    if len(jobs) == 1 and failures:  # the one file failed: its error is the whole answer
        typer.echo(f"error: {failures[0].job.source}: {failures[0].error}", err=True)
        raise SystemExit(2)
    typer.echo(f"{done} of {len(jobs)} images written to {output}", err=True)
    if failures:
        raise SystemExit(2 if done == 0 else 1)
