"""``atelier info IMAGE``: size, mode, bit depth, format and EXIF orientation (header only)."""

from __future__ import annotations

import json
from typing import List

import typer

from atelier.image import DEFAULT_MAX_PIXELS, image_info

ORIENTATIONS = {
    1: "normal",
    2: "mirrored",
    3: "rotated 180",
    4: "mirrored vertically",
    5: "transposed",
    6: "rotated 90 cw",
    7: "transversed",
    8: "rotated 90 ccw",
}


def info(
    images: List[str] = typer.Argument(..., help="Image files."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1),
) -> None:
    """Describe image files without decoding their pixels."""
    for path in images:
        meta = image_info(path, max_pixels=max_pixels)
        if as_json:
            typer.echo(json.dumps(meta.as_dict()))
            continue
        typer.echo(
            f"{meta.path}: {meta.format} {meta.width}x{meta.height} {meta.mode} "
            f"{meta.channels} channel{'s' if meta.channels > 1 else ''}, {meta.bit_depth}-bit, "
            f"orientation {meta.orientation} ({ORIENTATIONS.get(meta.orientation, 'unknown')}), "
            f"{meta.file_size} bytes"
        )


def register(app: typer.Typer) -> None:
    app.command("info")(info)
