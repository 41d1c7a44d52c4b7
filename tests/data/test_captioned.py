"""Captioned folders (metadata.jsonl), COCO-format captions and the emoji72 grouped split."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from atelier.data import (
    CaptionedItem,
    CaptionFolderDataset,
    CocoCaptionsDataset,
    CorruptFileWarning,
    UncaptionedImageWarning,
    is_base_name,
    make_dataset,
    strip_skin_tones,
)
from atelier.data.captioned import group_hash, holdout_part
from atelier.data.coco import coco_image_folder
from atelier.errors import InvalidArgument
from atelier.image import save_image
from atelier.train.objectives.gan import split_batch
from atelier.train.trainer import _to_device

EMOJI72 = Path(__file__).resolve().parents[3] / "shared" / "data" / "emoji72"


def _write_folder(root: Path, lines: list, extra: dict | None = None) -> Path:
    """Images named by ``lines`` (plus ``extra`` files) and a metadata.jsonl of ``lines``."""
    names = {line["file_name"] for line in lines if isinstance(line, dict)} | set(extra or {})
    for k, name in enumerate(sorted(names)):
        image = (extra or {}).get(name)
        if image is None:
            image = np.full((24, 30, 3), (40 * k) % 256, np.uint8)
        save_image(root / name, image)
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    (root / "metadata.jsonl").write_text(text + "\n", encoding="utf-8")
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    transparent = np.zeros((20, 20, 4), np.uint8)  # fully transparent black
    lines = [
        {"file_name": "b.png", "text": "a bird"},
        {"file_name": "a.png", "text": "an apple"},
        {"file_name": "sub/c.png", "text": "a cup", "other": 3},
        {"file_name": "a.png", "text": "a red  apple "},  # a second caption; spaces collapsed
        {"file_name": "t.png", "text": ["nothing", "empty"]},  # a list of captions
    ]
    return _write_folder(tmp_path, lines, extra={"t.png": transparent})


def test_contract(folder: Path):
    ds = CaptionFolderDataset(folder, size=16)
    assert ds.num_images == 4 and len(ds) == 6
    assert ds.file_names == ["a.png", "b.png", "sub/c.png", "t.png"]
    assert ds.captions(0) == ["an apple", "a red apple"]
    assert ds.image_ids.tolist() == [0, 1, 2, 3]
    assert (ds.size, ds.channels, ds.num_classes, ds.class_names) == (16, 3, 0, ())
    items = [ds[i] for i in range(len(ds))]
    assert all(isinstance(it, CaptionedItem) for it in items)
    assert [(it.text, it.image_id) for it in items] == [
        ("an apple", 0), ("a red apple", 0), ("a bird", 1), ("a cup", 2), ("nothing", 3),
        ("empty", 3),
    ]
    for it in items:
        assert it.image.shape == (3, 16, 16) and it.image.dtype == torch.float32
        assert 0 <= float(it.image.min()) <= float(it.image.max()) <= 1 and it.label == -1
    assert ds.all_captions() == [it.text for it in items]
    assert torch.equal(ds.image_tensor(1), items[2].image)
    assert torch.equal(ds[-1].image, items[-1].image)
    with pytest.raises(IndexError):
        ds[6]
    with pytest.raises(IndexError):
        ds.image_tensor(4)
    grey = CaptionFolderDataset(folder, size=16, channels=1)
    assert grey[0].image.shape == (1, 16, 16)


def test_rgba_composited_on_white(folder: Path):
    ds = CaptionFolderDataset(folder, size=16)
    assert torch.all(ds.image_tensor(3) == 1.0)


def test_collate_and_the_image_label_view(folder: Path):
    """default_collate gives a CaptionedItem of batches; batch[0], batch[1] are images and
    labels for (image, label) code (split_batch), and the Trainer moves it to a device."""
    ds = CaptionFolderDataset(folder, size=16)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert isinstance(batch, CaptionedItem)
    assert batch.image.shape == (4, 3, 16, 16) and batch.label.tolist() == [-1] * 4
    assert list(batch.text) == ["an apple", "a red apple", "a bird", "a cup"]
    assert batch.image_id.tolist() == [0, 0, 1, 2]
    x, y = split_batch(batch)
    assert x is batch[0] and y is batch[1]
    moved = _to_device(batch, torch.device("cpu"))
    assert isinstance(moved, CaptionedItem) and moved.text == batch.text
    assert default_collate([ds[0]]).image_id.tolist() == [0]


def test_make_dataset_picks_captions(folder: Path):
    for path in (folder, folder / "metadata.jsonl", f"captions:{folder}"):
        ds = make_dataset(str(path), size=16)
        assert isinstance(ds, CaptionFolderDataset) and len(ds) == 6
    plain = make_dataset(f"folder:{folder}", size=16)  # the images alone
    assert len(plain) == 4 and len(plain[0]) == 2
    assert len(make_dataset(folder, size=16, split="all")) == 6


def test_uncaptioned_files_are_counted_in_one_warning(folder: Path):
    save_image(folder / "loose1.png", np.zeros((8, 8, 3), np.uint8))
    save_image(folder / "sub" / "loose2.jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.warns(UncaptionedImageWarning, match="2 image file"):
        ds = CaptionFolderDataset(folder, size=16)
    assert ds.num_images == 4 and ds.uncaptioned == 2


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"file_name": "gone.png", "text": "x"}', r"line 2: gone\.png: no such image file"),
        ('{"file_name": "a.png", "text": "x"', r"line 2: not valid JSON"),
        ('{"file_name": "a.png", "text": "  "}', r"line 2: a\.png has an empty caption"),
        ('{"file_name": "a.png"}', r'line 2: a\.png has no "text"'),
        ('{"file_name": "a.png", "text": 3}', r'line 2: a\.png: "text" must be a string'),
        ('{"text": "x"}', r'line 2: no "file_name"'),
        ('["a.png", "x"]', r"line 2: a JSON list, not an object"),
        ('{"file_name": "../a.png", "text": "x"}', r"line 2: \.\./a\.png: file_name must be"),
        ('{"file_name": "notes.txt", "text": "x"}', r"line 2: notes\.txt is not an image"),
    ],
)
def test_bad_metadata_names_the_line(tmp_path: Path, line: str, message: str):
    root = _write_folder(tmp_path, [{"file_name": "a.png", "text": "an apple"}])
    (root / "metadata.jsonl").write_text('{"file_name": "a.png", "text": "an apple"}\n' + line)
    with pytest.raises(InvalidArgument, match=message) as info:
        make_dataset(root, size=16)
    assert "metadata.jsonl" in str(info.value) and "\n" not in str(info.value)


def test_bad_metadata_utf8_and_empty(tmp_path: Path):
    root = _write_folder(tmp_path, [{"file_name": "a.png", "text": "an apple"}])
    (root / "metadata.jsonl").write_bytes(b'\xef\xbb\xbf{"file_name": "a.png", "text": "ok"}\n'
                                          b'{"file_name": "a.png", "text": "caf\xe9"}\n')
    with pytest.raises(InvalidArgument, match=r"metadata\.jsonl line 2: not valid UTF-8"):
        CaptionFolderDataset(root, size=16)
    (root / "metadata.jsonl").write_text("\n\n")
    with pytest.raises(InvalidArgument, match="no captions"):
        CaptionFolderDataset(root, size=16)
    (root / "metadata.jsonl").unlink()
    with pytest.raises(InvalidArgument, match="no metadata.jsonl"):
        CaptionFolderDataset(root, size=16)
    many = [{"file_name": f"m{k}.png", "text": "x"} for k in range(3)]
    (root / "metadata.jsonl").write_text("\n".join(map(json.dumps, many)))
    with pytest.raises(InvalidArgument, match=r"line 1: m0\.png: .*\(3 entries name missing"):
        CaptionFolderDataset(root, size=16)


def test_bad_options(folder: Path):
    with pytest.raises(InvalidArgument, match="no class labels"):
        make_dataset(folder, size=16, labels=True)
    with pytest.raises(InvalidArgument, match="group_by must be one of"):
        make_dataset(folder, size=16, group_by="hash")
    with pytest.raises(InvalidArgument, match="test_fraction must be"):
        make_dataset(folder, size=16, test_fraction=1.5)
    with pytest.raises(InvalidArgument, match=r"test_fraction \+ val_fraction must be < 1"):
        make_dataset(folder, size=16, test_fraction=0.5, val_fraction=0.5)
    with pytest.raises(InvalidArgument, match="split must be one of train, val, test"):
        make_dataset(folder, size=16, split="training")
    with pytest.raises(InvalidArgument, match="'test' split of this dataset is empty"):
        make_dataset(folder, size=16, split="test", test_fraction=0.0)


def test_corrupt_image_is_skipped_with_its_captions(folder: Path):
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ds = CaptionFolderDataset(folder, size=16)
    with pytest.warns(CorruptFileWarning, match="b.png"):
        item = ds[2]  # b.png's caption: replaced by the next valid pair
    assert (item.text, item.image_id) == ("a cup", 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ds[2].text == "a cup"  # no second warning
    assert ds.validate() == [str(folder / "b.png")]


def test_strip_skin_tones_and_base_names():
    assert strip_skin_tones("woman scientist medium skin tone") == "woman scientist"
    assert strip_skin_tones("kiss: woman, man, light skin tone, dark skin tone") == "kiss: woman, man"
    assert strip_skin_tones("Santa Claus") == "santa claus"
    assert is_base_name("woman scientist") and not is_base_name("man dark skin tone")
    assert holdout_part("x", 0.0, 0.0) == "train"
    u = group_hash("woman scientist")
    assert holdout_part("woman scientist", u + 1e-9, 0.0) == "test"
    assert holdout_part("woman scientist", u / 2, u) == "val"


def test_grouped_split(tmp_path: Path):
    """Parts are disjoint and cover every image; skin-tone variants share a part; the test
    part does not move when val_fraction changes."""
    tones = ["", " light skin tone", " medium-light skin tone", " dark skin tone"]
    lines = [
        {"file_name": f"e{k}_{t}.png", "text": f"emoji {k}{tone}"}
        for k in range(30)
        for t, tone in enumerate(tones)
    ]
    root = _write_folder(tmp_path, lines)
    kw = dict(size=16, group_by="skin-tone", test_fraction=0.3, val_fraction=0.2)
    parts = {p: set(make_dataset(root, split=p, **kw).image_ids.tolist()) for p in ("train", "val", "test")}
    assert sum(map(len, parts.values())) == 120 and set.union(*parts.values()) == set(range(120))
    every = make_dataset(root, **kw)
    for ids in parts.values():
        assert ids and all(len(ids & set(range(4 * g, 4 * g + 4))) in (0, 4) for g in range(30))
        keys = {every.group_keys[i] for i in ids}
        assert len(keys) == len(ids) // 4
    test0 = make_dataset(root, split="test", size=16, group_by="skin-tone", test_fraction=0.3)
    assert set(test0.image_ids.tolist()) == parts["test"]
    by_file = make_dataset(root, split="test", size=16, test_fraction=0.3)
    assert any(len(set(by_file.image_ids.tolist()) & set(range(4 * g, 4 * g + 4))) in (1, 2, 3)
               for g in range(30))  # grouping by file splits the variants
    assert make_dataset(root, split=(4, 8), size=16).image_ids.tolist() == [4, 5, 6, 7]


# --- COCO ---------------------------------------------------------------------------------


def _write_coco(root: Path, data: dict, folder: str = "train2017") -> Path:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for image in data.get("images", []):
        save_image(root / folder / image["file_name"], np.full((20, 28, 3), image["id"], np.uint8))
    path = root / "annotations" / "captions_train2017.json"
    path.write_text(json.dumps(data))
    return path


COCO = {
    "info": {"description": "tiny"},
    "images": [
        {"id": 42, "file_name": "000042.jpg", "width": 28, "height": 20},
        {"id": 7, "file_name": "000007.jpg"},
        {"id": 9, "file_name": "000009.jpg"},
    ],
    "annotations": [
        {"id": 1, "image_id": 42, "caption": "A dog on a sofa.\n"},
        {"id": 2, "image_id": 7, "caption": "a cat"},
        {"id": 3, "image_id": 42, "caption": "a brown dog"},
    ],
}


def test_coco(tmp_path: Path):
    path = _write_coco(tmp_path, COCO)
    with pytest.warns(UncaptionedImageWarning, match="1 image"):
        ds = make_dataset(str(path), size=16)  # a bare .json path is COCO
    assert isinstance(ds, CocoCaptionsDataset) and ds.root == tmp_path / "train2017"
    assert ds.coco_ids == [7, 42] and ds.num_images == 2 and len(ds) == 3
    assert ds.captions(1) == ["A dog on a sofa.", "a brown dog"]
    assert [(it.text, it.image_id) for it in ds] == [
        ("a cat", 0), ("A dog on a sofa.", 1), ("a brown dog", 1),
    ]
    assert abs(float(ds[0].image.mean()) - 7 / 255) < 1e-6  # the file of COCO id 7
    with pytest.warns(UncaptionedImageWarning):
        assert len(make_dataset(f"coco:{path}", size=16, split="all")) == 3


def test_coco_image_folder_rule(tmp_path: Path):
    """The folder named like the split (train2017) is looked for beside the file, beside its
    folder, then in images/ beside its folder; images= overrides."""
    data = {"images": COCO["images"][:2], "annotations": COCO["annotations"]}
    path = _write_coco(tmp_path, data, folder="images/train2017")
    assert CocoCaptionsDataset(path, size=16).root == tmp_path / "images" / "train2017"
    _write_coco(tmp_path, data, folder="annotations/train2017")
    assert CocoCaptionsDataset(path, size=16).root == tmp_path / "annotations" / "train2017"
    _write_coco(tmp_path, data, folder="elsewhere")
    assert CocoCaptionsDataset(path, size=16, images=tmp_path / "elsewhere").root.name == "elsewhere"
    assert [p.name for p in coco_image_folder(Path("a/b/val.json"))] == ["val"] * 3
    with pytest.raises(InvalidArgument, match="no image folder .*give images=FOLDER"):
        CocoCaptionsDataset(path, size=16, images=tmp_path / "nope")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["annotations"].append({"image_id": 5, "caption": "x"}),
         r"annotations\[3\]: image_id 5 is not in \"images\""),
        (lambda d: d["annotations"].append({"image_id": 7, "caption": " "}),
         r"annotations\[3\] \(image_id 7\) has an empty"),
        (lambda d: d["annotations"].append({"caption": "x"}), r'annotations\[3\] needs an "image_id"'),
        (lambda d: d["images"].append({"id": 7, "file_name": "x.jpg"}), r"id 7 is used twice"),
        (lambda d: d.pop("annotations"), r'no "images" and "annotations" lists'),
    ],
)
def test_coco_bad_input(tmp_path: Path, change, message):
    data = json.loads(json.dumps(COCO))
    data["images"] = data["images"][:2]
    path = _write_coco(tmp_path, data)
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidArgument, match=message):
        CocoCaptionsDataset(path, size=16)


def test_coco_missing_file_and_bad_json(tmp_path: Path):
    data = {"images": COCO["images"][:2], "annotations": COCO["annotations"]}
    path = _write_coco(tmp_path, data)
    (tmp_path / "train2017" / "000042.jpg").unlink()
    with pytest.raises(InvalidArgument, match=r"image id 42: 000042\.jpg: no such image file"):
        CocoCaptionsDataset(path, size=16)
    path.write_text('{"images": [,]}')
    with pytest.raises(InvalidArgument, match=r"line 1: not valid JSON"):
        CocoCaptionsDataset(path, size=16)


# --- emoji72 --------------------------------------------------------------------------------


@pytest.mark.skipif(not EMOJI72.is_dir(), reason=f"{EMOJI72} is absent (shared benchmark data)")
def test_emoji72_grouped_split():
    """The fixed rule (group_by="skin-tone", test_fraction=0.1, val_fraction=0.05): 3,543
    images in 1,651 groups; test 310 images (160 groups, 160 base names), val 142 (72),
    train 3,091 (1,419 groups, 1,416 base names). Every emoji's variants on one side."""
    kw = dict(size=16, group_by="skin-tone")
    parts = {p: make_dataset(EMOJI72, split=p, **kw) for p in ("train", "val", "test")}
    sizes = {p: len(ds.image_ids) for p, ds in parts.items()}
    assert sizes == {"train": 3091, "val": 142, "test": 310}
    groups = {p: {ds.group_keys[i] for i in ds.image_ids} for p, ds in parts.items()}
    assert [len(g) for g in groups.values()] == [1419, 72, 160]
    assert not (groups["train"] & groups["test"]) and not (groups["train"] & groups["val"])
    test = parts["test"]
    assert sum(is_base_name(test.captions(int(i))[0]) for i in test.image_ids) == 160
    cat = test.file_names.index("emoji_u1f408.png")
    assert test.captions(cat) == ["cat"]
    assert torch.equal(test.image_tensor(cat)[:, 0, 0], torch.ones(3))  # white, not black
