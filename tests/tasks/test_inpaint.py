"""Classic inpainting: unmasked pixels bit-identical, holes filled plausibly, every layout and
dtype, mask errors, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.errors import InvalidArgument
from atelier.image import load_image, save_image
from atelier.metrics import psnr
from atelier.tasks.inpaint import CLASSIC_METHODS, box_mask, inpaint
from tests.cli.test_cli import atelier


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return data.astronaut()[::4, ::4].copy()  # 128 x 128 RGB


@pytest.mark.parametrize("method", CLASSIC_METHODS)
def test_unmasked_pixels_are_bit_identical_and_the_hole_is_filled(photo, method):
    mask = box_mask(photo.shape, [(60, 40, 10, 8), (5, 100, 6, 6)])
    out = inpaint(photo, mask, method)
    assert out.dtype == np.uint8 and out.shape == photo.shape
    np.testing.assert_array_equal(out[~mask], photo[~mask])
    flat = photo.copy()
    flat[mask] = 0
    assert psnr(out, photo) > psnr(flat, photo) + 10  # far closer than leaving the hole black


@pytest.mark.parametrize("layout", ["grey", "grey16", "float", "rgba"])
def test_layouts_and_dtypes(photo, layout):
    image = {
        "grey": photo[..., 0],
        "grey16": photo[..., 0].astype(np.uint16) * 257,
        "float": photo.astype(np.float32) / 255,
        "rgba": np.dstack([photo, np.arange(128 * 128, dtype=np.uint32).reshape(128, 128) % 256]).astype(np.uint8),
    }[layout]
    mask = box_mask(image.shape, [(50, 50, 12, 12)])
    for method in CLASSIC_METHODS:
        out = inpaint(image, mask, method)
        assert out.dtype == image.dtype and out.shape == image.shape
        np.testing.assert_array_equal(out[~mask], image[~mask])
        if layout == "rgba":
            np.testing.assert_array_equal(out[..., 3], image[..., 3])  # alpha passes through


def test_mask_forms_and_errors(photo):
    as_255 = box_mask(photo.shape, [(10, 10, 5, 5)]).astype(np.uint8) * 255
    rgb_mask = np.dstack([as_255] * 3)
    a, b = inpaint(photo, as_255), inpaint(photo, rgb_mask)
    np.testing.assert_array_equal(a, b)
    cases = [
        (np.zeros((10, 10), bool), "mask is 10x10 but the image is 128x128"),
        (np.zeros((128, 128), bool), "empty"),
        (np.ones((128, 128), bool), "whole image"),
    ]
    for mask, match in cases:
        with pytest.raises(InvalidArgument, match=match):
            inpaint(photo, mask)
    with pytest.raises(InvalidArgument, match="unknown inpainting method"):
        inpaint(photo, as_255, "magic")
    with pytest.raises(InvalidArgument, match="outside"):
        box_mask(photo.shape, [(500, 0, 4, 4)])
    with pytest.raises(InvalidArgument, match="x,y,w,h"):
        box_mask(photo.shape, [(0, 0, 0, 4)])


def test_cli(tmp_path, photo, capsys):
    save_image(tmp_path / "p.png", photo)
    save_image(tmp_path / "m.png", box_mask(photo.shape, [(20, 20, 8, 8)]).astype(np.uint8) * 255)
    assert atelier("inpaint", tmp_path / "p.png", "--box", "60,40,10,8", "--box", "5,100,6,6", "-o", tmp_path / "a.png") == 0
    assert atelier("inpaint", tmp_path / "p.png", "--mask", tmp_path / "m.png", "--method", "biharmonic",
                   "-o", tmp_path / "b.png") == 0
    out = load_image(tmp_path / "a.png")
    mask = box_mask(photo.shape, [(60, 40, 10, 8), (5, 100, 6, 6)])
    np.testing.assert_array_equal(out[~mask], photo[~mask])
    capsys.readouterr()
    save_image(tmp_path / "small.png", np.full((4, 4), 255, np.uint8))
    for args, match in [
        (("-o", tmp_path / "c.png"), "exactly one of --mask"),
        (("--box", "1,2,3", "-o", tmp_path / "c.png"), "x,y,w,h"),
        (("--mask", tmp_path / "small.png", "-o", tmp_path / "c.png"), "mask is 4x4"),
        (("--box", "1,1,4,4", "-o", tmp_path / "a.png"), "exists"),
    ]:
        assert atelier("inpaint", tmp_path / "p.png", *args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err
