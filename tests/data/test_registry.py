"""Registry and make_dataset: names, paths, sizes, splits and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.data import (
    FolderDataset,
    IdxDataset,
    ShapesDataset,
    get_dataset,
    list_datasets,
    make_dataset,
    resolve_split,
    write_idx,
)
from atelier.errors import AtelierError, InvalidArgument, UnknownName
from atelier.image import save_image


def test_list_datasets():
    names = [s.name for s in list_datasets()]
    assert names == [
        "captions", "coco", "digits", "faces", "folder", "idx", "patches", "scenes", "shapes",
        "shapes-captions",
    ]
    assert all(s.summary for s in list_datasets())
    assert get_dataset("folder").needs_path and not get_dataset("shapes").needs_path


def test_unknown_name_suggests():
    with pytest.raises(UnknownName, match="did you mean shapes"):
        make_dataset("shape", size=32)


@pytest.mark.parametrize("size", [8, 24, 48, 256, 32.0, True])
def test_size_not_model_power_of_two(size):
    with pytest.raises(InvalidArgument, match="power of two"):
        make_dataset("shapes", size=size)


def test_missing_path(tmp_path):
    with pytest.raises(AtelierError, match="no such"):
        make_dataset(tmp_path / "nope", size=32)
    with pytest.raises(AtelierError, match="no such"):
        make_dataset(f"folder:{tmp_path / 'nope'}", size=32)


def test_empty_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(InvalidArgument, match="no images found"):
        make_dataset(tmp_path, size=32)


def test_path_kinds(tmp_path):
    """A folder of images -> folder; a folder of IDX files or the IDX file itself -> idx."""
    save_image(tmp_path / "img" / "a.png", np.zeros((20, 20, 3), np.uint8))
    write_idx(tmp_path / "mn" / "x-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "mn" / "x-labels-idx1-ubyte", np.array([0, 1, 2], np.uint8))
    assert isinstance(make_dataset(tmp_path / "img", size=16), FolderDataset)
    assert isinstance(make_dataset(str(tmp_path / "mn"), size=16), IdxDataset)
    assert isinstance(make_dataset(tmp_path / "mn" / "x-images-idx3-ubyte", size=16), IdxDataset)
    assert isinstance(make_dataset(f"idx:{tmp_path / 'mn'}", size=16), IdxDataset)


def test_builtin_takes_no_path_and_file_datasets_need_one():
    with pytest.raises(InvalidArgument, match="reads files"):
        make_dataset("folder", size=32)


def test_options_and_common_attributes():
    ds = make_dataset("shapes", size=16, channels=1, split=(2, 6), seed=3, labels=False, length=10)
    assert isinstance(ds, ShapesDataset) and len(ds) == 4
    image, label = ds[0]
    assert image.shape == (1, 16, 16) and image.dtype == torch.float32 and label == -1
    assert (ds.num_classes, ds.class_names, ds.channels, ds.size) == (0, (), 1, 16)
    # item 0 of the split is item 2 of the whole dataset
    whole = make_dataset("shapes", size=16, channels=1, seed=3, length=10)
    assert torch.equal(whole[2][0], image)


@pytest.mark.parametrize(
    "split, expected",
    [(None, [0, 1, 2, 3, 4]), ((1, 3), [1, 2]), (range(0, 5, 2), [0, 2, 4]),
     (slice(-2, None), [3, 4]), ((0.0, 0.6), [0, 1, 2]), ([4, 0], [4, 0])],
)
def test_resolve_split(split, expected):
    assert resolve_split(split, 5).tolist() == expected


@pytest.mark.parametrize("split", [(3, 2), (0, 6), (-1, 2), (0.5, 1.5), [5], "abc", []])
def test_resolve_split_errors(split):
    with pytest.raises(InvalidArgument):
        resolve_split(split, 5)


def test_index_out_of_range():
    ds = make_dataset("shapes", size=16, length=3)
    with pytest.raises(IndexError):
        ds[3]
    assert torch.equal(ds[-1][0], ds[2][0])


def test_dataloader_batches():
    loader = torch.utils.data.DataLoader(make_dataset("digits", size=16), batch_size=4)
    images, labels = next(iter(loader))
    assert images.shape == (4, 1, 16, 16) and labels.tolist() == [0, 1, 2, 3]
