"""Tests for atelier.ops.inpaint: the classic inpainting ops (Telea, Navier-Stokes, biharmonic).

The task-level behaviour (every layout and dtype, learned and diffusion methods, the CLI) is
tested in tests/tasks/test_inpaint.py; here: the registered ops, their errors, pipelines, and
reference values against OpenCV and scikit-image called directly.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
from skimage.restoration import inpaint_biharmonic as skimage_biharmonic

from atelier.errors import InvalidArgument, InvalidImage
from atelier.image import save_image
from atelier.ops import Pipeline, get_op, list_ops
from atelier.ops.inpaint import CLASSIC_METHODS, box_mask, check_mask, inpaint_biharmonic, inpaint_classic, inpaint_ns, inpaint_telea

OPS = {"telea": inpaint_telea, "ns": inpaint_ns, "biharmonic": inpaint_biharmonic}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """scikit-image's astronaut, 64 x 48 RGB uint8."""
    return np.ascontiguousarray(cv2.resize(skimage.data.astronaut(), (64, 48), interpolation=cv2.INTER_AREA))


@pytest.fixture(scope="module")
def mask8(photo) -> np.ndarray:
    """Two holes, 255 inside, 0 elsewhere (as a mask file reads)."""
    return box_mask(photo.shape, [(20, 14, 8, 6), (44, 30, 5, 5)]).astype(np.uint8) * 255


def test_registered_in_inpaint_category():
    names = {s.name for s in list_ops() if s.category == "inpaint"}
    assert names == {"inpaint_telea", "inpaint_ns", "inpaint_biharmonic"}
    telea = get_op("inpaint_telea")
    assert [(p.name, p.kind, p.required) for p in telea.params] == [("mask", "image", True), ("radius", "float", False)]
    assert [p.name for p in get_op("inpaint_biharmonic").params] == ["mask"]


@pytest.mark.parametrize("method", CLASSIC_METHODS)
def test_smoke_keeps_unmasked_pixels_and_fills_holes(photo, mask8, method):
    out = OPS[method](photo, mask=mask8)
    holes = mask8 > 0
    assert out.shape == photo.shape and out.dtype == photo.dtype
    np.testing.assert_array_equal(out[~holes], photo[~holes])
    # on a smooth ramp every method fills the hole with nearly the ramp itself
    ramp = np.tile(np.linspace(0, 255, 64), (48, 1)).astype(np.uint8)
    filled = OPS[method](ramp, mask=mask8)
    assert np.abs(filled[holes].astype(int) - ramp[holes].astype(int)).max() <= 12


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_reference_opencv(photo, mask8, method):
    """Reference: cv2.inpaint on the same uint8 RGB image and mask, radius 3 (OpenCV 4.x);
    the op changes only the masked pixels, and those are OpenCV's exactly."""
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    expected = cv2.inpaint(photo, mask8, 3.0, flag)
    np.testing.assert_array_equal(OPS[method](photo, mask=mask8, radius=3.0), expected)


def test_reference_skimage_biharmonic(photo, mask8):
    """Reference: skimage.restoration.inpaint_biharmonic on the float image, rounded to uint8."""
    holes = mask8 > 0
    ref = skimage_biharmonic(photo.astype(np.float64) / 255, holes, channel_axis=-1)
    expected = np.clip(np.rint(ref * 255), 0, 255).astype(np.uint8)
    out = inpaint_biharmonic(photo, mask=mask8)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


def test_plain_function_takes_a_bool_mask(photo, mask8):
    holes = mask8 > 0
    np.testing.assert_array_equal(inpaint_classic(photo, holes, "telea"), inpaint_telea(photo, mask=mask8))


def test_exceptions(photo, mask8):
    with pytest.raises(InvalidArgument, match="the mask is 10x10 but the image is 64x48"):
        inpaint_telea(photo, mask=np.zeros((10, 10), np.uint8))
    with pytest.raises(InvalidArgument, match="empty"):
        inpaint_ns(photo, mask=np.zeros(photo.shape[:2], np.uint8))
    with pytest.raises(InvalidArgument, match="whole image"):
        inpaint_biharmonic(photo, mask=np.full(photo.shape[:2], 255, np.uint8))
    with pytest.raises(InvalidArgument, match="radius must be in"):
        inpaint_telea(photo, mask=mask8, radius=0.0)
    with pytest.raises(InvalidArgument, match="needs parameter mask"):
        inpaint_telea(photo)
    with pytest.raises(InvalidImage, match="mask has dtype bool"):
        inpaint_telea(photo, mask=mask8 > 0)  # an op's mask is an image; inpaint_classic takes bool
    with pytest.raises(InvalidArgument, match="unknown classic inpainting method"):
        inpaint_classic(photo, mask8, "magic")
    with pytest.raises(InvalidArgument, match="radius must be > 0"):
        inpaint_classic(photo, mask8, radius=-1)
    assert check_mask(mask8, photo.shape).dtype == bool


def test_pipeline_reads_the_mask_file(tmp_path, photo, mask8):
    save_image(tmp_path / "m.png", mask8)
    pipeline = Pipeline.parse(f"inpaint_telea mask={tmp_path / 'm.png'} radius=3")
    np.testing.assert_array_equal(pipeline.apply(photo), inpaint_telea(photo, mask=mask8, radius=3.0))
    assert str(pipeline) == "inpaint_telea mask=<image 64x48> radius=3.0"


def test_cli_edit_and_ops_list(tmp_path, photo, mask8, capsys):
    from atelier.image import load_image
    from tests.cli.test_cli import atelier

    save_image(tmp_path / "p.png", photo)
    save_image(tmp_path / "m.png", mask8)
    assert atelier("edit", tmp_path / "p.png", "-o", tmp_path / "out.png", f"inpaint_ns mask={tmp_path / 'm.png'}") == 0
    np.testing.assert_array_equal(load_image(tmp_path / "out.png"), inpaint_ns(photo, mask=mask8))
    capsys.readouterr()
    assert atelier("ops") == 0
    listing = capsys.readouterr().out
    assert "inpaint_telea" in listing and "inpaint_biharmonic" in listing


def test_rgba_masks_read_by_alpha_or_by_colour_when_opaque(mask8):
    """A painted layer (white on transparent) is read by its alpha; a canvas export that is
    opaque everywhere (white paint on black) by its colour; both select the same pixels."""
    layer = np.zeros(mask8.shape + (4,), np.uint8)
    layer[mask8 > 0] = (255, 255, 255, 255)
    opaque = np.zeros(mask8.shape + (4,), np.uint8)
    opaque[..., 3] = 255
    opaque[mask8 > 0, :3] = 255
    expected = mask8 > 0
    np.testing.assert_array_equal(check_mask(layer, mask8.shape), expected)
    np.testing.assert_array_equal(check_mask(opaque, mask8.shape), expected)
