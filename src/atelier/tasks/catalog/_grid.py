"""Images a generating task made, as one grid (what the studio shows and downloads)."""

from __future__ import annotations

import numpy as np


def grid_of(images: np.ndarray | "torch.Tensor", nrow: int = 8) -> np.ndarray:  # noqa: F821
    """``(n, H, W, C)`` float numpy in [0, 1] or ``(n, C, H, W)`` tensor -> one ``uint8`` grid."""
    import torch

    from atelier.tasks.generate import make_grid

    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2) if isinstance(images, np.ndarray) else images
    return make_grid(tensor.float(), nrow=min(nrow, len(tensor)))
