"""``patches``: random square patches of a folder of photos, for super-resolution and denoising.

Photos are found recursively (as ``folder`` does), decoded once and kept in memory as
``uint8`` arrays (80 photos of about 1024 x 768 take about 190 MB). Item ``i`` is a random
``size x size`` window of photo ``i % n`` with a random one of the 8 dihedral transforms
(flips and 90-degree rotations), a pure function of ``(seed, epoch, i)``: every run, every
DataLoader worker and every ``torchrun`` process agrees, and an interrupted run resumed by
the Trainer sees exactly the patches it would have seen. An epoch holds ``per_image``
patches of each photo.

With ``scale`` set, item ``i`` is ``(hr, lr)``: the patch and its low-resolution version,
Pillow's antialiased bicubic downscale by ``scale``, rounded to ``uint8`` like a saved image
(the super-resolution benchmark degradation, :func:`degrade_bicubic`). Without it, item ``i``
is ``(patch, -1)`` (the dataset protocol of :mod:`atelier.data.registry`; unlabelled).

The last ``holdout`` photos (sorted by path) are kept apart for validation
(:attr:`PatchDataset.held_out`, :func:`center_crops`); corrupt files and photos smaller than
``size`` are skipped with one warning that counts them.

Example
-------
>>> import numpy as np, tempfile, os
>>> from atelier.image import save_image
>>> root = tempfile.mkdtemp()
>>> for k in range(3):
...     save_image(os.path.join(root, f"{k}.png"), np.full((40, 50, 3), 60 * k, np.uint8))
>>> ds = PatchDataset(root, size=16, scale=2, per_image=4, holdout=1)
>>> hr, lr = ds[0]
>>> len(ds), tuple(hr.shape), tuple(lr.shape), len(ds.held_out)
(8, (3, 16, 16), (3, 8, 8), 1)
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from atelier.data.folder import CorruptFileWarning, list_images
from atelier.data.registry import register_dataset
from atelier.data.transforms import check_channels, check_size, to_tensor
from atelier.errors import InvalidArgument, InvalidImage
from atelier.image import DEFAULT_MAX_PIXELS, load_image

__all__ = [
    "DIHEDRAL",
    "PatchDataset",
    "PatchTooLarge",
    "center_crops",
    "degrade_bicubic",
    "dihedral",
    "fit_within",
    "holdout_count",
    "read_photos",
]

#: The 8 dihedral transforms as ``(quarter turns, then flip left-right)``; index = ``k``.
DIHEDRAL = tuple((k % 4, k >= 4) for k in range(8))


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """Dihedral transform ``k`` (0..7) of an ``H x W [x C]`` image: ``k % 4`` counter-clockwise
    quarter turns, then a left-right flip when ``k >= 4``. ``k = 0`` is the identity.

    Example
    -------
    >>> a = np.arange(6).reshape(2, 3)
    >>> dihedral(a, 1).tolist(), dihedral(a, 4).tolist()
    ([[2, 5], [1, 4], [0, 3]], [[2, 1, 0], [5, 4, 3]])
    """
    turns, flip = DIHEDRAL[k]
    out = np.rot90(image, turns)
    return out[:, ::-1] if flip else out


def degrade_bicubic(hr: np.ndarray, scale: int) -> np.ndarray:
    """The benchmark degradation: Pillow's antialiased bicubic downscale by ``scale``.

    ``hr`` is ``H x W`` or ``H x W x C`` (C = 1 or 3) ``uint8`` with sides divisible by
    ``scale``; the result is ``H/scale x W/scale`` (same layout) ``uint8``, rounded as Pillow
    rounds, as a saved low-resolution image is. Identical to
    ``atelier.ops.resize(hr, scale=1/scale, method="bicubic", antialias=True)`` (which this
    data layer may not import; Pillow is called directly).

    Example
    -------
    >>> degrade_bicubic(np.full((8, 12, 3), 200, np.uint8), 4)[..., 0].tolist()
    [[200, 200, 200], [200, 200, 200]]
    """
    h, w = hr.shape[:2]
    if hr.dtype != np.uint8:
        raise InvalidArgument(f"degrade_bicubic takes uint8 images, got {hr.dtype}")
    if h % scale or w % scale:
        raise InvalidArgument(f"a {h} x {w} image cannot be downscaled by {scale}: sides must be multiples of it")
    grey_axis = hr.ndim == 3 and hr.shape[2] == 1
    plane = hr[..., 0] if grey_axis else hr
    out = np.asarray(
        Image.fromarray(np.ascontiguousarray(plane)).resize(
            (w // scale, h // scale), Image.Resampling.BICUBIC
        )
    )
    return out[..., None] if grey_axis else out


def read_photos(
    files: Sequence[Path], *, channels: int = 3, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[list[np.ndarray], list[Path], list[str]]:
    """Decode ``files`` to ``H x W x channels`` uint8 arrays; corrupt ones are skipped.

    Returns ``(arrays, their paths, skipped)``, ``skipped`` being one ``"path: reason"``
    per corrupt, truncated or too large file.
    """
    mode = "grey" if check_channels(channels) == 1 else "rgb"
    arrays, kept, skipped = [], [], []
    for path in files:
        try:
            image = load_image(path, mode=mode, alpha="composite", max_pixels=max_pixels)
        except InvalidImage as error:
            skipped.append(str(error))
            continue
        if image.dtype != np.uint8:  # 16-bit files: keep 8 bits, as a photo viewer shows them
            image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
        arrays.append(np.ascontiguousarray(image if image.ndim == 3 else image[..., None]))
        kept.append(Path(path))
    return arrays, kept, skipped


def center_crops(images: Sequence[np.ndarray], size: int, multiple: int = 1) -> list[np.ndarray]:
    """The central ``min(size, H, W)`` square of each image, its side rounded down to a
    multiple of ``multiple`` (the SR scale), for a validation that takes seconds.

    Example
    -------
    >>> [c.shape for c in center_crops([np.zeros((30, 50, 3), np.uint8)], 64, multiple=4)]
    [(28, 28, 3)]
    """
    out = []
    for image in images:
        h, w = image.shape[:2]
        side = min(size, h, w) // multiple * multiple
        if side < multiple:
            continue
        top, left = (h - side) // 2, (w - side) // 2
        out.append(np.ascontiguousarray(image[top : top + side, left : left + side]))
    return out


class PatchTooLarge(InvalidArgument):
    """The patch is larger than every training photo (``largest``: their largest shorter side)."""

    largest: int = 0


def holdout_count(holdout: int | None, count: int) -> int:
    """How many of ``count`` photos to hold out: ``holdout``, checked (an integer from 0 to
    ``count - 1``: at least one photo must train), or by default one in ten, at most 10
    (photos80 -> 8; none below ten photos)."""
    if holdout is None:
        return min(10, count // 10)
    if isinstance(holdout, bool) or not isinstance(holdout, int) or not 0 <= holdout < count:
        raise InvalidArgument(
            f"holdout must be an integer from 0 to {count - 1} (the folder has "
            f"{count} readable photos and at least one must train), got {holdout!r}"
        )
    return holdout


def fit_within(photo: np.ndarray, side: int) -> np.ndarray:
    """``photo`` (``H x W x C`` uint8) downscaled so its longer side is ``side`` (Pillow's
    antialiased bicubic); returned as it is when it already fits."""
    h, w = photo.shape[:2]
    if max(h, w) <= side:
        return photo
    k = side / max(h, w)
    size = (max(1, round(w * k)), max(1, round(h * k)))
    plane = photo[..., 0] if photo.shape[2] == 1 else photo
    out = np.asarray(Image.fromarray(plane).resize(size, Image.Resampling.BICUBIC))
    return out.reshape(size[1], size[0], photo.shape[2])


@register_dataset("patches", needs_path=True)
class PatchDataset(Dataset):
    """Random patches of a folder of photos, flipped and rotated; (HR, LR) pairs with ``scale``.

    Parameters
    ----------
    root : path
        Folder of photos, searched recursively.
    size : int
        Patch side in pixels (>= 8); the high-resolution side when ``scale`` is set, so it
        must then be a multiple of ``scale``.
    channels : {1, 3} or None
        3 (default, RGB) or 1 (grey, BT.601).
    seed : int
        Patches are a pure function of ``(seed, epoch, index)``.
    scale : int or None
        Yield ``(hr, lr)`` pairs, ``lr`` the bicubic downscale by ``scale``.
    per_image : int
        Patches of each training photo per epoch (the epoch has ``per_image * photos`` items).
    holdout : int or None
        How many of the last photos (sorted by path) to keep out of training, for
        validation; None picks one in ten, at most 10 (0 below ten photos).
    max_pixels : int
        Decompression-bomb limit per file (larger files count as corrupt).
    max_side : int or None
        Downscale (Pillow's antialiased bicubic) every photo whose longer side exceeds this
        first, training and held-out alike, so a patch shows a scene at the scale it is used
        at (a style network meets 512-1024 px photos, not 128 px windows of 4,000 px ones);
        None keeps the photos' own size.
    split, labels
        Accepted for the registry protocol: ``split`` must be None (use ``holdout``), and
        ``labels`` False (patches are unlabelled).

    Attributes
    ----------
    photos : list of numpy.ndarray
        The training photos, ``H x W x channels`` uint8.
    held_out : list of numpy.ndarray
        The held-out photos.
    files, held_out_files : list of Path
    skipped : list of str
        Corrupt files and photos smaller than ``size`` (one ``"path: reason"`` each).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        size: int,
        channels: int | None = None,
        seed: int = 0,
        scale: int | None = None,
        per_image: int = 32,
        holdout: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_side: int | None = None,
        split: object = None,
        labels: bool = False,
    ) -> None:
        self.root = Path(root)
        self.size = check_size(size)
        self.channels = check_channels(3 if channels is None else channels)
        if split is not None:
            raise InvalidArgument("patches are split by photo: use holdout=N (the last N photos)")
        if labels:
            raise InvalidArgument("patches are unlabelled; labels=True does not apply")
        if scale is not None and (isinstance(scale, bool) or scale not in (2, 3, 4)):
            raise InvalidArgument(f"scale must be 2, 3 or 4, got {scale!r}")
        if scale is not None and self.size % scale:
            raise InvalidArgument(f"patch size {self.size} must be a multiple of the scale {scale}")
        if isinstance(per_image, bool) or not isinstance(per_image, int) or per_image < 1:
            raise InvalidArgument(f"per_image must be an integer >= 1, got {per_image!r}")
        self.scale, self.per_image, self.seed = scale, per_image, int(seed)
        self.num_classes, self.class_names = 0, ()
        self.epoch = 0

        found = list_images(self.root)
        arrays, files, self.skipped = read_photos(found, channels=self.channels, max_pixels=max_pixels)
        if max_side is not None:
            if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 8:
                raise InvalidArgument(f"max_side must be an integer >= 8, got {max_side!r}")
            arrays = [fit_within(a, max_side) for a in arrays]
        if not arrays:
            raise InvalidArgument(
                f"{self.root}: none of its {len(self.skipped)} image files could be read "
                f"(first: {self.skipped[0]})"
            )
        cut = len(arrays) - holdout_count(holdout, len(arrays))
        self.held_out, self.held_out_files = arrays[cut:], files[cut:]
        self.photos, self.files = [], []
        small = []
        for array, path in zip(arrays[:cut], files[:cut]):
            if min(array.shape[:2]) < self.size:
                small.append(f"{path}: {array.shape[1]} x {array.shape[0]} is smaller than the patch")
            else:
                self.photos.append(array)
                self.files.append(path)
        if not self.photos:
            largest = max(min(a.shape[:2]) for a in arrays[:cut])
            error = PatchTooLarge(
                f"{self.root}: the patch of {self.size} px is larger than every training photo "
                f"(the largest shorter side is {largest} px); use smaller patches"
            )
            error.largest = largest
            raise error
        self.skipped += small
        if self.skipped:
            warnings.warn(
                f"{self.root}: skipped {len(self.skipped)} of {len(found)} files (corrupt, or "
                f"smaller than the patch), e.g. {self.skipped[0]}; see dataset.skipped",
                CorruptFileWarning,
                stacklevel=2,
            )

    def set_epoch(self, epoch: int) -> None:
        """New random patches for a new epoch (the Trainer calls this)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.photos) * self.per_image

    def patch(self, i: int, epoch: int | None = None) -> np.ndarray:
        """Patch ``i`` of ``epoch`` (default: the current one) as ``size x size x C`` uint8."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} patches")
        i %= n
        epoch = self.epoch if epoch is None else int(epoch)
        rng = np.random.default_rng([self.seed, epoch, i])
        photo = self.photos[i % len(self.photos)]
        h, w = photo.shape[:2]
        top = int(rng.integers(0, h - self.size + 1))
        left = int(rng.integers(0, w - self.size + 1))
        k = int(rng.integers(0, 8))
        window = photo[top : top + self.size, left : left + self.size]
        return np.ascontiguousarray(dihedral(window, k))

    def __getitem__(self, i: int):
        hr = self.patch(int(i))
        if self.scale is None:
            return to_tensor(hr), -1
        return to_tensor(hr), to_tensor(degrade_bicubic(hr, self.scale))

    def __repr__(self) -> str:
        return (
            f"PatchDataset(photos={len(self.photos)}, held_out={len(self.held_out)}, "
            f"size={self.size}, scale={self.scale}, items={len(self)})"
        )
