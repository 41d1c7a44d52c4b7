"""Deep image blending (Zhang et al. 2020) and its measures: placement, shapes, errors, and the
paper's claim on a real photo pasted into a painting."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.errors import InvalidArgument
from atelier.ops.composite import seamless_clone
from atelier.tasks.blend_measures import boundary_gradient_error, style_distance
from atelier.tasks.deep_blend import deep_blend, laplacian, place_mask


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    fg = np.full((16, 16, 3), (200, 60, 30), np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    mask[3:13, 4:12] = 255
    return fg, mask, bg


def test_placement_is_seamless_clones():
    """``at`` is where the centre of the mask's box lands, as seamless_clone's ``center``: the
    pixels seamless_clone changes are those place_mask selects."""
    fg, mask, bg = _inputs()
    bg[:] = 90  # flat, and a textured foreground: any change comes from the paste
    fg = np.random.default_rng(2).integers(0, 256, fg.shape, dtype=np.uint8)
    place = place_mask(mask, fg.shape, bg.shape, at=(15, 20))
    assert (place.x0, place.y0, place.w, place.h) == (11, 15, 8, 10)
    changed = (seamless_clone(bg, fg, mask, center=(15, 20)) != bg).any(axis=2)
    assert changed.any() and not (changed & ~place.canvas(32, 40)).any()


def test_shape_dtype_and_only_the_region_changes():
    fg, mask, bg = _inputs()
    steps = []
    out = deep_blend(fg, mask, bg, at=(20, 16), steps=2, on_step=steps.append)
    assert out.shape == bg.shape and out.dtype == np.uint8 and len(steps) == 4
    region = place_mask(mask, fg.shape, bg.shape, at=(20, 16)).canvas(32, 40)
    np.testing.assert_array_equal(out[~region], bg[~region])
    again = deep_blend(fg, mask, bg, at=(20, 16), steps=2)
    np.testing.assert_array_equal(out, again)  # deterministic


def test_layouts_float_grey_and_alpha():
    fg, mask, bg = _inputs()
    grey = deep_blend(fg[..., 0].astype(np.float32) / 255, mask, bg[..., 0].astype(np.float32) / 255, steps=1)
    assert grey.shape == (32, 40) and grey.dtype == np.float32
    rgba = np.dstack([bg, np.full((32, 40), 7, np.uint8)])
    out = deep_blend(fg, mask, rgba, steps=1, init="noise")
    assert out.shape == (32, 40, 4) and (out[..., 3] == 7).all()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda fg, m, bg: (fg, m[:8], bg, {}), "must have its size"),
        (lambda fg, m, bg: (fg, np.zeros_like(m), bg, {}), "selects no pixels"),
        (lambda fg, m, bg: (fg, m, bg, {"at": (2, 16)}), "outside the 40x32 background"),
        (lambda fg, m, bg: (fg, m, bg[:12], {}), "at least 16x16"),
        (lambda fg, m, bg: (fg, m, bg, {"steps": 0}), "steps must be"),
        (lambda fg, m, bg: (fg, m, bg, {"init": "zeros"}), "init must be"),
    ],
)
def test_bad_input_is_one_clear_error(change, message):
    fg, mask, bg, kwargs = change(*_inputs())
    with pytest.raises(InvalidArgument, match=message):
        deep_blend(fg, mask, bg, **kwargs)


def test_laplacian_matches_opencv():
    """Reference: OpenCV's ``cv2.Laplacian`` with ksize=1 is ``-(4 x - neighbours)`` in the interior."""
    import cv2
    import torch

    a = np.random.default_rng(1).random((9, 11)).astype(np.float32)
    ours = laplacian(torch.from_numpy(a)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours[1:-1, 1:-1], -cv2.Laplacian(a, cv2.CV_32F, ksize=1)[1:-1, 1:-1], atol=1e-5)


def test_measures_naive_paste_against_poisson():
    fg, mask, bg = _inputs()
    bg[:] = np.linspace(40, 120, 40, dtype=np.uint8)[None, :, None]  # a smooth ramp
    place = place_mask(mask, fg.shape, bg.shape, at=(20, 16))
    naive = bg.copy()
    naive[place.canvas(32, 40)] = fg[place.region]
    clone = seamless_clone(bg, fg, mask, center=(20, 16))
    assert boundary_gradient_error(bg, bg, mask, at=(20, 16)) == 0.0
    assert boundary_gradient_error(naive, bg, mask, at=(20, 16)) > 5 * boundary_gradient_error(clone, bg, mask, at=(20, 16))
    whole = np.full((34, 42), 255, np.uint8)  # its 32 x 40 inside covers the background
    assert style_distance(bg, bg, whole, at=(20, 16)) == 0.0
    assert style_distance(naive, bg, whole, at=(20, 16)) > 0


def test_deep_blending_takes_on_the_painting_style(shared_data):
    """The paper's claim (Zhang et al. 2020, fig. 1): deep blending moves the pasted region's
    style towards the background's more than Poisson cloning, while keeping the seam far
    below a naive paste's. A 64 x 64 photo crop (barn) into a 128 x 128 crop of Starry Night."""
    import cv2

    from atelier.image import load_image

    photo = load_image(shared_data / "photos80" / "barn_sun_btulbiaoilnxcseh.jpg", mode="rgb")
    paint = load_image(shared_data / "styles" / "starry_night.jpg", mode="rgb")
    fg = cv2.resize(photo[100:500, 300:700], (64, 64), interpolation=cv2.INTER_AREA)
    bg = np.ascontiguousarray(paint[100:228, 200:328])
    mask = np.zeros((64, 64), np.uint8)
    cv2.ellipse(mask, (32, 32), (28, 20), 0, 0, 360, 255, -1)
    at = (64, 64)
    clone = seamless_clone(bg, fg, mask, center=at)
    deep = deep_blend(fg, mask, bg, at=at, steps=10)
    place = place_mask(mask, fg.shape, bg.shape, at)
    naive = bg.copy()
    naive[place.canvas(128, 128)] = fg[place.region]
    assert style_distance(deep, bg, mask, at) < 0.7 * style_distance(clone, bg, mask, at)
    assert boundary_gradient_error(deep, bg, mask, at) < 0.6 * boundary_gradient_error(naive, bg, mask, at)
