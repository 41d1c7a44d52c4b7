"""Compare two images, or two folders matched by relative file name, with fidelity metrics.

Example
-------
>>> import numpy as np, tempfile, os
>>> from atelier.image import save_image
>>> d = tempfile.mkdtemp(); a, b = os.path.join(d, "a.png"), os.path.join(d, "b.png")
>>> save_image(a, np.zeros((8, 8), np.uint8)); save_image(b, np.full((8, 8), 2, np.uint8))
>>> compare_paths(a, b, ["mse"])[0].scores["mse"]
4.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from atelier.errors import InvalidArgument
from atelier.image import DEFAULT_MAX_PIXELS, load_image
from atelier.metrics import get_metric
from atelier.arrays import to_float
from atelier.image import is_image_path


@dataclass
class Comparison:
    name: str
    scores: dict[str, float] = field(default_factory=dict)


def _pairs(a: Path, b: Path) -> list[tuple[str, Path, Path]]:
    if a.is_file() and b.is_file():
        return [(a.name if a.name == b.name else f"{a.name} vs {b.name}", a, b)]
    if a.is_dir() and b.is_dir():
        left = {p.relative_to(a).as_posix(): p for p in a.rglob("*") if is_image_path(p)}
        right = {p.relative_to(b).as_posix(): p for p in b.rglob("*") if is_image_path(p)}
        common = sorted(set(left) & set(right))
        if not common:
            raise InvalidArgument(f"no file names in common between {a} and {b}")
        return [(name, left[name], right[name]) for name in common]
    for p in (a, b):
        if not p.exists():
            raise InvalidArgument(f"{p}: no such file or folder")
    raise InvalidArgument(f"compare two files or two folders, not a file and a folder ({a}, {b})")


def compare_paths(
    a: str | Path,
    b: str | Path,
    metrics: Sequence[str] = ("psnr", "ssim"),
    *,
    channel: str = "rgb",
    crop: int = 0,
    data_range: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[Comparison]:
    """Score every matched pair; with several pairs a final ``mean`` row is appended."""
    funcs = {name: get_metric(name) for name in metrics}
    rows = []
    for name, pa, pb in _pairs(Path(a), Path(b)):
        ia = load_image(pa, max_pixels=max_pixels)
        ib = load_image(pb, max_pixels=max_pixels)
        if ia.dtype != ib.dtype:  # e.g. a 16-bit PNG against an 8-bit JPEG: compare in [0, 1]
            ia, ib = to_float(ia), to_float(ib)
        row = Comparison(name)
        for metric, func in funcs.items():
            row.scores[metric] = float(
                func(ia, ib, channel=channel, crop=crop, data_range=data_range)
            )
        rows.append(row)
    if len(rows) > 1:
        mean = Comparison("mean")
        for metric in funcs:
            mean.scores[metric] = float(np.mean([r.scores[metric] for r in rows]))
        rows.append(mean)
    return rows
