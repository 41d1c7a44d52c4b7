"""Tests for atelier.ops.geometry: smoke, shape/dtype, exceptions, and reference values.

References: numpy (rot90, flip, pad, slicing), Pillow (rotate, resize NEAREST,
ImageOps.contain), direct OpenCV calls, and hand-computed sizes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageOps

from atelier.errors import InvalidArgument, InvalidImage
from atelier.ops import geometry as G
from atelier.ops import get_op
from atelier.ops.pipeline import Pipeline

H, W = 48, 64

RGB8 = cv2.resize(skimage.data.astronaut(), (W, H), interpolation=cv2.INTER_AREA)
GREY8 = cv2.cvtColor(RGB8, cv2.COLOR_RGB2GRAY)
RGBA8 = np.dstack([RGB8, np.tile(np.linspace(0, 255, W, dtype=np.uint8), (H, 1))])


def _layout(name: str) -> np.ndarray:
    return {"grey": GREY8, "grey1": GREY8[..., None], "rgb": RGB8, "rgba": RGBA8}[name]


def _as(img8: np.ndarray, dtype: type) -> np.ndarray:
    if dtype == np.uint8:
        return img8
    if dtype == np.uint16:
        return img8.astype(np.uint16) * 257
    return (img8 / 255.0).astype(dtype)


LAYOUTS = ["grey", "grey1", "rgb", "rgba"]
DTYPES = [np.uint8, np.uint16, np.float32, np.float64]

# op, kwargs, expected output (height, width)
OPS = [
    ("rotate", {"angle": 90}, (W, H)),
    ("rotate", {"angle": 30}, (74, 80)),
    ("rotate", {"angle": 30, "expand": False, "interpolation": "lanczos"}, (H, W)),
    ("flip", {"axis": "both"}, (H, W)),
    ("resize", {"width": 32}, (24, 32)),
    ("resize", {"scale": 1.5, "method": "bicubic"}, (72, 96)),
    ("crop", {"x": 3, "y": 5, "width": 20, "height": 10}, (10, 20)),
    ("pad", {"top": 1, "bottom": 2, "left": 3, "right": 4, "mode": "reflect"}, (H + 3, W + 7)),
]


# --------------------------------------------------------------------------- smoke / shape


@pytest.mark.parametrize(
    "name,kwargs,hw", OPS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(OPS)]
)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_shape_and_dtype_preserved(name, kwargs, hw, layout, dtype):
    image = _as(_layout(layout), dtype)
    before = image.copy()
    out = get_op(name)(image, **kwargs)
    assert out.shape == hw + image.shape[2:]  # H x W x 1 stays H x W x 1
    assert out.dtype == image.dtype
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(image, before)
    if out.dtype.kind == "f":
        assert 0.0 <= out.min() and out.max() <= 1.0


def test_registered_in_geometry_category():
    for name in ("rotate", "flip", "resize", "crop", "pad"):
        assert get_op(name).category == "geometry"


def test_pipeline_text_parses_parameters():
    """CLI syntax: floats, bools, choices and tuples are parsed from text."""
    p = Pipeline.parse(
        "rotate angle=30 expand=false fill=10,20,30 | resize fit=32,32 method=area | "
        "pad top=2 left=1 mode=edge | crop x=0 y=0 width=10 height=5 | flip axis=vertical"
    )
    assert p.stages[0].kwargs["fill"] == (10.0, 20.0, 30.0)
    assert p.stages[1].kwargs["fit"] == (32, 32)
    assert p.apply(RGB8).shape == (5, 10, 3)


# --------------------------------------------------------------------------- rotate


@pytest.mark.parametrize("angle,k", [(90, 1), (180, 2), (270, 3), (-90, 3), (-270, 1), (360, 0)])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_rotate_quarter_turns_equal_rot90(angle, k, layout, dtype):
    """Reference: np.rot90 (counter-clockwise), exactly, for every dtype and layout."""
    img = _as(_layout(layout), dtype)
    np.testing.assert_array_equal(G.rotate(img, angle=angle), np.rot90(img, k))


def test_rotate_general_path_near_90_equals_rot90():
    """Reference: np.rot90. An angle a hair off 90 degrees goes through getRotationMatrix2D +
    warpAffine with the expanded canvas and moved translation; it must land on the same
    pixels as the exact quarter turn (non-square image, nearest and bilinear)."""
    for interpolation in ("nearest", "bilinear"):
        out = G.rotate(RGB8, angle=90 + 1e-7, interpolation=interpolation)
        np.testing.assert_array_equal(out, np.rot90(RGB8))
    out = G.rotate(RGB8, angle=-90 - 1e-7, interpolation="nearest")
    np.testing.assert_array_equal(out, np.rot90(RGB8, 3))


@pytest.mark.parametrize(
    "w,h,angle,expected",
    [
        (100, 100, 45, (142, 142)),  # 100 * sqrt(2) = 141.42
        (64, 48, 30, (74, 80)),  # w: 64 cos30 + 48 sin30 = 79.43; h: 64 sin30 + 48 cos30 = 73.57
        (64, 48, 60, (80, 74)),
        (64, 48, 135, (80, 80)),  # (64 + 48) / sqrt(2) = 79.20
        (33, 17, 10, (23, 36)),  # w: 33 cos10 + 17 sin10 = 35.45; h: 33 sin10 + 17 cos10 = 22.47
    ],
)
def test_rotate_expand_canvas_size_hand_computed(w, h, angle, expected):
    """Hand-computed: the canvas is ceil(w|cos| + h|sin|) wide, ceil(w|sin| + h|cos|) high."""
    out = G.rotate(np.zeros((h, w), np.uint8), angle=angle)
    assert out.shape == expected
    rad = math.radians(angle)
    c, s = abs(math.cos(rad)), abs(math.sin(rad))
    assert out.shape == (math.ceil(w * s + h * c), math.ceil(w * c + h * s))


@pytest.mark.parametrize("angle", [30, -30])
def test_rotate_matches_pillow(angle):
    """Reference: Pillow's Image.rotate(angle, NEAREST, expand=True) (also counter-clockwise
    about the centre), on all but 1 % of the pixels, where the canvas sizes agree (64x48 at
    30 degrees); bilinear within a small mean difference, and far from the opposite direction."""
    pil = np.asarray(Image.fromarray(RGB8).rotate(angle, resample=Image.NEAREST, expand=True))
    ours = G.rotate(RGB8, angle=angle, interpolation="nearest")
    assert ours.shape == pil.shape
    # Pillow maps coordinates in double, OpenCV in fixed point (1/32 pixel): a sample that falls
    # near a pixel edge may pick the neighbour, so at most 1 % of the pixels may differ.
    assert (ours != pil).any(axis=2).mean() <= 0.01
    pil = np.asarray(Image.fromarray(RGB8).rotate(angle, resample=Image.BILINEAR, expand=True))
    ours = G.rotate(RGB8, angle=angle).astype(int)
    assert np.abs(ours - pil).mean() < 2
    assert np.abs(G.rotate(RGB8, angle=-angle).astype(int) - pil).mean() > 20


def test_rotate_keep_size_equals_warp_affine():
    """Reference: the direct OpenCV call, rotation about ((w-1)/2, (h-1)/2), same size."""
    m = cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), 25, 1.0)
    ref = cv2.warpAffine(RGB8, m, (W, H), flags=cv2.INTER_CUBIC, borderValue=(1, 2, 3, 0))
    out = G.rotate(RGB8, angle=25, expand=False, interpolation="bicubic", fill=(1, 2, 3))
    np.testing.assert_array_equal(out, ref)


def test_rotate_keep_size_quarter_turn_non_square():
    """expand=False with 90 degrees on a non-square image keeps H x W; the centre block is the
    rotated centre (hand check: a 48x48 square centred in the 64x48 image rotates in place)."""
    out = G.rotate(RGB8, angle=90, expand=False, interpolation="nearest")
    assert out.shape == RGB8.shape
    np.testing.assert_array_equal(out[:, 8:56], np.rot90(RGB8[:, 8:56]))
    assert (out[:, :8] == 0).all() and (out[:, 56:] == 0).all()


def test_rotate_fill_and_centering():
    """Hand case: a white 100x100 square rotated 45 degrees: black corners (fill), white
    centre, and the white diamond centred on the 142x142 canvas."""
    out = G.rotate(np.full((100, 100), 255, np.uint8), angle=45)
    assert out.shape == (142, 142)
    assert out[0, 0] == out[-1, -1] == 0 and out[71, 71] == 255
    ys, xs = np.nonzero(out > 127)
    assert abs(ys.mean() - 70.5) < 0.5 and abs(xs.mean() - 70.5) < 0.5
    colour = G.rotate(RGB8, angle=45, fill=(10, 20, 30))
    np.testing.assert_array_equal(colour[0, 0], [10, 20, 30])
    grey = G.rotate(_as(GREY8, np.float32)[..., None], angle=45, fill=(0.5,))
    assert grey.shape[2] == 1 and grey[0, 0, 0] == 0.5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"angle": 30, "fill": (1, 2)},  # 2 values for 3 channels
        {"angle": 30, "fill": (300,)},  # above 255 for uint8
        {"angle": 30, "fill": (-1,)},
        {"angle": 30, "interpolation": "area"},
        {"angle": 400},
        {},  # angle is required
    ],
)
def test_rotate_bad_arguments(kwargs):
    with pytest.raises(InvalidArgument):
        G.rotate(RGB8, **kwargs)


# --------------------------------------------------------------------------- flip


@pytest.mark.parametrize(
    "axis,ref",
    [("horizontal", np.fliplr), ("vertical", np.flipud), ("both", lambda a: a[::-1, ::-1])],
)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_flip_matches_numpy(axis, ref, layout, dtype):
    """Reference: numpy flips, exactly."""
    img = _as(_layout(layout), dtype)
    np.testing.assert_array_equal(G.flip(img, axis=axis), ref(img))


def test_flip_horizontal_is_pillow_left_right():
    """Reference: Pillow's FLIP_LEFT_RIGHT."""
    pil = np.asarray(Image.fromarray(RGB8).transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    np.testing.assert_array_equal(G.flip(RGB8, axis="horizontal"), pil)


def test_flip_bad_axis():
    with pytest.raises(InvalidArgument):
        G.flip(RGB8, axis="diagonal")


# --------------------------------------------------------------------------- resize

_CV = {
    "nearest": cv2.INTER_NEAREST_EXACT,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
    "area": cv2.INTER_AREA,
}


@pytest.mark.parametrize("method", list(_CV))
@pytest.mark.parametrize("size", [(32, 20), (100, 70)])
def test_resize_uint8_equals_cv2(method, size):
    """Reference: the direct cv2.resize call, exactly."""
    out = G.resize(RGB8, width=size[0], height=size[1], method=method)
    np.testing.assert_array_equal(out, cv2.resize(RGB8, size, interpolation=_CV[method]))


@pytest.mark.parametrize("scale", [0.5, 0.37, 1.3])
def test_resize_scale_equals_cv2_fx_fy(scale):
    """Reference: cv2.resize(fx=scale, fy=scale), exactly (same size and sampling)."""
    out = G.resize(RGB8, scale=scale, method="bilinear")
    ref = cv2.resize(RGB8, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out, ref)


def test_resize_nearest_equals_pillow():
    """Reference: Pillow's NEAREST resize, shrinking and enlarging. OpenCV >= 5's
    INTER_NEAREST_EXACT picks the same pixels; OpenCV 4's computes the source coordinate in
    fixed point and picks a neighbour of Pillow's pixel on some rows and columns (5-12 %)."""
    h, w = RGB8.shape[:2]
    for size in [(32, 24), (50, 20), (100, 75)]:
        pil = np.asarray(Image.fromarray(RGB8).resize(size, Image.NEAREST))
        out = G.resize(RGB8, width=size[0], height=size[1], method="nearest")
        if int(cv2.__version__.split(".")[0]) >= 5:
            np.testing.assert_array_equal(out, pil)
            continue
        # every output pixel is a source pixel at most one row and column from Pillow's pick
        ys = np.minimum(((np.arange(size[1]) + 0.5) * h / size[1]).astype(int), h - 1)
        xs = np.minimum(((np.arange(size[0]) + 0.5) * w / size[0]).astype(int), w - 1)
        near = np.zeros(out.shape[:2], bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                pick = RGB8[np.clip(ys + dy, 0, h - 1)][:, np.clip(xs + dx, 0, w - 1)]
                near |= (out == pick).all(axis=2)
        assert near.all()


def test_resize_auto_method():
    """auto = area when shrinking, bicubic when any side grows (OpenCV's advice)."""
    shrunk = cv2.resize(RGB8, (32, 24), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(G.resize(RGB8, width=32, height=24), shrunk)
    grown = cv2.resize(RGB8, (80, 40), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(G.resize(RGB8, width=80, height=40), grown)


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        ({"width": 32}, (24, 32)),  # 48 * 32 / 64 = 24
        ({"height": 12}, (12, 16)),  # 64 * 12 / 48 = 16
        ({"width": 10, "height": 90}, (90, 10)),  # both given: exact size
        ({"width": 10}, (8, 10)),  # 48 * 10 / 64 = 7.5 -> 8 (round half to even)
        ({"scale": 0.25}, (12, 16)),
        ({"fit": (100, 100)}, (75, 100)),  # width limits: 100 / 64 = 1.5625
        ({"fit": (32, 32)}, (24, 32)),
        ({"fit": (100, 30)}, (30, 40)),  # height limits: 30 / 48 = 0.625
        ({"fit": (64, 48)}, (48, 64)),  # same aspect
        ({"fit": (1, 1)}, (1, 1)),
    ],
)
def test_resize_size_rules_hand_computed(kwargs, expected):
    """Hand-computed output sizes: one side keeps the aspect; fit = largest size in the box."""
    assert G.resize(RGB8, **kwargs).shape == expected + (3,)


@pytest.mark.parametrize("box", [(100, 100), (32, 32), (100, 30), (30, 30), (7, 100), (45, 45)])
@pytest.mark.parametrize("wh", [(64, 48), (48, 64), (50, 50), (37, 11)])
def test_resize_fit_matches_pillow_contain(box, wh):
    """Reference: PIL.ImageOps.contain gives the same size for every box and image."""
    w, h = wh
    size = ImageOps.contain(Image.new("L", (w, h)), box).size
    out = G.resize(np.zeros((h, w), np.uint8), fit=box)
    assert (out.shape[1], out.shape[0]) == size
    assert out.shape[1] <= box[0] and out.shape[0] <= box[1]


@pytest.mark.parametrize("method", ["area", "bilinear", "bicubic"])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_resize_float_path_close_to_uint8(method, dtype):
    """The uint16/float paths agree with the uint8 cv2.resize within one 8-bit level."""
    out = G.resize(_as(RGB8, dtype), width=40, height=30, method=method).astype(np.float64)
    out *= 255 / (65535 if dtype == np.uint16 else 1)
    ref = cv2.resize(RGB8, (40, 30), interpolation=_CV[method])
    assert np.abs(out - ref).max() <= 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # nothing
        {"width": 32, "scale": 0.5},
        {"height": 32, "fit": (10, 10)},
        {"scale": 0.5, "fit": (10, 10)},
        {"scale": 0.001},  # below one pixel
        {"width": 0},
        {"scale": -1.0},
        {"fit": (10,)},
        {"fit": (0, 10)},
        {"width": 10, "method": "magic"},
    ],
)
def test_resize_bad_arguments(kwargs):
    with pytest.raises(InvalidArgument):
        G.resize(RGB8, **kwargs)


# --------------------------------------------------------------------------- crop


@pytest.mark.parametrize("layout", LAYOUTS)
def test_crop_equals_slice_and_is_a_copy(layout):
    """Reference: numpy slicing; the result is contiguous and independent of the input."""
    img = _layout(layout).copy()
    out = G.crop(img, x=5, y=7, width=30, height=20)
    np.testing.assert_array_equal(out, img[7:27, 5:35])
    assert out.flags.c_contiguous and not np.shares_memory(out, img)
    np.testing.assert_array_equal(G.crop(img, x=0, y=0, width=W, height=H), img)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"x": 50, "y": 0, "width": 20, "height": 10},  # past the right edge
        {"x": 0, "y": 40, "width": 10, "height": 9},  # past the bottom
        {"x": -1, "y": 0, "width": 10, "height": 10},
        {"x": 0, "y": 0, "width": 0, "height": 10},
        {"x": 0, "y": 0, "width": 10},  # height missing
    ],
)
def test_crop_out_of_bounds(kwargs):
    with pytest.raises(InvalidArgument):
        G.crop(RGB8, **kwargs)


# --------------------------------------------------------------------------- pad


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge", "wrap"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_pad_matches_numpy(mode, layout, dtype):
    """Reference: np.pad with the same mode name, exactly (pads larger than the image
    included: 70 > 64 columns)."""
    img = _as(_layout(layout), dtype)
    widths = ((3, 1), (70, 2)) + ((0, 0),) * (img.ndim - 2)
    out = G.pad(img, top=3, bottom=1, left=70, right=2, mode=mode)
    np.testing.assert_array_equal(out, np.pad(img, widths, mode=mode))


def test_pad_constant_fill():
    """Reference: np.pad(mode='constant') per channel with the fill colour."""
    out = G.pad(RGB8, top=2, left=1, fill=(10, 20, 30))
    ref = np.stack(
        [
            np.pad(RGB8[..., c], ((2, 0), (1, 0)), constant_values=v)
            for c, v in enumerate((10, 20, 30))
        ],
        axis=2,
    )
    np.testing.assert_array_equal(out, ref)
    out16 = G.pad(_as(GREY8, np.uint16), bottom=3, fill=(65535,))
    assert (out16[-3:] == 65535).all()
    np.testing.assert_array_equal(G.pad(RGB8), RGB8)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top": -1},
        {"left": 2, "fill": (1, 2)},
        {"left": 2, "fill": (256,)},
        {"left": 2, "mode": "mirror"},
    ],
)
def test_pad_bad_arguments(kwargs):
    with pytest.raises(InvalidArgument):
        G.pad(RGB8, **kwargs)


@pytest.mark.parametrize("name", ["rotate", "flip", "resize", "crop", "pad"])
def test_bad_images_raise_invalid_image(name):
    with pytest.raises(InvalidImage):
        get_op(name)(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InvalidImage):
        get_op(name)(np.full((4, 4), np.inf, np.float32))


# --- resize with antialias=True: Pillow's resampling ------------------------------------------


@pytest.mark.parametrize("method", ["bilinear", "bicubic", "lanczos", "area", "nearest"])
@pytest.mark.parametrize("channels", [None, 3, 4])
def test_resize_antialias_equals_pillow(method, channels):
    """Reference: PIL.Image.resize with the matching filter on the same 8-bit image."""
    
    rng = np.random.default_rng(3)
    shape = (47, 61) if channels is None else (47, 61, channels)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    out = G.resize(img, width=20, height=15, method=method, antialias=True)
    expected = np.asarray(Image.fromarray(img).resize((20, 15), G._PIL_FILTERS[method]))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_resize_antialias_other_dtypes_match_8bit(dtype):
    """uint16 and float go through Pillow's float mode: within a level of the 8-bit result."""
    from atelier.arrays import from_float, to_float

    rng = np.random.default_rng(4)
    img8 = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    img = from_float(to_float(img8), dtype)
    out = G.resize(img, scale=0.25, method="bicubic", antialias=True)
    assert out.dtype == dtype and out.shape == (10, 10, 3)
    ref = G.resize(img8, scale=0.25, method="bicubic", antialias=True)
    assert np.abs(to_float(out) * 255 - ref).max() <= 1.0


def test_resize_antialias_keeps_hw1_layout():
    img = np.zeros((16, 16, 1), np.uint8)
    assert G.resize(img, scale=0.5, antialias=True).shape == (8, 8, 1)


def test_bicubic_round_trip_on_cset5_matches_published_baseline(shared_data):
    """Reference: ../shared/data/README.md — Pillow bicubic down and up on CSet5, Y channel,
    `scale` px cropped: x2 33.67, x3 30.40, x4 28.43 dB (published 33.66 / 30.39 / 28.42)."""
    from atelier.image import load_image
    from atelier.metrics import psnr

    expected = {2: 33.67, 3: 30.40, 4: 28.43}
    for scale, db in expected.items():
        scores = []
        for path in sorted((shared_data / "bench" / "CSet5").glob("*.png")):
            hr = load_image(path)
            h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
            hr = hr[:h, :w]
            lr = G.resize(hr, width=w // scale, height=h // scale, method="bicubic", antialias=True)
            sr = G.resize(lr, width=w, height=h, method="bicubic", antialias=True)
            scores.append(psnr(hr, sr, channel="y", crop=scale))
        assert np.mean(scores) == pytest.approx(db, abs=0.01), scale
