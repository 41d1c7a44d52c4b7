"""``digits``: scikit-learn's bundled 8 x 8 handwritten digits, upsampled.

1,797 images (UCI ML hand-written digits, shipped inside scikit-learn, no download) with
values 0..16, scaled to [0, 1] and resized to ``size`` with ``INTER_LINEAR`` (bilinear).
Labels 0..9.

Example
-------
>>> ds = DigitsDataset(size=32)
>>> image, label = ds[0]
>>> len(ds), tuple(image.shape), label, float(image.max()) <= 1.0
(1797, (1, 32, 32), 0, True)
"""

from __future__ import annotations

import numpy as np

from atelier.data.registry import ImageDataset, Split, register_dataset
from atelier.data.transforms import resize

__all__ = ["DigitsDataset"]


@register_dataset("digits")
class DigitsDataset(ImageDataset):
    """scikit-learn's bundled 8x8 digits (1,797 images, labels 0-9), upsampled.

    Parameters
    ----------
    size : int
        Output side (>= 8).
    channels : {1, 3}
        1 (default) or 3 (grey replicated).
    split : optional
        See ``atelier.data.resolve_split``.
    seed : int
        Unused (no randomness).
    labels : bool
        Yield the digit (default) or -1.

    Items are ``(tensor (channels, size, size) float32 in [0, 1], digit or -1)``.
    """

    def __init__(
        self,
        *,
        size: int,
        channels: int | None = None,
        split: Split = None,
        seed: int = 0,
        labels: bool = True,
    ) -> None:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        self.images = (bunch.images / 16.0).astype(np.float32)  # 0..16 -> [0, 1]
        self.targets = bunch.target.astype(np.int64)
        super().__init__(
            length=len(self.images),
            size=size,
            channels=channels,
            native_channels=1,
            split=split,
            labels=labels,
            class_names=[str(k) for k in range(10)],
        )

    def _load(self, j: int) -> tuple[np.ndarray, int]:
        image = np.clip(resize(self.images[j], self.size), 0.0, 1.0)
        return image, int(self.targets[j])
