"""``patches``: random flipped/rotated patches of photos, (HR, LR) pairs, held-out photos."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from atelier.data import make_dataset
from atelier.data import patches as patches_module
from atelier.data.folder import CorruptFileWarning
from atelier.data.transforms import to_tensor
from atelier.data.patches import (
    PatchDataset,
    PatchTooLarge,
    center_crops,
    degrade_bicubic,
    dihedral,
    read_photos,
)
from atelier.errors import InvalidArgument
from atelier.image import save_image
from atelier.ops import resize


@pytest.fixture
def photos(tmp_path, astronaut):
    """4 crops of the astronaut (96 x 128, 80 x 100, 64 x 64, 72 x 90) as PNG and JPEG."""
    root = tmp_path / "photos"
    save_image(root / "a.png", astronaut)
    save_image(root / "b.jpg", astronaut[:80, :100])
    save_image(root / "sub" / "c.png", astronaut[10:74, 20:84])
    save_image(root / "sub" / "d.png", astronaut[5:77, 30:120])
    return root


def test_smoke_pairs_and_plain_patches(photos):
    ds = PatchDataset(photos, size=24, scale=3, per_image=2, holdout=0)
    hr, lr = ds[0]
    assert len(ds) == 8 and hr.shape == (3, 24, 24) and lr.shape == (3, 8, 8)
    assert hr.dtype == lr.dtype == torch.float32 and 0 <= float(hr.min()) <= float(hr.max()) <= 1
    plain = PatchDataset(photos, size=16, per_image=1, holdout=0)
    image, label = plain[3]
    assert image.shape == (3, 16, 16) and label == -1
    grey = PatchDataset(photos, size=16, channels=1, per_image=1, holdout=0)
    assert grey[0][0].shape == (1, 16, 16)


def test_patches_are_windows_of_the_photos(photos, astronaut):
    """Every patch is a dihedral transform of some window of its photo."""
    ds = PatchDataset(photos, size=8, per_image=4, holdout=0)
    photo = ds.photos[0]  # a.png: the astronaut itself (PNG, lossless)
    assert np.array_equal(photo, astronaut)
    for i in range(0, 16, 4):  # items i % 4 == 0 come from photo 0
        patch = ds.patch(i)
        undone = [dihedral(patch, k) for k in range(8)]  # one of them is the window
        found = any(
            np.array_equal(u, photo[t : t + 8, l : l + 8])
            for u in undone
            for t in range(photo.shape[0] - 7)
            for l in range(photo.shape[1] - 7)
            if u[0, 0, 0] == photo[t, l, 0]
        )
        assert found, i


def test_deterministic_in_seed_epoch_index(photos):
    a = PatchDataset(photos, size=16, scale=2, seed=3, holdout=0)
    b = PatchDataset(photos, size=16, scale=2, seed=3, holdout=0)
    for i in (0, 5, 77):
        assert torch.equal(a[i][0], b[i][0]) and torch.equal(a[i][1], b[i][1])
    first = a[5][0]
    a.set_epoch(1)
    assert not torch.equal(a[5][0], first)  # new patches each epoch
    assert torch.equal(a[5][0], to_tensor(a.patch(5, epoch=1)))
    a.set_epoch(0)
    assert torch.equal(a[5][0], first)  # ... and the same ones again for the same epoch
    other = PatchDataset(photos, size=16, scale=2, seed=4, holdout=0)
    assert not torch.equal(other[5][0], first)


def test_dihedral_transforms_are_the_eight_distinct_ones():
    a = np.arange(6).reshape(2, 3)
    outs = [dihedral(a, k) for k in range(8)]
    assert np.array_equal(outs[0], a)
    assert len({(o.shape, o.tobytes()) for o in outs}) == 8
    assert np.array_equal(outs[2], a[::-1, ::-1]) and np.array_equal(outs[4], a[:, ::-1])


def test_dataset_draws_every_dihedral_transform(photos, monkeypatch):
    drawn = []
    real = patches_module.dihedral
    monkeypatch.setattr(patches_module, "dihedral", lambda img, k: drawn.append(k) or real(img, k))
    ds = PatchDataset(photos, size=8, per_image=16, holdout=0)
    for i in range(len(ds)):
        ds[i]
    counts = np.bincount(drawn, minlength=8)
    assert counts.sum() == 64 and (counts > 0).all()


def test_degradation_is_pillow_antialiased_bicubic(photos):
    """The LR item equals atelier's resize(method="bicubic", antialias=True) of the HR patch
    rounded to uint8 (Pillow's BICUBIC resampling: the benchmark protocol, see
    tests/ops/test_geometry.py for its CSet5 reference values)."""
    ds = PatchDataset(photos, size=24, scale=4, holdout=0)
    for i in (0, 1, 2):
        hr, lr = ds[i]
        hr8 = ds.patch(i)
        expected = resize(hr8, width=6, height=6, method="bicubic", antialias=True)
        assert torch.equal(lr, to_tensor(expected)) and torch.equal(hr, to_tensor(hr8))
    # hand-computed: a constant image stays constant; a ramp's mean is kept
    assert (degrade_bicubic(np.full((8, 8, 3), 77, np.uint8), 2) == 77).all()
    grey = degrade_bicubic(np.full((6, 6, 1), 9, np.uint8), 3)
    assert grey.shape == (2, 2, 1) and (grey == 9).all()
    with pytest.raises(InvalidArgument, match="multiples"):
        degrade_bicubic(np.zeros((7, 8, 3), np.uint8), 2)


def test_holdout_is_the_last_photos_by_path(photos, tmp_path):
    ds = PatchDataset(photos, size=16, holdout=1)
    assert [p.name for p in ds.files] == ["a.png", "b.jpg", "c.png"]
    assert [p.name for p in ds.held_out_files] == ["d.png"] and len(ds.held_out) == 1
    assert len(PatchDataset(photos, size=16).held_out) == 0  # under ten photos: none by default
    many = tmp_path / "many"
    for k in range(23):
        save_image(many / f"{k:02d}.png", np.full((20, 20, 3), k, np.uint8))
    ds = PatchDataset(many, size=16)
    assert [p.name for p in ds.held_out_files] == ["21.png", "22.png"]  # one in ten


def test_center_crops():
    images = [np.zeros((30, 50, 3), np.uint8), np.ones((300, 400, 3), np.uint8)]
    crops = center_crops(images, 64, multiple=3)
    assert [c.shape for c in crops] == [(30, 30, 3), (63, 63, 3)]
    ramp = np.arange(100, dtype=np.uint8).reshape(10, 10, 1).repeat(3, 2)
    assert center_crops([ramp], 4)[0][0, 0, 0] == 33


def test_corrupt_and_small_files_are_skipped_with_a_count(photos):
    (photos / "broken.png").write_bytes(b"\x89PNG not really")
    save_image(photos / "tiny.png", np.zeros((10, 10, 3), np.uint8))
    with pytest.warns(CorruptFileWarning, match="skipped 2 of 6 files"):
        ds = PatchDataset(photos, size=16, holdout=0)
    assert len(ds.photos) == 4 and len(ds.skipped) == 2
    assert any("broken.png" in s for s in ds.skipped) and any("tiny.png" in s for s in ds.skipped)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(size=200), PatchTooLarge, "larger than every training photo"),
        (dict(size=16, scale=5), InvalidArgument, "scale must be 2, 3 or 4"),
        (dict(size=18, scale=4), InvalidArgument, "multiple of the scale"),
        (dict(size=16, per_image=0), InvalidArgument, "per_image"),
        (dict(size=16, holdout=4), InvalidArgument, "holdout must be an integer from 0 to 3"),
        (dict(size=16, split=(0, 2)), InvalidArgument, "holdout=N"),
        (dict(size=16, labels=True), InvalidArgument, "unlabelled"),
        (dict(size=4), InvalidArgument, "size must be"),
        (dict(size=16, channels=2), InvalidArgument, "channels"),
    ],
)
def test_errors(photos, kwargs, error, match):
    with pytest.raises(error, match=match):
        PatchDataset(photos, **kwargs)


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match="no images found"):
        PatchDataset(tmp_path / "empty", size=16)
    with pytest.raises(InvalidArgument, match="no such folder"):
        PatchDataset(tmp_path / "missing", size=16)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"nope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InvalidArgument, match="none of its 1 image files could be read"):
            PatchDataset(tmp_path / "bad", size=16)
    arrays, kept, skipped = read_photos([tmp_path / "bad" / "x.jpg"])
    assert arrays == [] and kept == [] and "x.jpg" in skipped[0]


def test_registered_and_loads_with_a_dataloader(photos):
    ds = make_dataset(f"patches:{photos}", size=16, holdout=0, per_image=2)
    assert isinstance(ds, PatchDataset) and ds.num_classes == 0
    batch, labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch.shape == (4, 3, 16, 16) and labels.tolist() == [-1] * 4


def test_max_side_downscales_large_photos_first(photos):
    """Pillow's antialiased bicubic to a longer side of 50; smaller photos stay as they are."""
    plain = PatchDataset(photos, size=16, holdout=1)
    small = PatchDataset(photos, size=16, holdout=1, max_side=50)
    for before, after in zip(plain.photos + plain.held_out, small.photos + small.held_out):
        assert max(after.shape[:2]) == min(50, max(before.shape[:2]))
        k = max(after.shape[:2]) / max(before.shape[:2])
        assert abs(after.shape[0] - before.shape[0] * k) <= 1 and abs(after.shape[1] - before.shape[1] * k) <= 1
    photo = plain.photos[0]
    expected = resize(photo, width=small.photos[0].shape[1], height=small.photos[0].shape[0],
                      method="bicubic", antialias=True)
    assert np.abs(small.photos[0].astype(int) - expected.astype(int)).max() <= 1
    with pytest.raises(InvalidArgument, match="max_side must be an integer >= 8"):
        PatchDataset(photos, size=16, max_side=4)
