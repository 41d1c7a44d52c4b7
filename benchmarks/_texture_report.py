"""Presentation for the texture and compositing benchmark: table rows (PASS / MISS where a
target exists) and the side-by-side sheets (labelled images in a grid)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def row(rows: list, part: str, what: str, target: str, value: Any, ok: bool | None, judge: bool = True) -> None:
    """One table row; ``result`` is PASS / MISS where a target exists (``ok`` not None) and
    ``judge`` (False in the quick smoke run, whose figures mean nothing), else "-"."""
    rows.append((part, what, target, value, "-" if ok is None or not judge else ("PASS" if ok else "MISS")))


def label(image: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``image`` with ``text`` in white on a dark strip at its top-left."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    scale = max(0.35, min(0.6, out.shape[1] / 500))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    out[: th + base + 6, : tw + 8] = (out[: th + base + 6, : tw + 8] * 0.35).astype(out.dtype)
    cv2.putText(out, text, (4, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def grid(rows: list[list[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Images (uint8 RGB) laid out in rows, white gaps; rows padded to the widest."""
    lines = []
    for images in rows:
        h = max(im.shape[0] for im in images)
        cells = []
        for im in images:
            pad = np.full((h, im.shape[1], 3), 255, np.uint8)
            pad[: im.shape[0]] = im
            cells += [pad, np.full((h, gap, 3), 255, np.uint8)]
        lines.append(np.hstack(cells[:-1]))
    width = max(line.shape[1] for line in lines)
    out = []
    for line in lines:
        pad = np.full((line.shape[0], width, 3), 255, np.uint8)
        pad[:, : line.shape[1]] = line
        out += [pad, np.full((gap, width, 3), 255, np.uint8)]
    return np.vstack(out[:-1])


def shown_path(path) -> str:
    """``path`` relative to the working folder when it lies inside it (shorter rows)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def short(text: str, limit: int = 110) -> str:
    """``text`` on one line, cut to ``limit`` characters (the JSON keeps it whole)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
