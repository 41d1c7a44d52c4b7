"""IDX (MNIST format): header parsing, gz and raw, labels, splits, resizing, bad files."""

from __future__ import annotations

import gzip

import cv2
import numpy as np
import pytest
import torch

from atelier.data import IdxDataset, make_dataset, read_idx, write_idx
from atelier.errors import InvalidArgument, InvalidImage


def _pair(folder, n=6, gz=True, hw=(28, 28)):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n,) + hw, np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"t-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"t-labels-idx1-ubyte{suffix}", labels)
    return images, labels


def test_header_bytes_hand_written(tmp_path):
    """IDX spec (yann.lecun.com/exdb/mnist): 00 00 08 03, then big-endian dims 2, 3, 4."""
    raw = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]) + bytes(range(24))
    (tmp_path / "a").write_bytes(raw)
    (tmp_path / "b.gz").write_bytes(gzip.compress(raw))
    for name in ("a", "b.gz"):
        array = read_idx(tmp_path / name)
        assert array.shape == (2, 3, 4) and array.dtype == np.uint8
        assert array.ravel().tolist() == list(range(24))


def test_int32_big_endian(tmp_path):
    """Type byte 0x0C = int32 big-endian: bytes 00 00 01 00 are 256."""
    raw = bytes([0, 0, 0x0C, 1, 0, 0, 0, 1, 0, 0, 1, 0])
    (tmp_path / "l").write_bytes(raw)
    assert read_idx(tmp_path / "l").tolist() == [256]


@pytest.mark.parametrize("gz", [True, False])
def test_dataset_gz_and_raw(tmp_path, gz):
    images, labels = _pair(tmp_path, gz=gz)
    ds = IdxDataset(tmp_path, size=28)
    assert len(ds) == 6 and ds.num_classes == 6 and ds.class_names[0] == "0"
    image, label = ds[4]
    assert image.shape == (1, 28, 28) and label == 4
    assert torch.allclose(image[0], torch.from_numpy(images[4]).float() / 255, atol=1e-6)
    # pointing at the images file works too
    suffix = ".gz" if gz else ""
    assert len(IdxDataset(tmp_path / f"t-images-idx3-ubyte{suffix}", size=28)) == 6


def test_resize_and_pad(tmp_path):
    """Reference: cv2.resize INTER_LINEAR 28 -> 32; pad puts the digit at offset 2."""
    images, _ = _pair(tmp_path)
    resized = IdxDataset(tmp_path, size=32)[0][0][0]
    expected = cv2.resize(images[0], (32, 32), interpolation=cv2.INTER_LINEAR) / 255
    assert torch.allclose(resized, torch.from_numpy(expected).float())
    padded = IdxDataset(tmp_path, size=32, fit="pad")[0][0][0]
    assert torch.allclose(padded[2:30, 2:30], torch.from_numpy(images[0]).float() / 255, atol=1e-6)
    assert float(padded[:2].abs().sum()) == 0
    with pytest.raises(InvalidArgument, match="fit='pad'"):
        IdxDataset(tmp_path, size=16, fit="pad")


def test_split_and_channels(tmp_path):
    _pair(tmp_path, n=10)
    ds = IdxDataset(tmp_path, size=16, split=(8, 10), channels=3)
    assert len(ds) == 2 and [ds[i][1] for i in range(2)] == [8, 9]
    assert ds[0][0].shape == (3, 16, 16)
    assert len(IdxDataset(tmp_path, size=16, split=range(0, 8))) == 8


def test_unlabelled(tmp_path):
    _pair(tmp_path)
    (tmp_path / "t-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InvalidArgument, match="labels"):
        IdxDataset(tmp_path, size=16)
    ds = IdxDataset(tmp_path, size=16, labels=False)
    assert ds[0][1] == -1 and ds.num_classes == 0


def test_bad_files(tmp_path):
    (tmp_path / "x-images-idx3-ubyte").write_bytes(b"\x89PNG not idx")
    with pytest.raises(InvalidImage, match="not an IDX file"):
        IdxDataset(tmp_path, size=16)
    (tmp_path / "t").mkdir()
    _pair(tmp_path / "t", gz=False)
    path = tmp_path / "t" / "t-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(InvalidImage, match="truncated"):
        IdxDataset(path, size=16)
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "a-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"abc")[:-4])
    with pytest.raises(InvalidImage, match="gzip"):
        IdxDataset(tmp_path / "g", size=16)


def test_label_count_mismatch_and_wrong_layout(tmp_path):
    _pair(tmp_path)
    write_idx(tmp_path / "t-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(InvalidImage, match="5 labels for 6 images"):
        IdxDataset(tmp_path, size=16)
    write_idx(tmp_path / "w-images-idx3-ubyte", np.zeros((2, 3), np.uint8))
    with pytest.raises(InvalidImage, match="N x H x W"):
        IdxDataset(tmp_path / "w-images-idx3-ubyte", size=16, labels=False)


def test_folder_ambiguous_or_without_idx(tmp_path):
    with pytest.raises(InvalidArgument, match="no IDX images"):
        IdxDataset(tmp_path, size=16)
    _pair(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(InvalidArgument, match="several"):
        IdxDataset(tmp_path, size=16)


def test_shared_mnist10k(shared_data):
    """MNIST t10k (LeCun et al.): 10,000 images 28x28, labels 0..9, first label 7."""
    ds = make_dataset(shared_data / "mnist10k", size=32)
    assert isinstance(ds, IdxDataset) and len(ds) == 10_000
    assert ds.images.shape == (10_000, 28, 28) and ds.num_classes == 10
    assert ds.targets.min() == 0 and ds.targets.max() == 9 and ds[0][1] == 7
    assert np.bincount(ds.targets).min() > 800
    image = ds[0][0]
    assert image.shape == (1, 32, 32) and 0 <= float(image.min()) and float(image.max()) <= 1
    train = make_dataset(shared_data / "mnist10k", size=32, split=(0, 8000))
    held = make_dataset(shared_data / "mnist10k", size=32, split=(8000, 10_000))
    assert (len(train), len(held)) == (8000, 2000)
