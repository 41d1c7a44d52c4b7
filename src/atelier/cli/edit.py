"""``atelier edit INPUT... -o OUT "PIPELINE"``: run a pipeline of ops over files and folders."""

from __future__ import annotations

from typing import List, Optional

import typer

from atelier.cli.files import run_files
from atelier.image import DEFAULT_MAX_PIXELS
from atelier.ops.pipeline import Pipeline
from atelier.tasks.batch import SaveOptions, check_format, plan_jobs


def edit(
    inputs: List[str] = typer.Argument(..., help="Image files, folders or globs."),
    pipeline: str = typer.Argument(
        ..., help='Ops chained with |, e.g. "equalize | unsharp radius=2 amount=1.5".'
    ),
    output: str = typer.Option(..., "--output", "-o", help="Output file (one input) or folder."),
    format: Optional[str] = typer.Option(None, "--format", help="png, jpg, webp, tif or bmp."),
    quality: int = typer.Option(95, "--quality", min=1, max=100, help="JPEG/WebP quality."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
    workers: Optional[int] = typer.Option(
        None, "--workers", "-j", min=1, help="Files edited at once, one thread each (default: one per core)."
    ),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1),
) -> None:
    """Edit images with a pipeline of registered ops (see `atelier ops`).

    Over a folder the relative tree is kept. A bad file is reported and skipped; the exit code
    is 1 when some files failed and 2 when none could be done.
    """
    check_format(format)
    parsed = Pipeline.parse(pipeline)  # checked in full before any file is touched
    jobs = plan_jobs(inputs, output, format=format, overwrite=overwrite)
    options = SaveOptions(format=format, quality=quality, overwrite=overwrite, max_pixels=max_pixels)
    run_files("editing", jobs, parsed, workers=workers, options=options, output=output)


def register(app: typer.Typer) -> None:
    app.command("edit")(edit)
