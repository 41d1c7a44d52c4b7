"""The dataset registry and the dataset protocol every atelier dataset follows.

Every dataset is a ``torch.utils.data.Dataset`` whose items are ``(image, label)``:
``image`` is a ``(C, H, W)`` float32 tensor in [0, 1] with ``H == W == size``, ``label`` an
``int`` in ``[0, num_classes)``, or ``-1`` when the dataset is unlabelled (or built with
``labels=False``). Each dataset has the attributes ``size``, ``channels``, ``num_classes``
(0 when unlabelled) and ``class_names`` (a tuple, empty when unlabelled).

Captioned datasets (``captions``, ``coco``, ``scenes``, ``shapes-captions``) follow a wider
contract: one item per (image, caption) pair, ``CaptionedItem(image, label, text,
image_id)``, whose first two fields are the image and label above (see
:mod:`atelier.data.captioned`).

Datasets register under a name with ``@register_dataset``; ``make_dataset`` builds one from a
registered name or from a path (see its docstring for the rules).

Example
-------
>>> from atelier.data import make_dataset
>>> ds = make_dataset("digits", size=16)
>>> image, label = ds[0]
>>> tuple(image.shape), image.dtype, label, ds.num_classes
((1, 16, 16), torch.float32, 0, 10)
"""

from __future__ import annotations

import abc

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import numpy as np
from torch.utils.data import Dataset

from atelier.data.transforms import check_channels, check_size, to_channels, to_tensor
from atelier.errors import InvalidArgument, lookup

__all__ = [
    "DatasetSpec",
    "ImageDataset",
    "MODEL_SIZES",
    "Split",
    "get_dataset",
    "list_datasets",
    "make_dataset",
    "register_dataset",
    "resolve_split",
]

#: Resolutions the generative models accept (``make_dataset`` checks ``size`` against these).
MODEL_SIZES = (16, 32, 64, 128)

#: A part of a dataset: ``(start, stop)`` (ints, or floats in [0, 1] as fractions of the
#: length), a ``range``, a ``slice`` or an explicit sequence of indices.
Split = Union[tuple, range, slice, Sequence[int], None]


def resolve_split(split: Split, length: int) -> np.ndarray:
    """Turn a ``split`` into an array of indices into ``range(length)``.

    Parameters
    ----------
    split : None, (start, stop), range, slice or sequence of int
        ``None`` is everything. ``(start, stop)`` are ints (``stop`` excluded) or two floats in
        [0, 1], fractions of ``length`` (``(0.0, 0.8)`` is the first 80 %).
    length : int
        Number of items in the whole dataset.

    Returns
    -------
    numpy.ndarray
        1-D int64 indices, in order.

    Example
    -------
    >>> resolve_split((2, 5), 10).tolist(), resolve_split((0.5, 1.0), 4).tolist()
    ([2, 3, 4], [2, 3])
    """
    if split is None:
        return np.arange(length, dtype=np.int64)
    if isinstance(split, slice):
        return np.arange(length, dtype=np.int64)[split]
    if isinstance(split, tuple) and len(split) == 2 and all(
        isinstance(v, float) for v in split
    ):
        lo, hi = split
        if not 0.0 <= lo <= hi <= 1.0:
            raise InvalidArgument(
                f"a fractional split must satisfy 0 <= start <= stop <= 1, got {split}"
            )
        split = (int(round(lo * length)), int(round(hi * length)))
    if isinstance(split, tuple) and len(split) == 2 and all(
        isinstance(v, (int, np.integer)) for v in split
    ):
        start, stop = int(split[0]), int(split[1])
        if not 0 <= start < stop <= length:
            raise InvalidArgument(
                f"split {split} does not fit a dataset of {length} items; "
                f"use 0 <= start < stop <= {length}"
            )
        return np.arange(start, stop, dtype=np.int64)
    try:
        indices = np.asarray(list(split), dtype=np.int64)
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"split must be (start, stop), a range, a slice or a list of indices; got {split!r}"
        ) from None
    if indices.size and (indices.min() < 0 or indices.max() >= length):
        raise InvalidArgument(
            f"split indices must be in [0, {length}); got {indices.min()}..{indices.max()}"
        )
    if indices.size == 0:
        raise InvalidArgument("split selects no items; give a non-empty range")
    return indices


class ImageDataset(Dataset, abc.ABC):
    """Base class: indices, split, channel conversion and the ``(tensor, label)`` contract.

    A subclass calls ``super().__init__`` and implements ``_load(j) -> (array, label)`` for a
    raw index ``j`` of the whole dataset, returning an ``size x size`` (``x C``) numpy image
    (uint8, uint16 or float32 in [0, 1]) and an int label (ignored when ``labels`` is False).

    Attributes
    ----------
    size : int
        Height and width of every image.
    channels : int
        1 (grey) or 3 (RGB).
    num_classes : int
        Number of classes, 0 when unlabelled.
    class_names : tuple of str
        One name per class, empty when unlabelled.
    indices : numpy.ndarray
        Raw indices of the items in this split.
    """

    def __init__(
        self,
        *,
        length: int,
        size: int,
        channels: int | None,
        native_channels: int,
        split: Split = None,
        labels: bool = False,
        class_names: Sequence[str] = (),
    ) -> None:
        self.size = check_size(size)
        self.channels = check_channels(native_channels if channels is None else channels)
        self.indices = resolve_split(split, length)
        self.labeled = bool(labels)
        self.class_names: tuple[str, ...] = tuple(class_names) if self.labeled else ()
        self.num_classes = len(self.class_names)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def raw_index(self, i: int) -> int:
        """Index into the whole dataset of item ``i`` of this split (negative ``i`` allowed)."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} items")
        return int(self.indices[i % n])

    def __getitem__(self, i: int):
        image, label = self._load(self.raw_index(int(i)))
        tensor = to_tensor(to_channels(image, self.channels))
        return tensor, (int(label) if self.labeled else -1)

    @abc.abstractmethod
    def _load(self, j: int) -> tuple[np.ndarray, int]:
        """Image ``H x W [x C]`` (uint8 or float) and integer label of raw item ``j``."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(items={len(self)}, size={self.size}, "
            f"channels={self.channels}, num_classes={self.num_classes})"
        )


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its name, factory, one-line summary and whether it needs a path."""

    name: str
    factory: Callable[..., ImageDataset]
    summary: str
    needs_path: bool = False


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(
    name: str, *, needs_path: bool = False
) -> Callable[[Callable[..., ImageDataset]], Callable[..., ImageDataset]]:
    """Class decorator: register a dataset factory under ``name``.

    The factory is called with keyword arguments ``size``, ``channels``, ``split``, ``seed``,
    ``labels`` (when given) plus any dataset options, and with ``root`` first when
    ``needs_path``. The first line of its docstring is the summary ``atelier datasets`` shows.
    """

    def decorate(factory: Callable[..., ImageDataset]) -> Callable[..., ImageDataset]:
        old = _REGISTRY.get(name)
        if old is not None and old.factory.__qualname__ != factory.__qualname__:
            raise InvalidArgument(f"dataset {name!r} is already registered")
        doc = (factory.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = DatasetSpec(name, factory, doc[0] if doc else "", needs_path)
        return factory

    return decorate


def get_dataset(name: str) -> DatasetSpec:
    """Look a dataset up by name; ``UnknownName`` (with close matches) if not registered."""
    known = ", ".join(sorted(_REGISTRY))
    return lookup(_REGISTRY, name, "dataset", hint=f"known: {known}; or give a folder path")


def list_datasets() -> list[DatasetSpec]:
    """All registered datasets, sorted by name."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.startswith(".") or os.path.exists(text)


def _path_kind(path: Path) -> str:
    """``captions`` for a folder holding ``metadata.jsonl`` (or that file), ``coco`` for a
    ``.json`` file, ``idx`` for an IDX images file or a folder of IDX files and no images,
    else ``folder``."""
    from atelier.data.idx import is_idx_file, find_idx_images
    from atelier.image import is_image_path

    if (path.is_dir() and (path / "metadata.jsonl").is_file()) or (
        path.is_file() and path.name == "metadata.jsonl"
    ):
        return "captions"
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "coco"
        return "idx" if is_idx_file(path) else "folder"
    if path.is_dir() and find_idx_images(path):
        has_images = any(p.is_file() and is_image_path(p) for p in path.rglob("*"))
        return "folder" if has_images else "idx"
    return "folder"


def make_dataset(
    name_or_path: str | os.PathLike,
    *,
    size: int,
    channels: int | None = None,
    split: Split = None,
    seed: int = 0,
    labels: bool | None = None,
    sizes: Sequence[int] = MODEL_SIZES,
    **options: Any,
) -> ImageDataset:
    """Build a dataset from a registered name, ``NAME:PATH``, or a path.

    Parameters
    ----------
    name_or_path : str or path
        A registered name (``digits``, ``faces``, ``shapes``; see ``list_datasets()``), or
        ``NAME:PATH`` for a dataset that reads files (``folder:photos``, ``idx:mnist10k``,
        ``captions:emoji72``, ``coco:annotations/captions_val2017.json``), or a bare path: a
        folder holding a ``metadata.jsonl`` (or that file) is read as ``captions``; a
        ``.json`` file as ``coco``; an IDX images file, or a folder holding IDX files and no
        ordinary images, as ``idx``; any other path as ``folder`` (``folder:PATH`` reads a
        captioned folder as plain images).
    size : int
        Output height and width; a power of two in [16, 128] (the models need that). The
        dataset classes themselves accept any size >= 8.
    channels : {1, 3} or None
        None keeps the dataset's own (1 for idx, digits, faces; 3 for folder and shapes).
    split : (start, stop), range, slice or list of int, optional
        The part of the dataset to use, e.g. ``(0, 8000)``; see ``resolve_split``. Captioned
        datasets also take a part name (``"train"``, ``"val"``, ``"test"``, ``"all"``;
        ``scenes`` adds ``"compositional"``): see ``atelier.data.captioned``.
    seed : int
        For procedural data and random crops; datasets without randomness ignore it.
    labels : bool or None
        None uses the dataset's default (labelled when it has labels; ``folder`` unlabelled).
    sizes : sequence of int
        The sizes ``size`` may take (default ``MODEL_SIZES``; a model family with other
        resolutions passes its own: the diffusion U-Net also trains at 48 px).
    **options
        Passed to the dataset (e.g. ``crop="random"`` for folder, ``length=`` for shapes).

    Returns
    -------
    ImageDataset or CaptionedDataset
        Items ``(tensor (C, size, size) float32 in [0, 1], int label or -1)``; for captioned
        datasets ``CaptionedItem(image, label, text, image_id)``, one per caption.

    Raises
    ------
    UnknownName
        Not a registered name and not an existing path.
    InvalidArgument
        Bad size, channels or split; missing path; folder without images.

    Example
    -------
    >>> ds = make_dataset("shapes", size=32, length=10)
    >>> len(ds), tuple(ds[0][0].shape), ds.class_names
    (10, (3, 32, 32), ('circle', 'square', 'triangle'))
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size not in sizes:
        kind = "a power of two" if tuple(sizes) == MODEL_SIZES else "one of the sizes"
        raise InvalidArgument(
            f"size must be {kind} from {min(sizes)} to {max(sizes)} ({', '.join(map(str, sizes))}); "
            f"got {size!r}"
        )
    text = os.fspath(name_or_path)
    root: Path | None = None
    name, sep, rest = text.partition(":")
    if sep and name in _REGISTRY and rest:
        root = Path(rest).expanduser()
    elif text in _REGISTRY:
        name = text
    elif isinstance(name_or_path, os.PathLike) or _looks_like_path(text):
        root = Path(text).expanduser()
        if not root.exists():
            raise InvalidArgument(f"{root}: no such file or folder; check the dataset path")
        name = _path_kind(root)
    else:
        get_dataset(text)  # raises UnknownName with suggestions
    spec = get_dataset(name)
    kwargs: dict[str, Any] = dict(size=int(size), channels=channels, split=split, seed=seed)
    if labels is not None:
        kwargs["labels"] = labels
    kwargs.update(options)
    if spec.needs_path:
        if root is None:
            raise InvalidArgument(
                f"dataset {name!r} reads files: give {name}:PATH or a path to a folder"
            )
        return spec.factory(root, **kwargs)
    if root is not None:
        raise InvalidArgument(f"dataset {name!r} is built in and takes no path; use just {name!r}")
    return spec.factory(**kwargs)
