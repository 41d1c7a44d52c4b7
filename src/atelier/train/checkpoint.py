"""Training checkpoints: written atomically, the last K kept, read without unpickling code.

A checkpoint is one ``torch.save`` file of plain containers and tensors (model, optimizer,
scheduler and EMA state dicts, RNG states, counters). It is written to a temporary name and
renamed into place, so a run killed at any moment leaves either the old or the new file,
never half of one, and it is read back with ``torch.load(..., weights_only=True)``.

Example
-------
>>> import tempfile, torch
>>> d = tempfile.mkdtemp()
>>> _ = save_checkpoint(d, 10, {"w": torch.ones(2)}, keep=2)
>>> latest_checkpoint(d).name
'step-00000010.pt'
>>> load_checkpoint(latest_checkpoint(d))["w"].tolist()
[1.0, 1.0]
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, Callable, Collection

import torch

from atelier.errors import AtelierError
from atelier.image import write_atomic

_NAME = re.compile(r"^step-(\d{8,})\.pt$")


def checkpoint_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"step-{step:08d}.pt"


def step_of(path: str | Path) -> int:
    """The step of a checkpoint file (``step-00000100.pt`` -> 100)."""
    found = _NAME.match(Path(path).name)
    if found is None:
        raise ValueError(f"{path} is not named like a checkpoint")  # a bug in atelier
    return int(found.group(1))


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _NAME.match(p.name)), key=step_of)


def latest_checkpoint(folder: str | Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1] if found else None


def save_checkpoint(
    folder: str | Path,
    step: int,
    state: dict[str, Any],
    keep: int = 3,
    protect: Collection[int] = (),
) -> Path:
    """Write ``state`` as ``folder/step-NNNNNNNN.pt`` atomically; keep the newest ``keep``
    and the steps in ``protect`` (the best validated one), delete the other ones."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = checkpoint_path(folder, step)
    write_atomic(path, buffer.getvalue())
    kept = {checkpoint_path(folder, s).name for s in protect}
    for old in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        if old.name not in kept:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (tensors and plain containers only: ``weights_only=True``)."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise AtelierError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0].rstrip(".")
        error = AtelierError(f"{path}: not a readable atelier checkpoint ({cause})")
        error.cause = cause
        raise error from None


def load_latest_checkpoint(
    folder: str | Path, warn: Callable[[str], None] | None = None
) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint in ``folder`` that reads, as ``(path, state)``; None if there is none.

    A newer one that does not read (a truncated or damaged file) is skipped for the one
    before it, and ``warn`` gets one line saying so; when none reads, the newest one's error
    is raised (``AtelierError``).
    """
    found = list_checkpoints(folder)
    skipped: list[tuple[Path, AtelierError]] = []
    for path in reversed(found):
        try:
            state = load_checkpoint(path)
        except AtelierError as exc:
            skipped.append((path, exc))
            continue
        if skipped and warn is not None:
            names = ", ".join(p.name for p, _ in skipped)
            cause = getattr(skipped[0][1], "cause", str(skipped[0][1]))
            warn(f"{names} in {folder} cannot be read ({cause}); resuming from {path.name} instead")
        return path, state
    if skipped:
        raise skipped[0][1]
    return None
