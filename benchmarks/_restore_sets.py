"""The image sets of the restoration benchmark's denoise part, as folders ``evaluate_denoise`` reads.

Two sets:

- ``CSet5``: ``../shared/data/bench/CSet5`` as it is (5 colour images, 228 to 512 px).
- ``photos80-holdout``: the crops atelier's restoration training validates on, picked by
  atelier's own code, not a copy of it: ``PatchDataset(photos80).held_out`` (the last
  ``holdout_count(None, 80)`` = 8 photos by path, after unreadable files are dropped; the
  default of ``atelier train dncnn/drunet`` without ``data.holdout``/``data.val``/``data.max_side``),
  centre-cropped by ``center_crops`` to ``RestorationObjective.VAL_CROP`` (256 px). Training
  draws its validation noise with torch (``VALIDATION_SEED``); here the crops get
  ``evaluate_denoise``'s numpy noise like every set, so figures are close to a run's
  ``val_psnr`` at ``val_sigma`` but not identical. The crops are written as PNG (lossless)
  to a temporary folder, named by their photos' stems.

Quick mode keeps the first ``limit`` images of each set, centrally cropped to ``side`` px.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HOLDOUT = "photos80-holdout"


def holdout_crops(photos: Path) -> tuple[list[np.ndarray], list[Path]]:
    """The validation crops of a restoration run trained on ``photos`` with default data
    options, and the files they come from."""
    from atelier.data.patches import PatchDataset, center_crops
    from atelier.train.objectives.restoration import RestorationObjective

    held = PatchDataset(photos, size=8, channels=3)  # size: any; only held_out is used
    crops = center_crops(held.held_out, RestorationObjective.VAL_CROP)
    if len(crops) != len(held.held_out_files):
        raise RuntimeError(f"{photos}: center_crops dropped a held-out photo")
    return crops, list(held.held_out_files)


def _write(folder: Path, named: list[tuple[str, np.ndarray]], side: int | None) -> None:
    from atelier.data.patches import center_crops
    from atelier.image import save_image

    for name, image in named:
        if side is not None:
            image = center_crops([image], side)[0]
        save_image(folder / f"{name}.png", image)


def denoise_sets(cset5: Path, photos: Path, *, side: int | None = None, limit: int | None = None
                 ) -> tuple[list[tuple[str, Path, dict[str, Any]]], list[tempfile.TemporaryDirectory]]:
    """``([(set name, folder, info), ...], temporary folders to clean up)``: CSet5 and the
    held-out crops, each cut to its first ``limit`` images and centrally to ``side`` px when
    given (quick mode)."""
    from atelier.image import load_image
    from atelier.tasks.restoration_eval import list_images

    temps: list[tempfile.TemporaryDirectory] = []
    out = []
    files = list_images(cset5)[:limit]
    if side is None and limit is None:
        out.append(("CSet5", cset5, {"source": str(cset5), "images": [p.stem for p in files]}))
    else:
        tmp = tempfile.TemporaryDirectory(prefix="atelier-denoise-cset5-")
        temps.append(tmp)
        _write(Path(tmp.name), [(p.stem, load_image(p, mode="rgb")) for p in files], side)
        out.append(("CSet5", Path(tmp.name), {"source": str(cset5), "images": [p.stem for p in files],
                                              "central_crop": side}))
    crops, held = holdout_crops(photos)
    tmp = tempfile.TemporaryDirectory(prefix="atelier-denoise-holdout-")
    temps.append(tmp)
    named = [(p.stem, c) for p, c in zip(held, crops)][:limit]
    _write(Path(tmp.name), named, side)
    out.append((HOLDOUT, Path(tmp.name), {
        "source": str(photos), "images": [n for n, _ in named], "held_out_files": [str(p) for p in held],
        "crop_sizes": [list(c.shape[:2]) for c in crops[: len(named)]], "central_crop": side}))
    return out, temps
