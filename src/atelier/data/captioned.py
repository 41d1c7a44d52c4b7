"""Captioned datasets: each item is one (image, caption) pair.

An image with ``k`` captions gives ``k`` items. An item is a ``CaptionedItem``, a named tuple
``(image, label, text, image_id)``:

- ``image``: ``(C, H, W)`` float32 tensor in [0, 1], ``H == W == size``;
- ``label``: an int, -1 when unlabelled (``shapes-captions`` and ``scenes`` may give one);
- ``text``: one caption of that image;
- ``image_id``: the index of the image among the dataset's images, ``0 .. num_images - 1``
  over the whole dataset (not the split), so it is stable whatever split is chosen.

``torch.utils.data.default_collate`` batches items into ``CaptionedItem(images (B, C, H, W),
labels (B,), texts (a tuple of B str), image_ids (B,))``, and ``batch[0], batch[1]`` are still
the images and labels for code written for ``(image, label)`` items.

Registered here (``make_dataset`` builds them; ``atelier datasets`` lists them):

- ``captions`` (``captions:PATH``, or a bare PATH to a folder holding ``metadata.jsonl``): the
  image-folder-with-metadata layout;
- ``coco`` (``coco:PATH/captions_train2017.json``, or a bare path to a ``.json`` file):
  COCO-format caption annotations beside their image folder (:mod:`atelier.data.coco`).

Splits
------
``split`` is either a part name or the numeric forms of ``atelier.data.resolve_split``:

- ``"train"``, ``"val"``, ``"test"`` (``scenes`` adds ``"compositional"``): a fixed rule
  assigns every image to one part. For file datasets the rule hashes a *group key*
  (``group_by``): an image is in ``test`` when ``group_hash(key) < test_fraction``, in
  ``val`` when it is below ``test_fraction + val_fraction``, else in ``train``. Images with
  the same key always fall on the same side, and ``test`` does not move when
  ``val_fraction`` changes. ``"all"`` (or None) is every image.
- ``(start, stop)``, a range, a slice or a list of indices: those image ids (not pairs).

``group_by`` is ``"file"`` (each image its own group: the file name), ``"caption"`` (images
with the same first caption, lower-cased, share a group) or ``"skin-tone"`` (the first
caption with its skin-tone modifiers removed, ``strip_skin_tones``: all skin-tone variants of
one emoji share a group). For emoji72 use ``group_by="skin-tone"`` with the default
``test_fraction=0.1``.

Images
------
Files are decoded with ``atelier.image.load_image`` (its safety limits apply); transparency
is composited on white (emoji are drawn on a transparent background; white is how they are
usually shown), then the shorter side is resized to ``size`` and the centre ``size x size``
window is kept. A corrupt image met during iteration is skipped as ``FolderDataset`` does:
one ``CorruptFileWarning``, and the item is replaced by the next item of the split whose
image is valid (its caption with it), so training never crashes mid-epoch.

Example
-------
>>> import json, os, tempfile
>>> import numpy as np
>>> from atelier.image import save_image
>>> root = tempfile.mkdtemp()
>>> save_image(os.path.join(root, "cat.png"), np.zeros((40, 40, 4), np.uint8))
>>> save_image(os.path.join(root, "dog.png"), np.zeros((40, 60, 3), np.uint8))
>>> lines = [{"file_name": "cat.png", "text": "a cat"}, {"file_name": "dog.png", "text": "a dog"},
...          {"file_name": "cat.png", "text": "a small cat"}]
>>> with open(os.path.join(root, "metadata.jsonl"), "w") as f:
...     f.write("\\n".join(json.dumps(x) for x in lines)) > 0
True
>>> ds = CaptionFolderDataset(root, size=32)
>>> len(ds), ds.num_images, ds.captions(0)
(3, 2, ['a cat', 'a small cat'])
>>> item = ds[1]
>>> tuple(item.image.shape), item.label, item.text, item.image_id
((3, 32, 32), -1, 'a small cat', 0)
>>> float(item.image.min())  # a transparent image composited on white
1.0
"""

from __future__ import annotations

import abc
import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from atelier.data.folder import CorruptFileWarning, list_images
from atelier.data.registry import Split, register_dataset, resolve_split
from atelier.data.transforms import check_channels, check_size, resize_crop, to_channels, to_tensor
from atelier.errors import InvalidArgument, InvalidImage
from atelier.image import DEFAULT_MAX_PIXELS, composite_alpha, is_image_path, load_image

__all__ = [
    "GROUP_RULES",
    "CaptionFolderDataset",
    "CaptionedDataset",
    "CaptionedItem",
    "FileCaptions",
    "UncaptionedImageWarning",
    "check_missing",
    "group_hash",
    "holdout_part",
    "is_base_name",
    "read_metadata",
    "strip_skin_tones",
]

#: How file datasets group images for the held-out split (see the module docstring).
GROUP_RULES = ("file", "caption", "skin-tone")


class CaptionedItem(NamedTuple):
    """One (image, caption) pair of a captioned dataset."""

    image: torch.Tensor  #: (C, H, W) float32 in [0, 1], H == W == size
    label: int  #: -1 when unlabelled
    text: str  #: one caption of that image
    image_id: int  #: index of the image in the whole dataset, 0 .. num_images - 1


class UncaptionedImageWarning(UserWarning):
    """Image files of a captioned folder have no caption and are left out."""


# CLDR skin-tone modifiers: "light", "medium-light", "medium", "medium-dark", "dark" skin tone,
# with the ":" / "," that introduce them in CLDR names ("kiss: woman, man, dark skin tone")
_SKIN_TONE = re.compile(
    r"[\s:,]*\b(?:medium-light|medium-dark|light|medium|dark)[ -]skin[ -]tones?\b", re.IGNORECASE
)


def strip_skin_tones(text: str) -> str:
    """``text`` without its skin-tone modifiers, lower-cased, spaces collapsed (the group key
    of ``group_by="skin-tone"``).

    Example
    -------
    >>> strip_skin_tones("Woman Scientist: medium-dark skin tone")
    'woman scientist'
    >>> strip_skin_tones("men holding hands light skin tone dark skin tone")
    'men holding hands'
    """
    return " ".join(_SKIN_TONE.sub(" ", text).lower().split()).strip(" :,")


def is_base_name(text: str) -> bool:
    """True when ``text`` names no skin tone (a base emoji, not one of its variants).

    Example
    -------
    >>> is_base_name("cat face"), is_base_name("waving hand medium skin tone")
    (True, False)
    """
    return re.search(r"skin[ -]tone", text, re.IGNORECASE) is None


def group_hash(key: str) -> float:
    """A number in [0, 1) fixed by ``key``: the first 8 bytes of the SHA-1 of its UTF-8, read
    as a big-endian integer, over 2**64 (the same on every machine and Python version).

    Example
    -------
    >>> 0.0 <= group_hash("cat face") < 1.0, group_hash("cat face") == group_hash("cat face")
    (True, True)
    """
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def holdout_part(key: str, test_fraction: float, val_fraction: float) -> str:
    """``"test"``, ``"val"`` or ``"train"`` for a group key (see the module docstring).

    Example
    -------
    >>> holdout_part("cat face", 0.0, 0.0), holdout_part("cat face", 1.0, 0.0)
    ('train', 'test')
    """
    u = group_hash(key)
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


def _check_fractions(test_fraction: float, val_fraction: float) -> tuple[float, float]:
    for name, value in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise InvalidArgument(f"{name} must be a number in [0, 1), got {value!r}")
    if test_fraction + val_fraction >= 1:
        raise InvalidArgument(
            f"test_fraction + val_fraction must be < 1 (something must be left to train on); "
            f"got {test_fraction} + {val_fraction}"
        )
    return float(test_fraction), float(val_fraction)


class CaptionedDataset(Dataset, abc.ABC):
    """Base class of the captioned datasets: pairs, splits and the ``CaptionedItem`` contract.

    A subclass calls ``super().__init__``, then ``_use_split(split, parts, counts)`` with the
    part name and the number of captions of every image, and implements
    ``captions(image_id)`` and ``_load(image_id) -> (array, label)`` (a ``size x size [x C]``
    numpy image, uint8 or float32 in [0, 1]; the label is ignored when unlabelled). ``_load``
    may raise ``InvalidImage`` for a corrupt file: that item is skipped (see the module
    docstring).

    Attributes
    ----------
    size : int
        Height and width of every image.
    channels : int
        3 (RGB, the default) or 1 (BT.601 grey).
    num_classes : int
        Number of classes, 0 when unlabelled.
    class_names : tuple of str
        One name per class, empty when unlabelled.
    num_images : int
        Images in the whole dataset (every split).
    image_ids : numpy.ndarray
        int64 ids of the images in this split, unique, sorted.
    parts : tuple of str
        The part names ``split`` accepts.
    """

    parts: tuple[str, ...] = ("train", "val", "test")

    def __init__(
        self,
        *,
        size: int,
        channels: int | None,
        native_channels: int = 3,
        labels: bool = False,
        class_names: Sequence[str] = (),
    ) -> None:
        self.size = check_size(size)
        self.channels = check_channels(native_channels if channels is None else channels)
        self.labeled = bool(labels)
        self.class_names: tuple[str, ...] = tuple(class_names) if self.labeled else ()
        self.num_classes = len(self.class_names)
        self._bad: dict[int, str] = {}
        self._warned = False

    def _use_split(self, split: Split | str, parts: Sequence[str], counts: Sequence[int]) -> None:
        """Select the images of ``split`` (a part name or a numeric split) and their pairs."""
        self.num_images = len(parts)
        self.split = split
        if isinstance(split, str):
            if split == "all":
                ids = np.arange(self.num_images, dtype=np.int64)
            elif split in self.parts:
                ids = np.flatnonzero(np.asarray(parts, dtype=object) == split).astype(np.int64)
                if ids.size == 0:
                    raise InvalidArgument(
                        f"the {split!r} split of this dataset is empty ({self.num_images} "
                        f"images); choose another split or change its fraction"
                    )
            else:
                raise InvalidArgument(
                    f"split must be one of {', '.join(self.parts)}, 'all', (start, stop) or a "
                    f"list of image ids; got {split!r}"
                )
        else:
            ids = np.unique(resolve_split(split, self.num_images))
        per_image = np.asarray(counts, dtype=np.int64)[ids]
        self.image_ids = ids
        self._pair_image = np.repeat(ids, per_image)
        starts = np.repeat(np.cumsum(per_image) - per_image, per_image)
        self._pair_caption = np.arange(self._pair_image.size, dtype=np.int64) - starts

    def __len__(self) -> int:
        return int(self._pair_image.size)

    @abc.abstractmethod
    def captions(self, image_id: int) -> list[str]:
        """All the captions (references) of image ``image_id``, in order."""

    @abc.abstractmethod
    def _load(self, image_id: int) -> tuple[np.ndarray, int]:
        """Image ``size x size [x C]`` and integer label of image ``image_id``."""

    def _check_id(self, image_id: int) -> int:
        if not 0 <= int(image_id) < self.num_images:
            raise IndexError(f"image id {image_id} out of range [0, {self.num_images})")
        return int(image_id)

    def _image(self, image_id: int) -> tuple[torch.Tensor, int]:
        array, label = self._load(image_id)
        return to_tensor(to_channels(array, self.channels)), (int(label) if self.labeled else -1)

    def image_tensor(self, image_id: int) -> torch.Tensor:
        """Image ``image_id`` (any image of the dataset) as ``(C, size, size)`` float32 in [0, 1]."""
        return self._image(self._check_id(image_id))[0]

    def valid_images(self, limit: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """``(image_id, image (C, size, size) float32 in [0, 1])`` for the images of this split
        in id order, at most ``limit`` of them; a corrupt image is skipped and recorded as in
        iteration (one ``CorruptFileWarning``, ``skipped`` lists it). Validation and
        ``atelier.tasks.caption_eval`` read their images through this."""
        given = 0
        for image_id in self.image_ids:
            if limit is not None and given >= limit:
                return
            image_id = int(image_id)
            if image_id in self._bad:
                continue
            try:
                image = self._image(image_id)[0]
            except InvalidImage as error:
                self._mark_bad(image_id, error)
                continue
            given += 1
            yield image_id, image

    def all_captions(self) -> list[str]:
        """The captions of this split, in item order (training text for a tokenizer)."""
        return [
            self.captions(int(i))[int(k)] for i, k in zip(self._pair_image, self._pair_caption)
        ]

    def _describe(self, image_id: int) -> str:
        return f"image {image_id}"

    @property
    def skipped(self) -> list[str]:
        """The corrupt images met so far (in this process), sorted."""
        return sorted(self._describe(i) for i in self._bad)

    def _mark_bad(self, image_id: int, error: InvalidImage) -> None:
        self._bad[image_id] = str(error)
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"skipping corrupt image {error}; its items are replaced by the next valid "
                f"ones. Further corrupt files are skipped silently; see dataset.skipped for the "
                f"list (run dataset.validate() to check every file first)",
                CorruptFileWarning,
                stacklevel=3,
            )

    def __getitem__(self, i: int) -> CaptionedItem:
        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} items")
        for step in range(n):
            j = (i + step) % n
            image_id = int(self._pair_image[j])
            if image_id in self._bad:
                continue
            try:
                image, label = self._image(image_id)
            except InvalidImage as error:  # corrupt, truncated or too large: skip, never crash
                self._mark_bad(image_id, error)
                continue
            text = self.captions(image_id)[int(self._pair_caption[j])]
            return CaptionedItem(image, label, text, image_id)
        raise InvalidImage(f"every image of this split is corrupt ({len(self.image_ids)} images)")

    def validate(self) -> list[str]:
        """Decode every image of this split now; return the corrupt ones (also in ``skipped``)."""
        for image_id in self.image_ids:
            image_id = int(image_id)
            if image_id not in self._bad:
                try:
                    self._load(image_id)
                except InvalidImage as error:
                    self._mark_bad(image_id, error)
        return self.skipped

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(items={len(self)}, images={len(self.image_ids)}, "
            f"split={self.split!r}, size={self.size}, channels={self.channels})"
        )


class FileCaptions(CaptionedDataset):
    """Captions of image files: options, grouping, held-out parts and decoding.

    A subclass sets where its files are, then calls ``super().__init__(**options)``, and
    implements ``_read() -> (files, names, captions)``: the image paths, their names (the
    ``group_by="file"`` keys) and their captions, in image-id order.

    Parameters
    ----------
    size : int
        Output side (>= 8): shorter side resized to ``size``, centre crop.
    channels : {1, 3} or None
        3 (default) or 1 (BT.601 grey).
    split : str or numeric split
        ``train``, ``val``, ``test``, ``all``, or image ids (see the module docstring).
    seed : int
        Unused (the data holds no randomness); accepted as every dataset does.
    labels : bool
        Must be False: the images have no class labels.
    test_fraction, val_fraction : float
        Share of the groups held out in ``test`` and ``val`` (default 0.1 and 0.05).
    group_by : {"file", "caption", "skin-tone"}
        The group key of the held-out split (see the module docstring).
    max_pixels : int
        Decompression-bomb limit per file (larger files count as corrupt).
    """

    def __init__(
        self,
        *,
        size: int,
        channels: int | None = None,
        split: Split | str = None,
        seed: int = 0,
        labels: bool = False,
        test_fraction: float = 0.1,
        val_fraction: float = 0.05,
        group_by: str = "file",
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if labels:
            raise InvalidArgument(
                "captioned image files have no class labels; use labels=False (the default)"
            )
        if group_by not in GROUP_RULES:
            raise InvalidArgument(
                f"group_by must be one of {', '.join(GROUP_RULES)}; got {group_by!r}"
            )
        test_fraction, val_fraction = _check_fractions(test_fraction, val_fraction)
        super().__init__(size=size, channels=channels)
        files, names, captions = self._read()
        self.files = files
        self.file_names = names
        self._captions = captions
        self.group_by = group_by
        self.test_fraction, self.val_fraction = test_fraction, val_fraction
        self.max_pixels = int(max_pixels)
        if group_by == "file":
            self.group_keys = list(names)
        elif group_by == "caption":
            self.group_keys = [" ".join(c[0].lower().split()) for c in captions]
        else:
            self.group_keys = [strip_skin_tones(c[0]) for c in captions]
        parts = [holdout_part(k, test_fraction, val_fraction) for k in self.group_keys]
        self._use_split(split, parts, [len(c) for c in captions])

    @abc.abstractmethod
    def _read(self) -> tuple[list[Path], list[str], list[list[str]]]:
        """Image paths, names and captions, in image-id order."""

    def captions(self, image_id: int) -> list[str]:
        """All the captions of image ``image_id``, in file order."""
        return list(self._captions[self._check_id(image_id)])

    def _describe(self, image_id: int) -> str:
        return str(self.files[image_id])

    def _load(self, image_id: int) -> tuple[np.ndarray, int]:
        # composite first, then convert (``_image``): load_image(mode="rgb", alpha="composite")
        # drops the alpha channel before it composites, leaving transparent pixels black
        array = load_image(self.files[image_id], max_pixels=self.max_pixels)
        array = composite_alpha(array, (255, 255, 255))
        return resize_crop(array, self.size, "center", None), -1


def check_missing(missing: list[tuple[str, str]], where: str, fix: str) -> None:
    """One error line for files named but absent: the first (with its place) and the count."""
    if missing:
        place, name = missing[0]
        more = f" ({len(missing)} entries name missing files in all)" if len(missing) > 1 else ""
        raise InvalidArgument(f"{place}: {name}: no such image file in {where}{more}; {fix}")


def read_metadata(root: Path) -> tuple[list[str], list[list[str]]]:
    """Parse ``root/metadata.jsonl``: the file names (sorted) and their captions (file order).

    Raises ``InvalidArgument`` naming the line for invalid UTF-8, a line that is not a JSON
    object, a missing or non-string ``file_name``, a name outside the folder or not an image,
    a missing or empty ``text``, and a file that does not exist. Blank lines are ignored.
    """
    path = root / "metadata.jsonl"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"{path}: cannot read it ({exc.strerror or exc})") from None
    by_file: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    example = 'each line must be one object like {"file_name": "a.png", "text": "a cat"}'
    base = root.resolve()
    for number, raw in enumerate(data.split(b"\n"), 1):
        where = f"{path} line {number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(
                f"{where}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8"
            ) from None
        line = line.lstrip("\ufeff") if number == 1 else line
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(
                f"{where}: not valid JSON ({exc.msg}, column {exc.colno}); {example}"
            ) from None
        if not isinstance(record, dict):
            raise InvalidArgument(f"{where}: a JSON {type(record).__name__}, not an object; {example}")
        name = record.get("file_name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgument(f"{where}: no \"file_name\" string; {example}")
        name = name.strip().replace("\\", "/")
        target = (root / name).resolve()
        if os.path.isabs(name) or not target.is_relative_to(base):
            raise InvalidArgument(
                f"{where}: {name}: file_name must be a path relative to the folder, inside it"
            )
        if not is_image_path(name):
            raise InvalidArgument(
                f"{where}: {name} is not an image file name (.png, .jpg, .jpeg, .webp, .tif, "
                f".tiff, .bmp)"
            )
        if "text" not in record:
            raise InvalidArgument(f"{where}: {name} has no \"text\" (its caption); {example}")
        texts = record["text"]
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InvalidArgument(
                f"{where}: {name}: \"text\" must be a string (or a list of strings), got "
                f"{type(record['text']).__name__}"
            )
        texts = [" ".join(t.split()) for t in texts]
        if not texts or not all(texts):
            raise InvalidArgument(
                f"{where}: {name} has an empty caption; give it a text or remove the line"
            )
        by_file.setdefault(name, []).extend(texts)
        first_line.setdefault(name, number)
    if not by_file:
        raise InvalidArgument(f"{path}: no captions (the file has no JSON lines); {example}")
    names = sorted(by_file)
    missing = [(f"{path} line {first_line[n]}", n) for n in names if not (root / n).is_file()]
    check_missing(missing, str(root), "fix metadata.jsonl or add the images")
    return names, [by_file[n] for n in names]


@register_dataset("captions", needs_path=True)
class CaptionFolderDataset(FileCaptions):
    """Folder of images captioned in metadata.jsonl ({"file_name", "text"} per line).

    Parameters
    ----------
    root : path
        The folder (or its ``metadata.jsonl``). Each line of ``metadata.jsonl`` is a JSON
        object with ``file_name`` (relative to the folder, sub-folders allowed) and ``text``
        (a caption, or a list of captions); several lines for one file give it several
        captions. Other keys are ignored.
    **options
        ``size``, ``channels``, ``split``, ``seed``, ``labels``, ``test_fraction``,
        ``val_fraction``, ``group_by``, ``max_pixels``: see ``FileCaptions``.

    Bad input raises ``InvalidArgument`` naming the file and line: a line that is not UTF-8 or
    not a JSON object, no ``file_name``, a name outside the folder or not an image, no
    ``text`` or an empty one, a file that does not exist. Image files of the folder with no
    caption are not items: one ``UncaptionedImageWarning`` gives their count. Corrupt images
    are skipped during iteration (see the module docstring).

    Items are ``CaptionedItem(image (channels, size, size), -1, text, image_id)``; image ids
    follow the sorted file names.
    """

    def __init__(self, root: str | os.PathLike, **options: Any) -> None:
        root = Path(root)
        if root.is_file() and root.name == "metadata.jsonl":
            root = root.parent
        if not root.is_dir():
            raise InvalidArgument(f"{root}: no such folder; check the dataset path")
        if not (root / "metadata.jsonl").is_file():
            raise InvalidArgument(
                f"{root}: no metadata.jsonl; a captioned folder holds its images and a "
                f'metadata.jsonl with one {{"file_name": ..., "text": ...}} object per line'
            )
        self.root = root
        super().__init__(**options)

    def _read(self) -> tuple[list[Path], list[str], list[list[str]]]:
        root = self.root
        names, captions = read_metadata(root)
        named = {str(root / n) for n in names}
        loose = [p for p in list_images(root) if str(p) not in named]
        if loose:
            warnings.warn(
                f"{root}: {len(loose)} image file(s) have no caption in metadata.jsonl and are "
                f"left out (e.g. {loose[0].relative_to(root)})",
                UncaptionedImageWarning,
                stacklevel=4,
            )
        self.uncaptioned = len(loose)
        return [root / n for n in names], names, captions
