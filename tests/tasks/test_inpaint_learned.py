"""Learned inpainting: training a tiny U-Net, filling any image size through crops around the
holes, unmasked pixels bit-identical, layouts and dtypes, the CLI and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from atelier.data.masks import random_mask
from atelier.errors import InvalidArgument
from atelier.image import load_image, save_image
from atelier.models import build_model
from atelier.tasks.inpaint import box_mask, inpaint
from atelier.tasks.inpaint_learned import hole_regions, inpaint_with_model
from atelier.train.objectives import make_objective
from atelier.train.objectives.inpaint import hole_psnr
from tests.cli.test_cli import atelier


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return data.astronaut()[::4, ::4].copy()  # 128 x 128 RGB


@pytest.fixture(scope="module")
def run(tmp_path_factory, photo):
    """A tiny inpainting network trained for a few steps from the CLI."""
    root = tmp_path_factory.mktemp("inpaint")
    for k, (top, left) in enumerate([(0, 0), (40, 60), (64, 64), (10, 30)]):
        save_image(root / "photos" / f"{k}.png", photo[top : top + 64, left : left + 64])
    assert atelier("train", "inpaint", "--data", root / "photos", "--out", root / "run",
                   "--set", "width=4", "--set", "levels=2", "--set", "resolution=24", "--set", "steps=4",
                   "--set", "batch_size=2", "--set", "validate_every=2", "--set", "checkpoint_every=2",
                   "--set", "holdout=1", "--set", "val_crop=48") == 0
    return root


def test_training_logs_every_term_and_exports_the_best(run):
    log = [json.loads(line) for line in (run / "run" / "log.jsonl").read_text().splitlines()]
    train = [r for r in log if "images_per_s" in r]
    vals = [r for r in log if "val_psnr" in r]
    assert {"valid", "hole", "perceptual", "style", "loss"} <= set(train[0])
    assert [r["step"] for r in vals] == [2, 4] and all(r["val_telea"] > 10 for r in vals)
    assert vals[-1]["best_val_psnr"] == max(r["val_psnr"] for r in vals)


def test_batches_rescale_crops_and_cover_the_asked_range():
    obj = make_objective(build_model("inpaint", {"width": 4, "levels": 2, "resolution": 32}), {"coverage": (0.2, 0.3)})
    windows = torch.rand(6, 3, 64, 64)
    gt, mask = obj.make_batch(windows, torch.Generator().manual_seed(0))
    assert gt.shape == (6, 3, 32, 32) and mask.shape == (6, 1, 32, 32)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert all(0.2 <= float(m.mean()) < 0.9 for m in mask)
    again = obj.make_batch(windows, torch.Generator().manual_seed(0))
    assert torch.equal(gt, again[0]) and torch.equal(mask, again[1])


def test_loss_terms_are_zero_for_a_perfect_fill_and_weighted():
    obj = make_objective(build_model("inpaint", {"width": 4, "levels": 2, "resolution": 32}))
    gt = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:20, 8:20] = 1
    perfect = obj.loss_terms(gt.clone(), gt, mask)
    assert all(float(v) == 0 for v in perfect.values())
    wrong = gt.clone()
    wrong[..., 8:20, 8:20] = 0.5
    terms = obj.loss_terms(wrong, gt, mask)
    expected_hole = 6.0 * float((wrong - gt).abs()[..., 8:20, 8:20].mean())
    assert float(terms["hole"]) == pytest.approx(expected_hole, rel=1e-5) and float(terms["valid"]) == 0
    assert float(terms["perceptual"]) > 0 and float(terms["style"]) > 0


def test_hole_psnr():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 255
    mask = np.zeros((4, 4), bool)
    mask[0, :2] = True  # 2 pixels x 3 channels, three of the six values off by 255
    assert hole_psnr(b, a, mask) == pytest.approx(10 * np.log10(2), abs=1e-9)


def test_regions_group_nearby_holes_and_keep_far_ones_apart():
    mask = np.zeros((300, 400), bool)
    mask[20:30, 20:30] = mask[25:35, 40:50] = True  # near each other: one region
    mask[250:260, 350:370] = True
    regions = hole_regions(mask)
    assert len(regions) == 2
    for top, left, bottom, right in regions:
        assert 0 <= top < bottom <= 300 and 0 <= left < right <= 400
    assert regions[0][:2] == (4, 4) or regions[1][:2] == (4, 4)


@pytest.mark.parametrize("size", [(37, 53), (300, 260)])
def test_any_size_keeps_unmasked_pixels(run, size):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    mask = random_mask(*size, rng, coverage=0.2)
    out = inpaint(image, mask, run / "run")
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert (out[mask] != image[mask]).any()


def test_layouts_and_dtypes(run, photo):
    net = build_model("inpaint", {"width": 4, "levels": 2, "resolution": 24}).eval()
    mask = box_mask(photo.shape, [(30, 40, 20, 12)])
    grey16 = photo[..., 0].astype(np.uint16) * 257
    rgba = np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)]).astype(np.float32) / 255
    for image in (grey16, rgba, photo[..., :1]):
        out = inpaint_with_model(image, mask, net)
        assert out.shape == image.shape and out.dtype == image.dtype
        np.testing.assert_array_equal(out[~mask], image[~mask])
    assert (inpaint_with_model(rgba, mask, net)[..., 3] == rgba[..., 3]).all()


def test_errors(run, photo):
    with pytest.raises(InvalidArgument, match="unknown inpainting method 'magic'.*telea"):
        inpaint(photo, box_mask(photo.shape, [(1, 1, 4, 4)]), "magic")
    with pytest.raises(InvalidArgument, match="not an inpainting network"):
        inpaint_with_model(photo, box_mask(photo.shape, [(1, 1, 4, 4)]), build_model("dncnn", {"width": 4, "depth": 3}))
    with pytest.raises(InvalidArgument, match="empty"):
        inpaint_with_model(photo, np.zeros(photo.shape[:2], bool), run / "run")


def test_cli(run, tmp_path, photo, capsys):
    save_image(tmp_path / "p.png", photo)
    assert atelier("inpaint", tmp_path / "p.png", "--box", "60,40,20,16", "--method", run / "run",
                   "-o", tmp_path / "a.png") == 0
    out = load_image(tmp_path / "a.png")
    mask = box_mask(photo.shape, [(60, 40, 20, 16)])
    np.testing.assert_array_equal(out[~mask], photo[~mask])
    np.testing.assert_array_equal(out, inpaint_with_model(photo, mask, run / "run"))  # CLI == Python
    capsys.readouterr()
    assert atelier("inpaint", tmp_path / "p.png", "--box", "1,1,4,4", "--method", tmp_path / "nope", "-o", tmp_path / "b.png") == 2
    assert "unknown inpainting method" in capsys.readouterr().err
