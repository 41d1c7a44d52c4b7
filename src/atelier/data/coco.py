"""``coco``: COCO-format captions, a ``captions_*.json`` file beside its image folder.

The file is ``{"images": [{"id", "file_name"}, ...], "annotations": [{"image_id", "caption"},
...]}`` (other keys are ignored), as COCO's ``annotations/captions_train2017.json``. Its
images are looked for in a folder named like the split (``coco_image_folder``), or in the
folder given as ``images=``. Items, splits and image decoding are those of every captioned
dataset (:mod:`atelier.data.captioned`); image ids follow the COCO ids in increasing order.

Example
-------
>>> import json, os, tempfile
>>> import numpy as np
>>> from atelier.image import save_image
>>> root = tempfile.mkdtemp()
>>> save_image(os.path.join(root, "val2017", "000001.jpg"), np.zeros((20, 30, 3), np.uint8))
>>> data = {"images": [{"id": 1, "file_name": "000001.jpg"}],
...         "annotations": [{"image_id": 1, "caption": "A black square."},
...                         {"image_id": 1, "caption": "darkness"}]}
>>> os.mkdir(os.path.join(root, "annotations"))
>>> path = os.path.join(root, "annotations", "captions_val2017.json")
>>> with open(path, "w") as f:
...     json.dump(data, f)
>>> ds = CocoCaptionsDataset(path, size=16)
>>> len(ds), ds.num_images, ds.coco_ids, ds[1].text
(2, 1, [1], 'darkness')
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from atelier.data.captioned import FileCaptions, UncaptionedImageWarning, check_missing
from atelier.data.registry import register_dataset
from atelier.errors import InvalidArgument

__all__ = ["CocoCaptionsDataset", "coco_image_folder"]


def coco_image_folder(annotations: Path) -> list[Path]:
    """Where the images of a COCO caption file may be, in the order they are tried.

    For ``ROOT/annotations/captions_train2017.json`` the split name is ``train2017`` (the
    file's stem without ``captions_``), and the folders tried are ``ROOT/annotations/train2017``,
    ``ROOT/train2017`` and ``ROOT/images/train2017``: the first that exists is used.

    Example
    -------
    >>> [p.as_posix() for p in coco_image_folder(Path("coco/annotations/captions_val2017.json"))]
    ['coco/annotations/val2017', 'coco/val2017', 'coco/images/val2017']
    """
    stem = annotations.stem
    split = stem[len("captions_") :] if stem.startswith("captions_") and len(stem) > 9 else stem
    here = annotations.parent
    return [here / split, here.parent / split, here.parent / "images" / split]


def _read_coco(path: Path) -> tuple[list[Any], list[list[str]], list[str]]:
    """COCO ``images`` (sorted by id) -> (ids, captions per image, file names), checked."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise InvalidArgument(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    layout = 'a COCO caption file is {"images": [{"id", "file_name"}], "annotations": [{"image_id", "caption"}]}'
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"{path} line {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations")
    ):
        raise InvalidArgument(f"{path}: no \"images\" and \"annotations\" lists; {layout}")
    files: dict[Any, str] = {}
    for k, image in enumerate(data["images"]):
        ok = isinstance(image, dict) and isinstance(image.get("file_name"), str)
        if not ok or not isinstance(image.get("id"), (int, str)) or image["file_name"] == "":
            raise InvalidArgument(f"{path}: images[{k}] needs an \"id\" and a \"file_name\"; {layout}")
        if image["id"] in files:
            raise InvalidArgument(f"{path}: images[{k}]: id {image['id']!r} is used twice")
        files[image["id"]] = image["file_name"]
    captions: dict[Any, list[str]] = {}
    for k, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or "caption" not in ann:
            raise InvalidArgument(
                f"{path}: annotations[{k}] needs an \"image_id\" and a \"caption\"; {layout}"
            )
        if ann["image_id"] not in files:
            raise InvalidArgument(
                f"{path}: annotations[{k}]: image_id {ann['image_id']!r} is not in \"images\""
            )
        caption = " ".join(ann["caption"].split()) if isinstance(ann["caption"], str) else ""
        if not caption:
            raise InvalidArgument(
                f"{path}: annotations[{k}] (image_id {ann['image_id']!r}) has an empty or "
                f"non-string caption"
            )
        captions.setdefault(ann["image_id"], []).append(caption)
    if not captions:
        raise InvalidArgument(f"{path}: no captions (\"annotations\" is empty)")
    uncaptioned = len(files) - len(captions)
    if uncaptioned:
        warnings.warn(
            f"{path}: {uncaptioned} image(s) have no caption and are left out",
            UncaptionedImageWarning,
            stacklevel=5,
        )
    ids = sorted(captions, key=lambda i: (isinstance(i, str), i))
    return ids, [captions[i] for i in ids], [files[i] for i in ids]


@register_dataset("coco", needs_path=True)
class CocoCaptionsDataset(FileCaptions):
    """COCO-format captions: a captions_*.json file beside its image folder.

    Parameters
    ----------
    annotations : path
        The caption file (``{"images": [{"id", "file_name"}], "annotations": [{"image_id",
        "caption"}]}``; other keys are ignored).
    images : path, optional
        The image folder; by default the first existing one of ``coco_image_folder``
        (``captions_train2017.json`` -> ``train2017/`` beside the file, beside its folder, or
        in ``images/`` beside its folder).
    **options
        ``size``, ``channels``, ``split``, ``seed``, ``labels``, ``test_fraction``,
        ``val_fraction``, ``group_by``, ``max_pixels``: see ``FileCaptions``. The file is
        already one COCO split: use ``split="all"`` (or None) to train on all of it.

    Images are those with at least one caption (the others: one ``UncaptionedImageWarning``),
    sorted by COCO id; ``coco_ids[image_id]`` is the COCO id. Bad input (not JSON, missing
    keys, an annotation for an unknown image, an empty caption, a missing image file, no
    image folder) raises one ``InvalidArgument`` line naming the file and entry.
    """

    def __init__(
        self,
        annotations: str | os.PathLike,
        *,
        images: str | os.PathLike | None = None,
        **options: Any,
    ) -> None:
        path = Path(annotations)
        if not path.is_file():
            raise InvalidArgument(f"{path}: no such file; give the COCO captions_*.json file")
        tried = [Path(images)] if images is not None else coco_image_folder(path)
        folder = next((p for p in tried if p.is_dir()), None)
        if folder is None:
            raise InvalidArgument(
                f"{path}: no image folder (tried {', '.join(map(str, tried))}); "
                f"give images=FOLDER"
            )
        self.annotations, self.root = path, folder
        super().__init__(**options)

    def _read(self) -> tuple[list[Path], list[str], list[list[str]]]:
        ids, captions, names = _read_coco(self.annotations)
        self.coco_ids = ids
        folder = self.root
        missing = [
            (f"{self.annotations}: image id {i!r}", n)
            for i, n in zip(ids, names)
            if not (folder / n).is_file()
        ]
        check_missing(missing, str(folder), "check the image folder (images=FOLDER)")
        return [folder / n for n in names], names, captions
