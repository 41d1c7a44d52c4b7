"""``atelier compare A B``: fidelity metrics between two images or two folders."""

from __future__ import annotations

import json
import math
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from atelier.image import DEFAULT_MAX_PIXELS
from atelier.tasks.compare import compare_paths


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.4f}"


def compare(
    a: str = typer.Argument(..., help="Image or folder."),
    b: str = typer.Argument(..., help="Image or folder (matched to A by relative file name)."),
    metrics: str = typer.Option("psnr,ssim", "--metrics", help="mse, psnr, ssim, ms_ssim."),
    channel: str = typer.Option("rgb", "--channel", help="rgb, or y (BT.601 luma, SR protocol)."),
    crop: int = typer.Option(0, "--crop", min=0, help="Pixels cropped from each border."),
    data_range: Optional[float] = typer.Option(None, "--data-range", help="Default: from dtype."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1),
) -> None:
    """Measure how close B is to A (PSNR in dB; SSIM and MS-SSIM in [0, 1])."""
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    rows = compare_paths(
        a, b, names, channel=channel, crop=crop, data_range=data_range, max_pixels=max_pixels
    )
    if as_json:
        data = [
            {"name": r.name, **{k: (v if math.isfinite(v) else "inf") for k, v in r.scores.items()}}
            for r in rows
        ]
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table()
    table.add_column("image")
    for name in names:
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(r.name, *(_fmt(r.scores[n]) for n in names))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
