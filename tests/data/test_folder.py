"""FolderDataset: recursive listing, crops, labels, and corrupt files skipped."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from atelier.data import CorruptFileWarning, FolderDataset
from atelier.errors import InvalidArgument, InvalidImage
from atelier.image import save_image


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def tree(tmp_path):
    """dog/0.png (white), cat/a/1.png (grey 40x80), cat/2.jpg (red), a hidden file."""
    save_image(tmp_path / "dog" / "0.png", np.full((30, 30, 3), 255, np.uint8))
    save_image(tmp_path / "cat" / "a" / "1.png", np.full((40, 80), 100, np.uint8))
    red = np.zeros((20, 20, 3), np.uint8)
    red[..., 0] = 255
    save_image(tmp_path / "cat" / "2.jpg", red)
    save_image(tmp_path / "dog" / ".hidden.png", red)
    (tmp_path / "readme.txt").write_text("x")
    return tmp_path


def test_recursive_and_labels(tree):
    ds = FolderDataset(tree, size=16, labels=True)
    files = [p.relative_to(tree).as_posix() for p in ds.files]
    assert files == ["cat/2.jpg", "cat/a/1.png", "dog/0.png"]
    assert ds.class_names == ("cat", "dog") and ds.num_classes == 2
    assert [ds[i][1] for i in range(3)] == [0, 0, 1]
    image, _ = ds[1]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert torch.allclose(image, torch.full_like(image, 100 / 255))


def test_unlabelled_and_grey(tree):
    ds = FolderDataset(tree, size=8, channels=1)
    assert ds.num_classes == 0 and ds.class_names == () and ds[0][1] == -1
    # red JPEG -> BT.601 grey ~ 0.299 (JPEG tolerance)
    assert ds[0][0].shape == (1, 8, 8) and abs(float(ds[0][0].mean()) - 0.299) < 0.03


def test_labels_need_subfolders(tree):
    save_image(tree / "loose.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(InvalidArgument, match="directly in the folder"):
        FolderDataset(tree, size=8, labels=True)


def test_center_crop_takes_the_middle(tmp_path):
    """A 16x48 image whose middle third is white: center crop 16x16 is all white."""
    img = np.zeros((16, 48), np.uint8)
    img[:, 16:32] = 255
    save_image(tmp_path / "x.png", img)
    image, _ = FolderDataset(tmp_path, size=16, channels=1)[0]
    assert float(image.min()) == 1.0


def test_random_crop_deterministic_per_seed_and_epoch(tmp_path):
    save_image(tmp_path / "x.png", np.random.default_rng(0).integers(0, 256, (32, 256), np.uint8))
    a = FolderDataset(tmp_path, size=32, crop="random", seed=1)
    b = FolderDataset(tmp_path, size=32, crop="random", seed=1)
    assert torch.equal(a[0][0], b[0][0])
    first = a[0][0]
    crops = []
    for epoch in range(5):
        a.set_epoch(epoch)
        crops.append(a[0][0])
    assert torch.equal(crops[0], first)
    assert any(not torch.equal(c, first) for c in crops[1:])


def test_truncated_png_is_skipped_with_one_warning(tmp_path):
    """A truncated PNG is replaced by the next valid file; one warning, no crash."""
    good = [np.full((12, 12), v, np.uint8) for v in (10, 20, 30)]
    for k, img in enumerate(good):
        save_image(tmp_path / f"{k}.png", img)
    data = _png_bytes(np.full((12, 12), 99, np.uint8))
    (tmp_path / "1b.png").write_bytes(data[: len(data) // 2])  # truncated, sorts after 1.png
    (tmp_path / "1c.png").write_bytes(b"not a png at all")
    ds = FolderDataset(tmp_path, size=8, channels=1)
    assert len(ds) == 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = [round(float(ds[i][0][0, 0, 0]) * 255) for i in range(len(ds))]
        again = [round(float(ds[i][0][0, 0, 0]) * 255) for i in range(len(ds))]
    # order: 0, 1, 1b (bad -> 1c bad -> 2), 1c (bad -> 2), 2
    assert values == [10, 20, 30, 30, 30] and again == values
    assert len([w for w in caught if issubclass(w.category, CorruptFileWarning)]) == 1
    assert [p.rsplit("/", 1)[-1] for p in ds.skipped] == ["1b.png", "1c.png"]


def test_validate_lists_corrupt_files(tmp_path):
    save_image(tmp_path / "ok.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = FolderDataset(tmp_path, size=8)
    with pytest.warns(CorruptFileWarning):
        assert [p.rsplit("/", 1)[-1] for p in ds.validate()] == ["bad.png"]


def test_all_corrupt_is_an_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"junk")
    ds = FolderDataset(tmp_path, size=8)
    with pytest.warns(CorruptFileWarning), pytest.raises(InvalidImage, match="every image"):
        ds[0]


def test_bad_crop_argument(tree):
    with pytest.raises(InvalidArgument, match="crop"):
        FolderDataset(tree, size=8, crop="edge")


def test_path_is_a_file(tree):
    with pytest.raises(InvalidArgument, match="is a file"):
        FolderDataset(tree / "dog" / "0.png", size=8)
