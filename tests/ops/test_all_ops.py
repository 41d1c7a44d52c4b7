"""Every registered op on every kind of image: it works with the dtype and layout kept, or it
raises an ``AtelierError`` — never an OpenCV or numpy traceback (a traceback is a bug)."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.arrays import max_value
from atelier.errors import AtelierError
from atelier.ops import list_ops


def _other(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[::-1, ::-1])


def _mask(image: np.ndarray) -> np.ndarray:
    mask = np.zeros(image.shape[:2], np.uint8)
    h, w = mask.shape
    mask[h // 4 : max(h // 4 + 1, 3 * h // 4), w // 4 : max(w // 4 + 1, 3 * w // 4)] = 255
    return mask


#: Representative arguments per op, built from the image it is applied to.
SAMPLE_ARGS = {
    "grayscale": lambda im: {},
    "brightness": lambda im: {"amount": 0.1},
    "contrast": lambda im: {"factor": 1.3},
    "gamma": lambda im: {"gamma": 0.8},
    "saturation": lambda im: {"factor": 1.5},
    "hue": lambda im: {"shift": 30.0},
    "autocontrast": lambda im: {"cutoff": 1.0},
    "equalize": lambda im: {},
    "clahe": lambda im: {"clip_limit": 2.0},
    "match_histogram": lambda im: {"reference": _other(im)},
    "white_balance": lambda im: {"method": "white_patch"},
    "gaussian_blur": lambda im: {"sigma": 2.0},
    "median": lambda im: {"ksize": 5},
    "bilateral": lambda im: {"diameter": 5},
    "unsharp": lambda im: {"radius": 2.0, "amount": 1.0, "threshold": 2.0},
    "laplacian_sharpen": lambda im: {"strength": 0.5},
    "nlm_denoise": lambda im: {"h": 5.0, "search_size": 7},
    "rotate": lambda im: {"angle": 33.0},
    "flip": lambda im: {"axis": "both"},
    "resize": lambda im: {"scale": 1.5},
    "crop": lambda im: {"x": 0, "y": 0, "width": 1, "height": 1},
    "pad": lambda im: {"top": 2, "left": 1, "mode": "reflect"},
    "alpha_blend": lambda im: {"overlay": _other(im), "mask": _mask(im)},
    "blend": lambda im: {"images": (_other(im), im), "weights": (1.0, 2.0, 1.0)},
    "pyramid_blend": lambda im: {"other": _other(im), "mask": _mask(im), "levels": 4},
    "seamless_clone": lambda im: {"source": _other(im), "mask": _mask(im)},
    "inpaint_telea": lambda im: {"mask": _mask(im), "radius": 3.0},
    "inpaint_ns": lambda im: {"mask": _mask(im)},
    "inpaint_biharmonic": lambda im: {"mask": _mask(im)},
    "quilt": lambda im: {"width": 40, "height": 33, "tileable": True},
    "texture_fill": lambda im: {"mask": _mask(im), "sample": _other(im), "feather": 3},
}


def _image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape).astype(dtype)
    return rng.integers(0, int(max_value(dtype)), shape, endpoint=True).astype(dtype)


IMAGES = {
    "1x1 rgb": _image((1, 1, 3), np.uint8),
    "2x3 grey": _image((2, 3), np.uint8),
    "rgb uint8": _image((37, 29, 3), np.uint8),
    "rgba uint8": _image((37, 29, 4), np.uint8),
    "grey uint16": _image((37, 29), np.uint16),
    "rgb uint16": _image((37, 29, 3), np.uint16),
    "rgb float32": _image((37, 29, 3), np.float32),
    "hw1 float64": _image((37, 29, 1), np.float64),
}


def test_every_op_has_sample_arguments():
    assert sorted(SAMPLE_ARGS) == sorted(s.name for s in list_ops())


@pytest.mark.parametrize("kind", sorted(IMAGES))
@pytest.mark.parametrize("name", sorted(SAMPLE_ARGS))
def test_op_works_or_raises_atelier_error(name, kind):
    from atelier.ops import get_op

    image = IMAGES[kind]
    before = image.copy()
    op = get_op(name)
    try:
        out = op(image, **SAMPLE_ARGS[name](image))
    except AtelierError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(out, np.ndarray) and out.dtype == image.dtype, (name, kind, out.dtype)
    assert out.ndim in (2, 3) and out.size > 0
    if out.dtype.kind == "f":
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(image, before)  # the input is never modified
