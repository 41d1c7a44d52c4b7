"""``folder``: any folder of images, recursively, resized and cropped to a square.

Files are found by suffix (PNG, JPEG, WebP, TIFF, BMP) in the folder and all its sub-folders,
sorted by path. With ``labels=True`` the class of a file is the name of the first-level
sub-folder it is in (``root/cat/x.png`` -> ``cat``); ``class_names`` are sorted.

Corrupt files are checked lazily: when one is met during iteration it is remembered, and the
item is replaced by the next valid file in order (deterministic, so every run and every
worker agrees), never a crash mid-epoch. The first corrupt file triggers one ``warnings.warn``;
``skipped`` lists all met so far (per process: DataLoader workers each keep their own).
``validate()`` checks every file up front when you prefer to know before training.

Example
-------
>>> import numpy as np, tempfile, os
>>> from atelier.image import save_image
>>> root = tempfile.mkdtemp()
>>> save_image(os.path.join(root, "a", "1.png"), np.zeros((40, 60, 3), np.uint8))
>>> save_image(os.path.join(root, "b", "2.png"), np.full((50, 50), 255, np.uint8))
>>> ds = FolderDataset(root, size=32, labels=True)
>>> image, label = ds[1]
>>> tuple(image.shape), label, ds.class_names
((3, 32, 32), 1, ('a', 'b'))
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from atelier.data.registry import ImageDataset, Split, register_dataset
from atelier.data.transforms import resize_crop, to_channels, to_tensor
from atelier.errors import InvalidArgument, InvalidImage
from atelier.image import DEFAULT_MAX_PIXELS, load_image
from atelier.image import is_image_path

__all__ = ["CorruptFileWarning", "FolderDataset", "list_images"]


class CorruptFileWarning(UserWarning):
    """A corrupt image file was met and skipped by a ``FolderDataset``."""


def list_images(root: str | os.PathLike) -> list[Path]:
    """All image files under ``root`` (recursively, hidden files and folders skipped), sorted.

    Raises ``InvalidArgument`` if ``root`` does not exist or holds no images.
    """
    root = Path(root)
    if not root.exists():
        raise InvalidArgument(f"{root}: no such folder; check the dataset path")
    if root.is_file():
        raise InvalidArgument(
            f"{root} is a file; data takes a folder of images, an IDX file pair or a dataset "
            f"name (see `atelier datasets`)"
        )
    files = sorted(
        p
        for p in root.rglob("*")
        if is_image_path(p)
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise InvalidArgument(
            f"{root}: no images found (looked recursively for .png, .jpg, .jpeg, .webp, "
            f".tif, .tiff, .bmp)"
        )
    return files


@register_dataset("folder", needs_path=True)
class FolderDataset(ImageDataset):
    """Any folder of images, recursively; labels from sub-folder names when asked.

    Parameters
    ----------
    root : path
        The folder.
    size : int
        Output side (>= 8): the shorter side is resized to ``size`` (``INTER_AREA`` when
        shrinking), then a ``size x size`` window is cropped.
    channels : {1, 3}
        3 (default) converts grey files to RGB; 1 converts to grey (BT.601).
    split : optional
        Part of the sorted file list, see ``atelier.data.resolve_split``.
    seed : int
        Random crops are a pure function of ``(seed, epoch, index)``.
    labels : bool
        Label each image by its first-level sub-folder.
    crop : {"center", "random"}
        Where the window is taken.
    max_pixels : int
        Decompression-bomb limit per file (larger files count as corrupt).

    Items are ``(tensor (channels, size, size) float32 in [0, 1], label or -1)``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        size: int,
        channels: int | None = None,
        split: Split = None,
        seed: int = 0,
        labels: bool = False,
        crop: Literal["center", "random"] = "center",
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if crop not in ("center", "random"):
            raise InvalidArgument(f"crop must be 'center' or 'random', got {crop!r}")
        self.root = Path(root)
        self.files = list_images(self.root)
        class_names: list[str] = []
        self.targets = np.full(len(self.files), -1, np.int64)
        if labels:
            rel = [p.relative_to(self.root).parts for p in self.files]
            loose = [os.path.join(*r) for r in rel if len(r) == 1]
            if loose:
                raise InvalidArgument(
                    f"{self.root}: labels=True takes the class from sub-folder names, but "
                    f"{len(loose)} image(s) lie directly in the folder (e.g. {loose[0]}); "
                    f"move them into a class folder or use labels=False"
                )
            class_names = sorted({r[0] for r in rel})
            lookup = {name: k for k, name in enumerate(class_names)}
            self.targets = np.array([lookup[r[0]] for r in rel], np.int64)
        super().__init__(
            length=len(self.files),
            size=size,
            channels=channels,
            native_channels=3,
            split=split,
            labels=labels,
            class_names=class_names,
        )
        self.seed = int(seed)
        self.crop = crop
        self.max_pixels = int(max_pixels)
        self.epoch = 0
        self._bad: dict[int, str] = {}
        self._warned = False

    def set_epoch(self, epoch: int) -> None:
        """Change the random crops for a new epoch (same idea as ``DistributedSampler``)."""
        self.epoch = int(epoch)

    @property
    def skipped(self) -> list[str]:
        """Paths of the corrupt files met so far (in this process), sorted."""
        return sorted(str(self.files[j]) for j in self._bad)

    def _read(self, j: int) -> np.ndarray:
        mode = "grey" if self.channels == 1 else "rgb"
        return load_image(self.files[j], mode=mode, alpha="composite", max_pixels=self.max_pixels)

    def _mark_bad(self, j: int, error: InvalidImage) -> None:
        self._bad[j] = str(error)
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"skipping corrupt image {error}; it is replaced by the next valid file. "
                f"Further corrupt files are skipped silently; see dataset.skipped for the list "
                f"(run dataset.validate() to check every file first)",
                CorruptFileWarning,
                stacklevel=3,
            )

    def _load(self, j: int) -> tuple[np.ndarray, int]:
        """Raw item ``j`` centre-cropped to the dataset's size; a corrupt file raises
        ``InvalidImage``. ``__getitem__`` adds corrupt-file skipping and random crops."""
        label = int(self.targets[j]) if self.labeled else -1
        return resize_crop(self._read(j), self.size, "center", None), label

    def __getitem__(self, i: int):
        """Item ``i``; a corrupt file is replaced by the next valid one of this split."""
        n = len(self)
        self.raw_index(int(i))  # IndexError when out of range
        for step in range(n):
            j = int(self.indices[(int(i) + step) % n])
            if j in self._bad:
                continue
            try:
                array = self._read(j)
            except InvalidImage as error:  # corrupt, truncated or too large: skip, never crash
                self._mark_bad(j, error)
                continue
            rng = None
            if self.crop == "random":
                rng = np.random.default_rng([self.seed, self.epoch, int(i) % n])
            array = resize_crop(array, self.size, self.crop, rng)
            image = to_tensor(to_channels(array, self.channels))
            return image, (int(self.targets[j]) if self.labeled else -1)
        raise InvalidImage(f"{self.root}: every image file of this split is corrupt ({n} files)")

    def validate(self) -> list[str]:
        """Decode every file of this split now; return the corrupt ones (also in ``skipped``)."""
        for j in self.indices:
            j = int(j)
            if j in self._bad:
                continue
            try:
                self._read(j)
            except InvalidImage as error:
                self._mark_bad(j, error)
        return self.skipped
