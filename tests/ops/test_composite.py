"""Tests for atelier.ops.composite: alpha_blend, blend, pyramid_blend, seamless_clone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from atelier.errors import InvalidArgument, InvalidImage
from atelier.ops import composite, get_op, list_ops
from atelier.ops.composite import (
    alpha_blend,
    blend,
    mask_to_float,
    pyramid_blend,
    seamless_clone,
)
from tests.ops.approx import assert_levels_close

W, H = 64, 48


def _photo(which: str, width: int = W, height: int = H) -> np.ndarray:
    image = getattr(skimage.data, which)()
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    """astronaut, 64 x 48 RGB uint8."""
    return _photo("astronaut")


@pytest.fixture(scope="module")
def top() -> np.ndarray:
    """chelsea (the cat), 64 x 48 RGB uint8."""
    return _photo("chelsea")


@pytest.fixture(scope="module")
def soft_mask() -> np.ndarray:
    """A random grey uint8 mask, 48 x 64."""
    return np.random.default_rng(0).integers(0, 256, (H, W), dtype=np.uint8)


def _as(image: np.ndarray, kind: str) -> np.ndarray:
    """A uint8 image in another representation."""
    if kind == "uint8":
        return image
    if kind == "uint16":
        return image.astype(np.uint16) * 257
    if kind == "float32":
        return image.astype(np.float32) / 255
    if kind == "float64":
        return image.astype(np.float64) / 255
    if kind == "grey":
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if kind == "grey1":
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    if kind == "rgba":
        alpha = np.linspace(0, 255, image.shape[1]).astype(np.uint8)
        return np.dstack([image, np.broadcast_to(alpha, image.shape[:2])])
    raise AssertionError(kind)


SCALE = {"uint8": 255.0, "uint16": 65535.0, "float32": 1.0, "float64": 1.0}
KINDS = ["uint8", "uint16", "float32", "float64", "grey", "grey1", "rgba"]


def _units(image: np.ndarray) -> np.ndarray:
    """Float64 copy in [0, 1], for comparisons across dtypes."""
    return image.astype(np.float64) / SCALE[image.dtype.name]


@pytest.fixture
def small_strips(monkeypatch) -> None:
    """Process 15-row strips of the 64 x 48 test images (4 strips, the last one 3 rows), so
    small tests cover the strip-by-strip paths that large images take."""
    monkeypatch.setattr(composite, "_STRIP_PIXELS", 15 * W)


# --------------------------------------------------------------------------- registry


def test_registered_in_composite_category() -> None:
    names = {s.name for s in list_ops() if s.category == "composite"}
    assert {"alpha_blend", "blend", "pyramid_blend", "seamless_clone"} <= names
    assert get_op("blend").param("images").kind == "images"
    assert get_op("pyramid_blend").param("mask").required
    assert get_op("seamless_clone").param("mode").choices == ("normal", "mixed")
    assert get_op("seamless_clone").param("center").length == 2


def test_mask_to_float() -> None:
    """Hand-computed: 0 -> 0, 255 -> 1 (uint8); 65535 -> 1 (uint16); grey HxWx1 -> HxW."""
    m = mask_to_float(np.array([[0, 51, 255]], np.uint8)[..., None], (1, 3, 3))
    np.testing.assert_allclose(m, [[0.0, 0.2, 1.0]], atol=1e-7)
    assert m.dtype == np.float32 and m.shape == (1, 3)
    assert mask_to_float(np.full((2, 2, 3), 65535, np.uint16), (2, 2, 3)).min() == 1.0
    with pytest.raises(InvalidArgument, match="3 channels"):
        mask_to_float(np.zeros((2, 2, 3), np.uint8), (2, 2, 4))
    with pytest.raises(InvalidArgument, match="resize"):
        mask_to_float(np.zeros((2, 3), np.uint8), (2, 2, 3))


# --------------------------------------------------------------------------- alpha_blend


def test_alpha_blend_constant_matches_opencv_and_formula(base, top) -> None:
    """Reference: cv2.addWeighted(base, 1 - a, top, a, 0) and the hand formula
    base * (1 - a) + top * a (rounded), a = 0.3: the overlay gets weight a."""
    out = alpha_blend(base, top, alpha=0.3)
    np.testing.assert_array_equal(out, cv2.addWeighted(base, 0.7, top, 0.3, 0))
    hand = np.rint(base * 0.7 + top.astype(np.float64) * 0.3)
    assert np.abs(out - hand).max() <= 1
    assert out.dtype == np.uint8


def test_alpha_blend_default_is_half(base, top) -> None:
    """Hand formula with the documented default alpha 0.5 (no mask, no overlay alpha)."""
    hand = (base.astype(np.float64) + top) / 2
    assert np.abs(alpha_blend(base, top) - hand).max() <= 0.5 + 1e-9


@pytest.mark.parametrize("kind", ["uint16", "float32", "float64"])
def test_alpha_blend_constant_other_dtypes_vs_uint8(base, top, kind) -> None:
    """Reference: OpenCV's uint8 addWeighted; our result in another dtype within 1/255."""
    out = alpha_blend(_as(base, kind), _as(top, kind), alpha=0.3)
    assert out.dtype == _as(base, kind).dtype
    ref = cv2.addWeighted(base, 0.7, top, 0.3, 0) / 255.0
    assert np.abs(_units(out) - ref).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32"])
def test_alpha_blend_mask_hand_formula(base, top, soft_mask, kind) -> None:
    """Hand formula: base * (1 - m) + top * m with m = mask / 255 (mask given as uint8)."""
    out = alpha_blend(_as(base, kind), _as(top, kind), mask=soft_mask)
    m = soft_mask[..., None] / 255.0
    hand = base / 255.0 * (1 - m) + top / 255.0 * m
    assert np.abs(_units(out) - hand).max() <= 1 / 255 + 1e-6
    if kind == "uint8":
        assert np.abs(out - np.rint(hand * 255)).max() <= 1


def test_alpha_blend_mask_dtype_and_alpha_scale(base, top, soft_mask) -> None:
    """A float mask equals the same uint8 mask; alpha multiplies it (hand formula)."""
    m = soft_mask.astype(np.float32) / 255
    np.testing.assert_array_equal(
        alpha_blend(base, top, mask=m), alpha_blend(base, top, mask=soft_mask)
    )
    out = alpha_blend(base, top, mask=soft_mask, alpha=0.5)
    w = soft_mask[..., None] / 255.0 * 0.5
    assert np.abs(out - (base * (1 - w) + top * w)).max() <= 1


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32", "grey", "rgba"])
def test_alpha_blend_mask_extremes_are_exact(base, top, kind) -> None:
    """All-ones mask gives the overlay exactly, all-zeros the base exactly."""
    b, t = _as(base, kind), _as(top, kind)
    ones = np.full((H, W), 255, np.uint8)
    zeros = np.zeros((H, W), np.uint8)
    colour = slice(0, 3) if kind == "rgba" else slice(None)
    np.testing.assert_array_equal(alpha_blend(b, t, mask=zeros), b)
    if kind == "rgba":  # the overlay's own alpha also weighs: use an opaque overlay
        t = t.copy()
        t[..., 3] = 255
    out = alpha_blend(b, t, mask=ones)
    np.testing.assert_array_equal(out[..., colour], t[..., colour])


def test_alpha_blend_mask_in_strips_matches_opencv(base, top, soft_mask, small_strips) -> None:
    """Reference: one cv2.blendLinear call on the whole image with weights 1 - m and m,
    m = mask / 255 (float32); processing in strips of rows changes no pixel."""
    m = soft_mask.astype(np.float32) / np.float32(255)
    ref = cv2.blendLinear(base, top, 1 - m, m)
    hand = base * (1 - m[..., None]) + top * m[..., None]
    assert np.abs(ref - hand).max() <= 0.5 + 1e-3  # the reference is the blend, rounded
    np.testing.assert_array_equal(alpha_blend(base, top, mask=soft_mask), ref)


@pytest.mark.parametrize("kind", ["uint16", "float32", "float64", "grey", "rgba"])
def test_alpha_blend_mask_in_strips_hand_formula(base, top, soft_mask, kind, small_strips) -> None:
    """Hand formula base * (1 - m) + top * m on the strip-by-strip path for every dtype/layout;
    an RGBA overlay's alpha multiplies m, the base's alpha is kept."""
    b, t = _as(base, kind), _as(top, kind)
    out = alpha_blend(b, t, mask=soft_mask)
    assert out.shape == b.shape and out.dtype == b.dtype
    m = soft_mask / 255.0
    if kind == "rgba":
        m = m * (t[..., 3] / 255.0)
    if b.ndim == 3:
        m = m[..., None]
    hand = _units(b) * (1 - m) + _units(t) * m
    colour = slice(0, 3) if kind == "rgba" else slice(None)
    # integers: rounding plus the float32 error of the weights (< 0.01 units)
    tol = 1e-6 if b.dtype.kind == "f" else 0.51 / SCALE[b.dtype.name]
    assert np.abs(_units(out)[..., colour] - hand[..., colour]).max() <= tol
    if kind == "rgba":
        np.testing.assert_array_equal(out[..., 3], b[..., 3])


def test_alpha_blend_rgb_mask_per_channel(base, top) -> None:
    """Hand formula per channel: channel c uses mask[..., c]."""
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    out = alpha_blend(base, top, mask=mask)
    m = mask / 255.0
    assert np.abs(out - (base * (1 - m) + top * m)).max() <= 1


def test_alpha_blend_rgba_overlay_uses_its_alpha(base, top) -> None:
    """Hand formula: with no mask an RGBA overlay lands with weight = its alpha * alpha;
    the result keeps the base's RGB layout."""
    sticker = _as(top, "rgba")
    a = sticker[..., 3:] / 255.0
    out = alpha_blend(base, sticker)
    assert out.shape == base.shape
    assert np.abs(out - (base * (1 - a) + top * a)).max() <= 1
    out = alpha_blend(base, sticker, alpha=0.4)
    assert np.abs(out - (base * (1 - 0.4 * a) + top * 0.4 * a)).max() <= 1
    mask = np.full((H, W), 255, np.uint8)
    mask[:, : W // 2] = 0
    out = alpha_blend(base, sticker, mask=mask)
    w = a * (mask[..., None] / 255.0)
    assert np.abs(out - (base * (1 - w) + top * w)).max() <= 1


def test_alpha_blend_rgba_base_keeps_alpha(base, top) -> None:
    rgba = _as(base, "rgba")
    out = alpha_blend(rgba, top, alpha=0.3)
    assert out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(out[..., :3], cv2.addWeighted(base, 0.7, top, 0.3, 0))


def test_alpha_blend_grey_promoted_to_rgb(base, top) -> None:
    """Hand: a grey base under an RGB overlay is blended as three equal channels."""
    grey = _as(base, "grey")
    out = alpha_blend(grey, top, alpha=0.25)
    assert out.shape == (H, W, 3)
    hand = grey[..., None] * 0.75 + top * 0.25
    assert np.abs(out - hand).max() <= 1
    # grey with grey stays grey, in the base's layout
    assert alpha_blend(_as(base, "grey1"), _as(top, "grey")).shape == (H, W, 1)
    # a grey image with an RGB mask is promoted too
    rgb_mask = np.zeros((H, W, 3), np.uint8)
    assert alpha_blend(grey, _as(top, "grey"), mask=rgb_mask).shape == (H, W, 3)


def test_alpha_blend_converts_overlay_dtype(base, top) -> None:
    """A uint16 or float overlay is converted to the base's dtype first (255 <-> 65535 <-> 1)."""
    ref = alpha_blend(base, top, alpha=0.3)
    for kind in ("uint16", "float32"):
        out = alpha_blend(base, _as(top, kind), alpha=0.3)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("kind", KINDS)
def test_alpha_blend_shape_dtype(base, top, soft_mask, kind) -> None:
    b = _as(base, kind)
    for kwargs in ({}, {"mask": soft_mask}):
        out = alpha_blend(b, _as(top, kind), **kwargs)
        assert out.shape == b.shape and out.dtype == b.dtype


def test_alpha_blend_errors(base, top) -> None:
    small = top[:20, :30]
    with pytest.raises(InvalidArgument, match=r"30x20.*64x48.*resize"):
        alpha_blend(base, small)
    with pytest.raises(InvalidArgument, match="mask"):
        alpha_blend(base, top, mask=np.zeros((10, 10), np.uint8))
    with pytest.raises(InvalidArgument, match="alpha"):
        alpha_blend(base, top, alpha=1.5)
    with pytest.raises(InvalidArgument, match="4 channels"):
        alpha_blend(base, top, mask=np.zeros((H, W, 4), np.uint8))
    with pytest.raises(InvalidImage):
        alpha_blend(base, np.full((H, W, 3), np.nan, np.float32))
    with pytest.raises(InvalidArgument, match="overlay"):
        alpha_blend(base)


# --------------------------------------------------------------------------- blend


def test_blend_matches_np_average(base, top) -> None:
    """Reference: np.average over the stack (base first) with the same weights."""
    third = _photo("coffee")
    weights = (0.5, 0.2, 0.3)
    out = blend(base, (top, third), weights=weights)
    ref = np.average(np.stack([base, top, third]).astype(np.float64), axis=0, weights=weights)
    assert out.dtype == np.uint8
    assert np.abs(out - ref).max() <= 0.5 + 1e-3
    # unnormalized weights give the same result once normalized
    np.testing.assert_array_equal(blend(base, (top, third), weights=(5, 2, 3)), out)


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32", "float64", "grey1"])
def test_blend_default_is_mean(base, top, kind) -> None:
    """Reference: np.mean of N + 1 = 4 images (equal default weights)."""
    imgs = [_as(x, kind) for x in (base, top, _photo("coffee"), _photo("rocket"))]
    out = blend(imgs[0], tuple(imgs[1:]))
    assert out.dtype == imgs[0].dtype and out.shape == imgs[0].shape
    ref = np.mean([_units(x) for x in imgs], axis=0)
    tol = 1e-6 if kind.startswith("float") else 0.5 / SCALE[imgs[0].dtype.name] + 1e-6
    assert np.abs(_units(out) - ref).max() <= tol


@pytest.mark.parametrize("strips", [False, True])
def test_blend_three_images_match_opencv_chain(base, top, strips, monkeypatch) -> None:
    """Reference: OpenCV's float accumulation on the whole image,
    addWeighted(addWeighted(a, w0, b, w1, CV_32F), 1, c, w2, CV_8U); the result is the same
    when the op accumulates in strips of rows."""
    if strips:
        monkeypatch.setattr(composite, "_STRIP_PIXELS", 15 * W)
    third, fourth = _photo("coffee"), _photo("rocket")
    w = (0.1, 0.2, 0.3, 0.4)
    acc = cv2.addWeighted(base, w[0], top, w[1], 0, dtype=cv2.CV_32F)
    acc = cv2.addWeighted(acc, 1, third, w[2], 0, dtype=cv2.CV_32F)
    ref = cv2.addWeighted(acc, 1, fourth, w[3], 0, dtype=cv2.CV_8U)
    np.testing.assert_array_equal(blend(base, (top, third, fourth), weights=w), ref)


@pytest.mark.parametrize("kind", ["uint16", "float32", "float64", "grey1", "rgba"])
def test_blend_in_strips_is_mean(base, top, kind, small_strips) -> None:
    """Reference: np.mean of 3 images, on the strip-by-strip path, for every dtype/layout."""
    imgs = [_as(x, kind) for x in (base, top, _photo("coffee"))]
    out = blend(imgs[0], tuple(imgs[1:]))
    assert out.dtype == imgs[0].dtype and out.shape == imgs[0].shape
    ref = np.mean([_units(x) for x in imgs], axis=0)
    tol = 1e-6 if kind.startswith("float") else 0.5 / SCALE[imgs[0].dtype.name] + 1e-6
    assert np.abs(_units(out) - ref).max() <= tol


def test_blend_without_normalize_saturates(base, top) -> None:
    """Hand formula: weights (1, 1) unnormalized = clip(base + top, 0, 255); float clips at 1."""
    out = blend(base, (top,), weights=(1.0, 1.0), normalize=False)
    np.testing.assert_array_equal(out, np.clip(base.astype(int) + top, 0, 255))
    f = blend(_as(base, "float32"), (_as(top, "float32"),), weights=(1, 1), normalize=False)
    assert f.max() <= 1.0 and f.dtype == np.float32
    np.testing.assert_allclose(f, np.clip(base / 255 + top / 255, 0, 1), atol=1e-6)


def test_blend_promotes_layouts(base, top) -> None:
    """Grey + RGB gives RGB; RGB + RGBA gives RGBA (the RGB image counts as opaque)."""
    out = blend(_as(base, "grey"), (top,))
    assert out.shape == (H, W, 3)
    rgba = _as(top, "rgba")
    out = blend(base, (rgba,))
    assert out.shape == (H, W, 4)
    hand = (255.0 + rgba[..., 3]) / 2
    assert np.abs(out[..., 3] - hand).max() <= 0.5


def test_blend_errors(base, top) -> None:
    with pytest.raises(InvalidArgument, match="one weight per image"):
        blend(base, (top,), weights=(1.0, 2.0, 3.0))
    with pytest.raises(InvalidArgument, match="sum to 0"):
        blend(base, (top,), weights=(1.0, -1.0))
    with pytest.raises(InvalidArgument, match=r"images\[1\].*resize"):
        blend(base, (top, top[:10]))
    with pytest.raises(InvalidArgument, match="non-empty"):
        blend(base, ())


# --------------------------------------------------------------------------- pyramid_blend


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32", "grey", "rgba"])
def test_pyramid_blend_extreme_masks(base, top, kind) -> None:
    """All-ones mask returns `other` (within one level), all-zeros returns the base."""
    b, t = _as(base, kind), _as(top, kind)
    tol = 1e-5 if b.dtype.kind == "f" else 1
    for mask, want in ((np.full((H, W), 255, np.uint8), t), (np.zeros((H, W), np.uint8), b)):
        out = pyramid_blend(b, t, mask)
        assert out.dtype == b.dtype and out.shape == b.shape
        assert np.abs(out.astype(np.float64) - want).max() <= tol


def test_pyramid_blend_half_mask() -> None:
    """Left of the seam (far from it) equals the base, right equals `other`; the influence of
    a 5-level pyramid reaches about 2**5 pixels, so 32 columns either side are left out."""
    a, b = _photo("astronaut", 256, 64), _photo("chelsea", 256, 64)
    mask = np.zeros((64, 256), np.uint8)
    mask[:, 128:] = 255
    out = pyramid_blend(a, b, mask, levels=5).astype(int)
    assert np.abs(out[:, :96] - a[:, :96]).max() <= 1
    assert np.abs(out[:, 160:] - b[:, 160:]).max() <= 1
    # the seam itself is a mixture, not a copy of either side
    assert np.abs(out[:, 120:136] - a[:, 120:136]).max() > 10
    assert np.abs(out[:, 120:136] - b[:, 120:136]).max() > 10


def test_pyramid_blend_softens_the_seam() -> None:
    """Black meets white along a hard mask: one level keeps the 255 step, five levels spread it
    over many columns (the largest step between neighbours drops well below 255)."""
    a = np.zeros((40, 200), np.uint8)
    b = np.full((40, 200), 255, np.uint8)
    mask = np.zeros((40, 200), np.uint8)
    mask[:, 100:] = 255
    hard = pyramid_blend(a, b, mask, levels=1).astype(int)
    soft = pyramid_blend(a, b, mask, levels=5).astype(int)
    assert np.abs(np.diff(hard, axis=1)).max() == 255
    assert np.abs(np.diff(soft, axis=1)).max() < 64
    assert (np.diff(soft[20]) >= 0).all()  # still a monotone ramp from black to white


def test_pyramid_blend_level1_and_constant_mask_are_plain_blends(base, top, soft_mask) -> None:
    """Hand formula base*(1-m) + other*m: exactly what one level does; and, by linearity of
    the pyramids, what any number of levels does when the mask is constant."""
    m = soft_mask[..., None] / 255.0
    out = pyramid_blend(base, top, soft_mask, levels=1)
    assert np.abs(out - (base * (1 - m) + top * m)).max() <= 1
    const = np.full((H, W), 0.3, np.float32)
    out = pyramid_blend(base, top, const, levels=6)
    assert np.abs(out - (base * 0.7 + top * 0.3)).max() <= 1


def test_pyramid_blend_uint8_rounds_like_the_float_path() -> None:
    """Hand conversion: the uint8 result is rint(clip(f, 0, 1) * 255) of the float32 result f
    for the same inputs (float32 = uint8 * float32(1/255), as the op converts them). A 0/255
    checkerboard meeting black along a hard seam makes the pyramids ring below 0 (and above
    1): those values must clip to 0, not come back positive."""
    a = np.zeros((40, 50, 3), np.uint8)
    a[::2, 1::2] = a[1::2, ::2] = 255
    b = np.zeros((40, 50, 3), np.uint8)
    mask = np.zeros((40, 50), np.uint8)
    mask[:, 25:] = 255
    unit = np.float32(1 / 255)
    f = pyramid_blend(a * unit, b * unit, mask, levels=4)
    assert f.dtype == np.float32 and f.min() == 0.0 and f.max() == 1.0
    out = pyramid_blend(a, b, mask, levels=4)
    np.testing.assert_array_equal(out, np.rint(f * np.float32(255)))


@pytest.mark.parametrize("size", [(47, 61), (5, 3), (1, 1), (1, 9)])
def test_pyramid_blend_odd_sizes(size) -> None:
    """Sizes that are not powers of two (and tiny ones with many levels) work."""
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, size + (3,), dtype=np.uint8)
    b = rng.integers(0, 256, size + (3,), dtype=np.uint8)
    mask = rng.integers(0, 256, size, dtype=np.uint8)
    out = pyramid_blend(a, b, mask, levels=10)
    assert out.shape == a.shape and out.dtype == np.uint8
    ones = np.full(size, 255, np.uint8)
    assert np.abs(pyramid_blend(a, b, ones, levels=10).astype(int) - b).max() <= 1


def test_pyramid_blend_per_channel_mask(base, top) -> None:
    """A per-channel mask selects per channel: red from `other`, green and blue from the base."""
    mask = np.zeros((H, W, 3), np.uint8)
    mask[..., 0] = 255
    out = pyramid_blend(base, top, mask).astype(int)
    assert np.abs(out[..., 0] - top[..., 0]).max() <= 1
    assert np.abs(out[..., 1:] - base[..., 1:]).max() <= 1


def test_pyramid_blend_errors(base, top) -> None:
    mask = np.zeros((H, W), np.uint8)
    for levels in (0, 11):
        with pytest.raises(InvalidArgument, match="levels"):
            pyramid_blend(base, top, mask, levels=levels)
    with pytest.raises(InvalidArgument, match="other.*resize"):
        pyramid_blend(base, top[:-1], mask)
    with pytest.raises(InvalidArgument, match="mask.*resize"):
        pyramid_blend(base, top, mask[:, :-1])
    with pytest.raises(InvalidArgument, match="mask has 4 channels"):
        pyramid_blend(base, top, np.zeros((H, W, 4), np.uint8))
    with pytest.raises(InvalidArgument, match="mask"):
        pyramid_blend(base, top)


# --------------------------------------------------------------------------- seamless_clone


@pytest.fixture(scope="module")
def clone_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base: astronaut 96 x 80; source: chelsea 64 x 48; a disc mask of radius 15 in source."""
    dst = _photo("astronaut", 96, 80)
    src = _photo("chelsea", 64, 48)
    mask = np.zeros((48, 64), np.uint8)
    cv2.circle(mask, (30, 24), 15, 255, -1)
    return dst, src, mask


def _cv_clone(src, dst, mask, center, flag) -> np.ndarray:
    """Direct OpenCV call on BGR data, converted back to RGB. The mask is copied: OpenCV 5.0
    modifies the mask it is given."""
    out = cv2.seamlessClone(
        cv2.cvtColor(src, cv2.COLOR_RGB2BGR),
        cv2.cvtColor(dst, cv2.COLOR_RGB2BGR),
        mask.copy(),
        center,
        flag,
    )
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize(
    ("mode", "flag"), [("normal", cv2.NORMAL_CLONE), ("mixed", cv2.MIXED_CLONE)]
)
def test_seamless_clone_matches_opencv(clone_case, mode, flag) -> None:
    """Reference: cv2.seamlessClone on BGR data, at the given and the default centre."""
    dst, src, mask = clone_case
    # atelier calls OpenCV on RGB: the Poisson solve's SIMD paths may round a channel
    # differently by position and CPU, so within one 8-bit level on at most 1 % of values.
    out = seamless_clone(dst, src, mask, center=(50, 40), mode=mode)
    assert_levels_close(out, _cv_clone(src, dst, mask, (50, 40), flag), fraction=0.01)
    out = seamless_clone(dst, src, mask, mode=mode)
    assert_levels_close(out, _cv_clone(src, dst, mask, (48, 40), flag), fraction=0.01)
    assert not np.array_equal(out, dst)


def test_seamless_clone_mixed_differs_from_normal(clone_case) -> None:
    dst, src, mask = clone_case
    normal = seamless_clone(dst, src, mask, mode="normal")
    mixed = seamless_clone(dst, src, mask, mode="mixed")
    assert np.abs(normal.astype(int) - mixed).max() > 10


def test_seamless_clone_leaves_mask_alone_and_is_deterministic(clone_case) -> None:
    """OpenCV 5.0 erodes the mask in place; ours must not touch the caller's mask, so repeated
    calls give the same result."""
    dst, src, mask = clone_case
    keep = mask.copy()
    first = seamless_clone(dst, src, mask)
    second = seamless_clone(dst, src, mask)
    np.testing.assert_array_equal(mask, keep)
    np.testing.assert_array_equal(first, second)


def test_seamless_clone_poisson_properties(clone_case) -> None:
    """Poisson editing (Pérez et al. 2003): cloning an image into itself at the same place
    gives the image back (exactly: seamless_clone guarantees it, in every dtype and layout);
    a flat source into a flat base leaves the base flat."""
    dst, _, _ = clone_case
    mask = np.zeros(dst.shape[:2], np.uint8)
    mask[20:60, 20:76] = 255
    np.testing.assert_array_equal(seamless_clone(dst, dst, mask, center=(48, 40)), dst)
    for kind in ("float32", "uint16", "grey1", "rgba"):
        d = _as(dst, kind)
        np.testing.assert_array_equal(seamless_clone(d, d.copy(), mask, center=(48, 40)), d)
    # The same region, moved: OpenCV's solve (float, SIMD, version-dependent) returns the
    # image within one 8-bit level on a small fraction of pixels (2 of 23,040 were seen).
    shifted = np.roll(dst, (3, 5), axis=(0, 1))
    out = seamless_clone(dst, shifted, np.roll(mask, (3, 5), axis=(0, 1)), center=(48, 40))
    assert_levels_close(out, dst, fraction=0.01)
    flat = np.full((80, 96, 3), 100, np.uint8)
    out = seamless_clone(flat, np.full((80, 96, 3), 200, np.uint8), mask, center=(48, 40))
    # a flat field is the Poisson solution; OpenCV's float solve may round it one level off
    assert_levels_close(out, flat, fraction=0.01)


def test_seamless_clone_mask_is_binary(clone_case) -> None:
    """Non-zero pixels select the region, whatever their value or the mask's dtype/layout."""
    dst, src, mask = clone_case
    ref = seamless_clone(dst, src, mask)
    for other in (
        (mask > 0).astype(np.uint8) * 7,
        (mask > 0).astype(np.float32) * 0.2,
        (mask > 0).astype(np.uint16)[..., None],
        np.dstack([mask, np.zeros_like(mask), np.zeros_like(mask)]),
    ):
        np.testing.assert_array_equal(seamless_clone(dst, src, other), ref)


@pytest.mark.parametrize("kind", ["uint16", "float32", "float64"])
def test_seamless_clone_other_dtypes(clone_case, kind) -> None:
    """Reference: the uint8 OpenCV result, within one 8-bit level inside the pasted box; the
    rest of the image is the base at full precision."""
    dst, src, mask = clone_case
    d = _as(dst, kind) + (np.float32(1e-4) if kind.startswith("float") else 0)
    out = seamless_clone(d, _as(src, kind), mask, center=(50, 40))
    assert out.dtype == d.dtype and out.shape == d.shape
    ref = _cv_clone(src, dst, mask, (50, 40), cv2.NORMAL_CLONE) / 255.0
    assert np.abs(_units(out) - ref).max() <= 1 / 255 + 1e-3
    x, y, w, h = cv2.boundingRect(mask)
    box = np.zeros(dst.shape[:2], bool)
    box[40 - h // 2 : 40 - h // 2 + h, 50 - w // 2 : 50 - w // 2 + w] = True
    np.testing.assert_array_equal(out[~box], d[~box])


def test_seamless_clone_rgba_base_keeps_alpha(clone_case) -> None:
    dst, src, mask = clone_case
    rgba = _as(dst, "rgba")
    out = seamless_clone(rgba, _as(src, "rgba"), mask)
    assert out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(out[..., :3], seamless_clone(dst, src, mask))


def test_seamless_clone_grey(clone_case) -> None:
    """A grey base with a grey source stays grey (three equal channels inside OpenCV);
    a grey base with a colour source gives RGB."""
    dst, src, mask = clone_case
    g_dst, g_src = _as(dst, "grey1"), _as(src, "grey")
    out = seamless_clone(g_dst, g_src, mask)
    assert out.shape == g_dst.shape and out.dtype == np.uint8
    ref = _cv_clone(np.dstack([g_src] * 3), np.dstack([g_dst[..., 0]] * 3), mask, (48, 40), 1)
    # OpenCV's solve on its own call: within one 8-bit level on at most 1 % (SIMD rounding)
    assert_levels_close(out[..., 0], ref[..., 0], fraction=0.01)
    assert seamless_clone(g_dst, src, mask).shape == dst.shape


def test_seamless_clone_errors(clone_case) -> None:
    dst, src, mask = clone_case
    # the disc's bounding box is 31 x 31: centre x must be in [15, 80], y in [15, 64]
    with pytest.raises(InvalidArgument, match=r"center x in \[15, 80\] and y in \[15, 64\]"):
        seamless_clone(dst, src, mask, center=(10, 40))
    with pytest.raises(InvalidArgument, match="outside"):
        seamless_clone(dst, src, mask, center=(50, 65))
    seamless_clone(dst, src, mask, center=(80, 64))  # the last position that fits
    with pytest.raises(InvalidArgument, match="must have its size"):
        seamless_clone(dst, src, mask[:-1])
    with pytest.raises(InvalidArgument, match="no pixels"):
        seamless_clone(dst, src, np.zeros_like(mask))
    border_only = np.zeros_like(mask)
    border_only[0, :] = 255
    with pytest.raises(InvalidArgument, match="no pixels"):
        seamless_clone(dst, src, border_only)
    with pytest.raises(InvalidArgument, match="larger than the 20x20 image"):
        seamless_clone(dst[:20, :20], src, np.full_like(mask, 255))
    with pytest.raises(InvalidArgument, match="mode"):
        seamless_clone(dst, src, mask, mode="monochrome")
    with pytest.raises(InvalidArgument, match="center"):
        seamless_clone(dst, src, mask, center=(1, 2, 3))
    with pytest.raises(InvalidArgument, match="RGBA"):
        seamless_clone(dst, src, np.zeros(mask.shape + (4,), np.uint8))
