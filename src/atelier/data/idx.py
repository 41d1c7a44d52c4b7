"""``idx``: MNIST-format IDX files (gzip-compressed or raw), images and labels.

The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a type
byte (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E
float64), a byte with the number of dimensions, one big-endian uint32 per dimension, then the
data, big-endian, row-major. Images are ``N x H x W`` unsigned bytes; labels are ``N``
integers. Compression is recognised from the gzip magic bytes, not the suffix.

Point the dataset at a folder holding one ``*images-idx3-ubyte[.gz]`` file (and its
``*labels-idx1-ubyte[.gz]`` partner) or at the images file itself. Images are resized from
28 x 28 to ``size`` by default (``fit="resize"``: ``INTER_LINEAR`` when enlarging, as is
usual for MNIST at 32 x 32, ``INTER_AREA`` when shrinking); ``fit="pad"`` instead centers the
original pixels on a black ``size x size`` canvas (the LeNet-5 convention, needs size >= 28).

Example
-------
>>> import gzip, numpy as np, tempfile, os
>>> root = tempfile.mkdtemp()
>>> images = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)
>>> write_idx(os.path.join(root, "x-images-idx3-ubyte.gz"), images)
>>> write_idx(os.path.join(root, "x-labels-idx1-ubyte.gz"), np.array([3, 7], np.uint8))
>>> ds = IdxDataset(root, size=32)
>>> [tuple(ds[i][0].shape) + (ds[i][1],) for i in range(2)]
[(1, 32, 32, 3), (1, 32, 32, 7)]
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from atelier.data.registry import ImageDataset, Split, register_dataset
from atelier.data.transforms import resize
from atelier.errors import InvalidArgument, InvalidImage
from atelier.image import write_atomic

__all__ = ["IdxDataset", "find_idx_images", "is_idx_file", "read_idx", "write_idx"]

_GZIP_MAGIC = b"\x1f\x8b"
#: IDX type byte -> big-endian numpy dtype.
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _TYPES.items()}


def _read_raw(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InvalidImage(f"{path}: corrupt or truncated gzip file ({exc})") from None
    return data


def _header(data: bytes, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """Parse the magic number and dimensions: (dtype, shape, offset of the data)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise InvalidImage(
            f"{name}: not an IDX file (the magic number must be 00 00 <type> <ndim>, "
            f"got {data[:4].hex(' ') or 'nothing'})"
        )
    ndim = data[3]
    offset = 4 + 4 * ndim
    if ndim == 0 or len(data) < offset:
        raise InvalidImage(f"{name}: IDX header truncated or with 0 dimensions")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    return np.dtype(_TYPES[data[2]]), shape, offset


def is_idx_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is a file whose first bytes (after gunzip) are an IDX magic number."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == _GZIP_MAGIC else open
        with opener(path, "rb") as f:
            magic = f.read(4)
    except (OSError, EOFError, zlib.error):
        return False
    return len(magic) == 4 and magic[:2] == b"\0\0" and magic[2] in _TYPES and magic[3] > 0


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gz or raw) into a numpy array of its own shape and native dtype.

    Raises
    ------
    InvalidArgument
        The file does not exist or cannot be read.
    InvalidImage
        Bad magic number, truncated header, or a data size that does not match the header.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"{path}: no such IDX file")
    data = _read_raw(path)
    dtype, shape, offset = _header(data, str(path))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - offset != expected:
        raise InvalidImage(
            f"{path}: IDX header says shape {shape} ({expected} bytes of data) but the file "
            f"holds {len(data) - offset} bytes; the file is truncated or corrupt"
        )
    array = np.frombuffer(data, dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``."""
    array = np.asarray(array)
    code = _CODES.get(array.dtype)
    if code is None:
        raise InvalidArgument(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = header + array.astype(_TYPES[code]).tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    write_atomic(path, data)


def find_idx_images(folder: str | os.PathLike) -> list[Path]:
    """IDX images files directly in ``folder``: names containing ``idx3``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and "idx3" in p.name)


def _labels_for(images: Path) -> Path | None:
    stem = images.name.replace("images", "labels").replace("idx3", "idx1")
    base = stem[:-3] if stem.endswith(".gz") else stem
    for name in (stem, base, base + ".gz"):
        candidate = images.with_name(name)
        if candidate != images and candidate.is_file():
            return candidate
    return None


@register_dataset("idx", needs_path=True)
class IdxDataset(ImageDataset):
    """MNIST-format IDX images and labels (gz or raw), resized to ``size``.

    Parameters
    ----------
    root : path
        A folder with one ``*-images-idx3-ubyte[.gz]`` file, or that file itself.
    size : int
        Output side (>= 8).
    channels : {1, 3}
        1 (default) or 3 (grey replicated).
    split : optional
        e.g. ``(0, 8000)`` for the first 8,000 images; see ``resolve_split``.
    seed : int
        Unused (no randomness).
    labels : bool
        Read the partner labels file (``images`` -> ``labels``, ``idx3`` -> ``idx1`` in the
        name) or ``labels_path``; ``num_classes`` is ``max label + 1`` (10 for MNIST).
    fit : {"resize", "pad"}
        How 28 x 28 becomes ``size x size`` (see the module docstring).
    labels_path : path, optional
        The labels file, when its name does not follow the convention.

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
        labels: bool = True,
        fit: Literal["resize", "pad"] = "resize",
        labels_path: str | os.PathLike | None = None,
    ) -> None:
        root = Path(root)
        if not root.exists():
            raise InvalidArgument(f"{root}: no such file or folder; check the dataset path")
        if root.is_dir():
            found = find_idx_images(root)
            if not found:
                raise InvalidArgument(
                    f"{root}: no IDX images file (a name containing 'idx3', like "
                    f"t10k-images-idx3-ubyte.gz) in this folder"
                )
            if len(found) > 1:
                raise InvalidArgument(
                    f"{root}: several IDX images files ({', '.join(p.name for p in found)}); "
                    f"give the one you want as the path"
                )
            root = found[0]
        if fit not in ("resize", "pad"):
            raise InvalidArgument(f"fit must be 'resize' or 'pad', got {fit!r}")
        self.images_path = root
        images = read_idx(root)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise InvalidImage(
                f"{root}: IDX images must be N x H x W unsigned bytes, got shape "
                f"{images.shape} of {images.dtype}"
            )
        if len(images) == 0:
            raise InvalidImage(f"{root}: holds no images")
        self.images = images
        self.targets = np.full(len(images), -1, np.int64)
        class_names: list[str] = []
        self.labels_path: Path | None = None
        if labels:
            lpath = Path(labels_path) if labels_path is not None else _labels_for(root)
            if lpath is None:
                raise InvalidArgument(
                    f"{root}: no labels file beside it (expected a name with 'labels' and "
                    f"'idx1'); pass labels_path=... or labels=False"
                )
            targets = read_idx(lpath)
            if targets.ndim != 1 or targets.dtype.kind not in "iu":
                raise InvalidImage(
                    f"{lpath}: IDX labels must be a 1-D integer array, got shape "
                    f"{targets.shape} of {targets.dtype}"
                )
            if len(targets) != len(images):
                raise InvalidImage(
                    f"{lpath}: {len(targets)} labels for {len(images)} images in {root.name}; "
                    f"the files do not belong together"
                )
            if targets.min() < 0:
                raise InvalidImage(f"{lpath}: labels must be >= 0, found {targets.min()}")
            self.targets = targets.astype(np.int64)
            self.labels_path = lpath
            class_names = [str(k) for k in range(int(targets.max()) + 1)]
        super().__init__(
            length=len(images),
            size=size,
            channels=channels,
            native_channels=1,
            split=split,
            labels=labels,
            class_names=class_names,
        )
        h, w = images.shape[1:]
        if fit == "pad" and (self.size < h or self.size < w):
            raise InvalidArgument(
                f"fit='pad' needs size >= the image size {h}x{w}, got {self.size}; "
                f"use fit='resize'"
            )
        self.fit = fit

    def _load(self, j: int) -> tuple[np.ndarray, int]:
        image = self.images[j]
        if self.fit == "pad":
            h, w = image.shape
            out = np.zeros((self.size, self.size), np.uint8)
            top, left = (self.size - h) // 2, (self.size - w) // 2
            out[top : top + h, left : left + w] = image
            image = out
        else:
            image = resize(image, self.size)
        return image, int(self.targets[j])
