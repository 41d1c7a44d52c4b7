"""Feature-extractor outputs of real images, cached in the benchmark's work folder.

The slowest step of the emoji and scenes distance rows is reading the real images through
EfficientNet-Lite0 (~9 min for 3,543 emoji on one busy thread); a rerun with the same work
folder and the same settings reads them back from an ``.npz`` named by a hash of ``key``.

Example
-------
    feats = cached_features(extractor, ["scenes", {}, "train", 2000, 48], lambda: images, work, "scenes-real")
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np


def cached_features(extractor: Any, key: list[Any], images: Callable[[], Any], work: Path, prefix: str,
                    rows: int | None = None) -> np.ndarray:
    """``extractor.features(images())`` as ``(N, D)``, from ``work / f"{prefix}-features-<hash>.npz"``
    when there (``key``, with the extractor's name, decides the hash; ``rows``, when given,
    must match the cached count) and written there otherwise."""
    blob = json.dumps([*key, extractor.name], sort_keys=True, default=str)
    path = work / f"{prefix}-features-{hashlib.sha1(blob.encode()).hexdigest()[:12]}.npz"
    if path.is_file():
        with np.load(path) as f:
            if rows is None or f["features"].shape[0] == rows:
                return f["features"]
    feats = extractor.features(images()).numpy()
    np.savez(path, features=feats)
    return feats
