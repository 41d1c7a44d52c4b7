"""Random (content, style) crop pairs for training arbitrary style transfer (AdaIN).

Huang & Belongie (2017, section 6.1) train on MS-COCO photos and WikiArt paintings: "we
resize the smallest dimension of both images to 512 while preserving the aspect ratio, then
randomly crop regions of size 256 x 256". :class:`StylePairDataset` does the same with a
crop side ``size`` (the photos' shorter side becomes ``2 * size``), and rescales each style
crop by a random factor in ``style_scale`` first (a shorter side from ``size`` to
``2 * size`` by default), so a few paintings give strokes of many sizes. Both crops are
flipped left-right at random.

Item ``i`` is ``(content (3, size, size), style (3, size, size))`` float32 in [0, 1]: photo
``i % n`` with a style drawn at random, a pure function of ``(seed, epoch, i)`` like
:class:`~atelier.data.patches.PatchDataset`'s patches, so DataLoader workers and a resumed
run see the same pairs. The last ``holdout`` photos (sorted by path) are kept apart in full
(:attr:`StylePairDataset.held_out`) for validation.

Example
-------
>>> import numpy as np, tempfile, os
>>> from atelier.image import save_image
>>> root = tempfile.mkdtemp()
>>> for k in range(3):
...     save_image(os.path.join(root, "photos", f"{k}.png"), np.full((40, 50, 3), 60 * k, np.uint8))
>>> save_image(os.path.join(root, "style.png"), np.zeros((30, 30, 3), np.uint8))
>>> ds = StylePairDataset(os.path.join(root, "photos"), os.path.join(root, "style.png"), size=16, holdout=1)
>>> c, s = ds[0]
>>> len(ds), tuple(c.shape), tuple(s.shape), len(ds.held_out), len(ds.styles)
(64, (3, 16, 16), (3, 16, 16), 1, 1)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from atelier.data.folder import list_images
from atelier.data.patches import holdout_count, read_photos
from atelier.data.transforms import random_crop, resize_shorter, to_tensor
from atelier.errors import InvalidArgument

__all__ = ["StylePairDataset", "read_styles"]


def read_styles(source: str | os.PathLike) -> tuple[list[np.ndarray], list[Path]]:
    """The style images of ``source`` (a folder, searched recursively, or one image file) as
    ``H x W x 3`` uint8; corrupt files are skipped, none readable is ``InvalidArgument``."""
    path = Path(source)
    if not path.exists():
        raise InvalidArgument(f"styles {source}: no such folder or file")
    files = [path] if path.is_file() else list_images(path)
    arrays, kept, skipped = read_photos(files, channels=3)
    if not arrays:
        raise InvalidArgument(f"styles {source}: no readable image ({skipped[0]})")
    return arrays, kept


class StylePairDataset(Dataset):
    """Random crops of content photos, each paired with a random crop of a random style.

    Parameters
    ----------
    content_root : folder of photos (searched recursively).
    styles : folder of style images, or one image file.
    size : crop side in pixels (Huang: 256); the photos' and styles' shorter side becomes
        ``2 * size`` before cropping.
    seed : the pairs are a pure function of ``(seed, epoch, index)``.
    per_image : pairs per training photo per epoch.
    holdout : how many of the last photos to keep out (None: one in ten, at most 10).
    style_scale : ``(low, high)`` range of the random rescale of a style before its crop,
        relative to its ``2 * size`` shorter side (``(1, 1)``: Huang's fixed scale).
    """

    def __init__(
        self,
        content_root: str | os.PathLike,
        styles: str | os.PathLike,
        *,
        size: int,
        seed: int = 0,
        per_image: int = 32,
        holdout: int | None = None,
        style_scale: tuple[float, float] = (0.5, 1.0),
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 8:
            raise InvalidArgument(f"the crop size must be an integer >= 8, got {size!r}")
        if isinstance(per_image, bool) or not isinstance(per_image, int) or per_image < 1:
            raise InvalidArgument(f"per_image must be an integer >= 1, got {per_image!r}")
        low, high = (float(v) for v in style_scale)
        if not 0.5 <= low <= high <= 4.0:  # 0.5: the rescaled style still holds a crop
            raise InvalidArgument(f"style_scale must be low, high with 0.5 <= low <= high <= 4, got {style_scale}")
        self.size, self.seed, self.per_image, self.style_scale = size, int(seed), per_image, (low, high)
        self.epoch = 0
        files = list_images(content_root)
        photos, self.files, self.skipped = read_photos(files, channels=3)
        if not photos:
            raise InvalidArgument(f"{content_root}: none of its image files could be read (first: {self.skipped[0]})")
        cut = len(photos) - holdout_count(holdout, len(photos))
        self.held_out, self.held_out_files = photos[cut:], self.files[cut:]
        self.files = self.files[:cut]
        self.photos = [np.ascontiguousarray(resize_shorter(p, 2 * size)) for p in photos[:cut]]
        originals, self.style_files = read_styles(styles)
        #: the style images as read (validation takes its own crops of them)
        self.styles = originals
        self._styles = [np.ascontiguousarray(resize_shorter(s, 2 * size)) for s in originals]

    def set_epoch(self, epoch: int) -> None:
        """New random pairs for a new epoch (the Trainer calls this)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.photos) * self.per_image

    def pair(self, i: int, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pair ``i`` of ``epoch`` (default: the current one) as two ``size x size x 3`` uint8 arrays."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} pairs")
        i %= n
        rng = np.random.default_rng([self.seed, self.epoch if epoch is None else int(epoch), i])
        content = random_crop(self.photos[i % len(self.photos)], self.size, rng)
        style = self._styles[int(rng.integers(0, len(self._styles)))]
        k = rng.uniform(*self.style_scale)
        if k != 1.0:
            style = resize_shorter(style, max(self.size, round(2 * self.size * k)))
        style = random_crop(style, self.size, rng)
        flips = rng.integers(0, 2, size=2)
        content = content[:, ::-1] if flips[0] else content
        style = style[:, ::-1] if flips[1] else style
        return np.ascontiguousarray(content), np.ascontiguousarray(style)

    def __getitem__(self, i: int):
        content, style = self.pair(int(i))
        return to_tensor(content), to_tensor(style)

    def __repr__(self) -> str:
        return (
            f"StylePairDataset(photos={len(self.photos)}, held_out={len(self.held_out)}, "
            f"styles={len(self.styles)}, size={self.size}, items={len(self)})"
        )
