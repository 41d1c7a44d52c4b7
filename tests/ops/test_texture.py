"""Image quilting (``quilt``) and texture mapping (``texture_fill``): shapes, dtypes, errors,
determinism, and reference properties of Efros & Freeman's algorithm."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from skimage import data

from atelier.errors import InvalidArgument, InvalidImage
from atelier.ops import apply_pipeline, get_op, quilt, quilt_settings, texture_fill
from atelier.ops.texture import _axis, _min_cut


@pytest.fixture(scope="module")
def gravel() -> np.ndarray:
    """A 96 x 96 crop of scikit-image's gravel texture (grey, stones about 10 pixels wide)."""
    return np.ascontiguousarray(data.gravel()[:96, :96])


@pytest.fixture(scope="module")
def unique_colours() -> np.ndarray:
    """A 40 x 40 RGB uint8 sample whose pixels all differ, so each output pixel names its source."""
    codes = np.random.default_rng(7).choice(1 << 24, 40 * 40, replace=False)
    rgb = np.stack([codes >> 16, (codes >> 8) & 255, codes & 255], axis=1).astype(np.uint8)
    return rgb.reshape(40, 40, 3)


def _source_coords(out: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """For a quilt of ``unique_colours``: the (row, col) in the sample of every output pixel."""
    code = lambda im: (im[..., 0].astype(np.int64) << 16) | (im[..., 1].astype(np.int64) << 8) | im[..., 2]
    lookup = {int(c): divmod(i, sample.shape[1]) for i, c in enumerate(code(sample).ravel())}
    return np.array([lookup[int(c)] for c in code(out).ravel()]).reshape(out.shape[:2] + (2,))


# --------------------------------------------------------------------------- smoke, shape, dtype


@pytest.mark.parametrize(
    "layout, dtype",
    [((), np.uint8), ((1,), np.uint8), ((3,), np.float32), ((4,), np.uint16), ((3,), np.float64)],
)
def test_shape_layout_and_dtype_kept(gravel, layout, dtype):
    sample = gravel.reshape(gravel.shape + (1,) * len(layout))
    sample = np.repeat(sample, layout[0], axis=2) if layout else sample
    if dtype == np.uint16:
        sample = sample.astype(np.uint16) * 257
    elif np.dtype(dtype).kind == "f":
        sample = (sample / 255).astype(dtype)
    out = quilt(sample, 50, 70, patch=24, seed=1)
    assert out.shape == (50, 70) + layout and out.dtype == dtype


@pytest.mark.parametrize("height, width", [(1, 1), (5, 200), (31, 24), (97, 40)])
def test_any_size_including_smaller_than_a_patch(gravel, height, width):
    assert quilt(gravel, height, width, patch=24).shape == (height, width)
    assert quilt(gravel, max(height, 12), max(width, 12), patch=24, tileable=True).shape == (
        max(height, 12), max(width, 12))


def test_rgba_alpha_is_quilted_with_the_colour(unique_colours):
    alpha = np.arange(40 * 40, dtype=np.uint32).reshape(40, 40) % 251
    rgba = np.dstack([unique_colours, alpha.astype(np.uint8)])
    out = quilt(rgba, 60, 60, patch=12, seed=3)
    where = _source_coords(out[..., :3], unique_colours)
    np.testing.assert_array_equal(out[..., 3], rgba[where[..., 0], where[..., 1], 3])


# --------------------------------------------------------------------------- reference properties


def test_output_is_made_of_copied_patches(unique_colours):
    """Efros & Freeman 2001, section 2: the result is patches of the sample copied whole, cut
    only along the overlaps. Every pixel is a sample pixel, and away from the seams a pixel's
    right and lower neighbours are its right and lower neighbours in the sample."""
    out = quilt(unique_colours, 90, 90, patch=15, overlap=3, seed=0)
    where = _source_coords(out, unique_colours)  # KeyError if any pixel is not from the sample
    right = (where[:, 1:] - where[:, :-1] == (0, 1)).all(axis=2).mean()
    down = (where[1:] - where[:-1] == (1, 0)).all(axis=2).mean()
    # One patch step is 12 pixels: at most one seam pixel in 12 breaks the continuity.
    assert right > 0.9 and down > 0.9, (right, down)


def test_min_cut_matches_brute_force():
    """The dynamic programme of section 2.1 against all 3 * 3^5 paths of a 6 x 3 strip."""
    cost = np.random.default_rng(0).random((6, 3))
    best = min(
        (sum(cost[r, c] for r, c in enumerate(path)), path)
        for path in itertools.product(range(3), repeat=6)
        if all(abs(a - b) <= 1 for a, b in itertools.pairwise(path))
    )
    path = _min_cut(cost)
    assert np.all(np.abs(np.diff(path)) <= 1)
    assert cost[np.arange(6), path].sum() == pytest.approx(best[0])


def test_min_cut_beats_a_straight_cut_on_a_texture(gravel):
    """Two overlapping gravel patches: the error along the minimum-error boundary is well below
    that of the best straight cut through the overlap (the point of section 2.1)."""
    a = gravel[0:40, 0:40].astype(np.float64)
    b = gravel[50:90, 30:70].astype(np.float64)
    err = (a[:, -8:] - b[:, :8]) ** 2  # a 40 x 8 vertical overlap
    path = _min_cut(err)
    along_cut = err[np.arange(40), path].sum()
    straight = err.sum(axis=0).min()
    assert along_cut < 0.5 * straight, (along_cut, straight)


def _wrap_and_interior(image: np.ndarray) -> tuple[float, float]:
    """Mean squared difference across the wrap-around edges, and between neighbouring pixels."""
    f = image.astype(np.float64)
    wrap = np.concatenate([(f[:, 0] - f[:, -1]).ravel(), (f[0] - f[-1]).ravel()])
    inner = np.concatenate([(f[:, 1:] - f[:, :-1]).ravel(), (f[1:] - f[:-1]).ravel()])
    return float((wrap**2).mean()), float((inner**2).mean())


def test_tileable_wraps_without_a_seam(gravel):
    """On a torus the wrap-around edge is an ordinary seam: its error is like that between any
    neighbours, and far below that of the plain quilt's wrap (unrelated pixels)."""
    tile = quilt(gravel, 120, 100, patch=24, tileable=True, seed=4)
    plain = quilt(gravel, 120, 100, patch=24, seed=4)
    wrap, inner = _wrap_and_interior(tile)
    plain_wrap, plain_inner = _wrap_and_interior(plain)
    assert wrap < 1.3 * inner, (wrap, inner)
    assert plain_wrap > 4 * plain_inner and wrap < 0.3 * plain_wrap, (wrap, plain_wrap)
    # the patches close up exactly: on the torus every pixel is a copied sample pixel too
    assert np.isin(tile, gravel).all()


def test_torus_layout_closes_up():
    patches, length = _axis(100, 24, 6, torus=True)
    assert length == 100 and patches[0][0] == 0
    ends = [start + size - 6 for start, size in patches]
    assert [s for s, _ in patches[1:]] + [100] == ends  # each overlaps the next (the last the first)
    assert max(size for _, size in patches) <= 24


def test_zero_tolerance_takes_the_best_match(unique_colours):
    """With tolerance 0 on a sample of unique pixels, after the first patch every next patch
    continues its left neighbour in the sample while it fits (its SSD over the overlap is 0)."""
    out = quilt(unique_colours, 12, 60, patch=12, overlap=3, tolerance=0.0, seed=0)
    where = _source_coords(out, unique_colours)
    assert (where[0, 1:, 1] - where[0, :-1, 1] == 1).sum() >= 20


def test_same_seed_same_texture(gravel):
    a = quilt(gravel, 64, 64, patch=20, seed=5)
    np.testing.assert_array_equal(a, quilt(gravel, 64, 64, patch=20, seed=5))
    assert not np.array_equal(a, quilt(gravel, 64, 64, patch=20, seed=6))


def test_real_texture_keeps_its_statistics(shared_data):
    """A crop of a painting's sky (Starry Night): the quilt's mean colour and contrast stay
    close to the sample's."""
    from atelier.image import load_image

    path = shared_data / "styles" / "starry_night.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    sample = cv2.resize(load_image(path, mode="rgb")[40:240, 380:580], (96, 96), interpolation=cv2.INTER_AREA)
    out = quilt(sample, 160, 160, seed=0)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), sample.reshape(-1, 3).mean(0), atol=12)
    np.testing.assert_allclose(out.reshape(-1, 3).std(0), sample.reshape(-1, 3).std(0), rtol=0.25)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"patch": 200}, "smaller than the 200-pixel patch"),
        ({"patch": 2}, "patch must be 3 pixels or more"),
        ({"patch": 30, "overlap": 11}, r"overlap must be in \[1, 10\]"),
        ({"overlap": 0}, "overlap must be in"),
        ({"height": 0}, "at least 1x1"),
        ({"width": -3}, "at least 1x1"),
        ({"width": 2.5}, "width must be an integer"),
        ({"max_pixels": 100}, "over the limit"),
        ({"tolerance": -1.0}, "tolerance must be a number >= 0"),
        ({"tileable": True, "height": 9, "patch": 30}, "at least 14 pixels per side"),
    ],
)
def test_mistakes_are_one_clear_line(gravel, kwargs, needle):
    args = {"height": 40, "width": 40} | kwargs
    with pytest.raises(InvalidArgument, match=needle) as info:
        quilt(gravel, args.pop("height"), args.pop("width"), **args)
    assert "\n" not in str(info.value)


def test_tiny_or_bad_samples():
    with pytest.raises(InvalidArgument, match="at least 3x3"):
        quilt(np.zeros((2, 9), np.uint8), 10, 10)
    with pytest.raises(InvalidImage):
        quilt(np.zeros((8, 8, 2), np.uint8), 10, 10)
    assert quilt_settings((128, 512)) == (42, 10) and quilt_settings((1000, 1000)) == (64, 16)


# --------------------------------------------------------------------------- the ops


def test_quilt_op_in_a_pipeline(gravel):
    out = apply_pipeline(gravel, "quilt width=80 height=50 patch=20 seed=2")
    np.testing.assert_array_equal(out, quilt(gravel, 50, 80, patch=20, seed=2))
    assert get_op("quilt").category == "texture"


@pytest.fixture(scope="module")
def scene():
    """The astronaut (96 x 128 RGB), a mask of a 30 x 40 box, and a grass sample (64 x 64 RGB)."""
    photo = cv2.resize(data.astronaut(), (128, 96), interpolation=cv2.INTER_AREA)
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[30:60, 50:90] = 255
    grass = cv2.resize(data.grass(), (64, 64), interpolation=cv2.INTER_AREA)
    return photo, mask, np.repeat(grass[..., None], 3, axis=2)


def test_texture_fill_keeps_the_outside_and_fills_with_the_texture(scene):
    photo, mask, grass = scene
    feather = 6
    out = texture_fill(photo, mask, grass, feather=feather, seed=1)
    assert out.shape == photo.shape and out.dtype == photo.dtype
    region = mask > 0
    near = cv2.dilate(mask, np.ones((2 * feather + 3,) * 2, np.uint8)) > 0
    np.testing.assert_array_equal(out[~near], photo[~near])  # beyond the blend margin: untouched
    inner = cv2.erode(mask, np.ones((9, 9), np.uint8)) > 0
    filled = out[inner].astype(np.float64)
    assert abs(filled.mean() - grass.mean()) < 0.15 * grass.std() + 3
    assert abs(filled.std() - grass.std()) < 0.25 * grass.std()
    assert np.isin(out[inner][:, 0], grass).all()  # the inside is quilted grass, no colour of the photo
    hard = texture_fill(photo, mask, grass, feather=0, seed=1)
    np.testing.assert_array_equal(hard[~region], photo[~region])


def test_texture_fill_layouts(scene):
    photo, mask, grass = scene
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    assert texture_fill(grey, mask, grass).shape == grey.shape  # a colour sample made grey
    rgba = np.dstack([photo, np.full(photo.shape[:2], 77, np.uint8)])
    out = texture_fill(rgba, mask, grass[..., 0])  # a grey sample made colour
    assert out.shape == rgba.shape and (out[..., 3] == 77).all()  # the image's alpha is kept
    f = texture_fill(photo.astype(np.float32) / 255, mask, grass)
    assert f.dtype == np.float32 and 0 <= f.min() and f.max() <= 1


def test_texture_fill_mistakes(scene):
    photo, mask, grass = scene
    with pytest.raises(InvalidArgument, match="mask is 64x48 but the image is 128x96"):
        texture_fill(photo, mask[::2, ::2], grass)
    with pytest.raises(InvalidArgument, match="the mask is empty"):
        texture_fill(photo, np.zeros_like(mask), grass)
    with pytest.raises(InvalidArgument, match="smaller than the 80-pixel patch"):
        texture_fill(photo, mask, grass, patch=80)
    with pytest.raises(InvalidArgument, match="feather must be in"):
        texture_fill(photo, mask, grass, feather=-1)


def test_texture_fill_op_with_files(tmp_path, scene):
    from atelier.image import save_image

    photo, mask, grass = scene
    save_image(tmp_path / "m.png", mask)
    save_image(tmp_path / "g.png", grass)
    out = apply_pipeline(photo, f"texture_fill mask={tmp_path / 'm.png'} sample={tmp_path / 'g.png'} seed=3")
    np.testing.assert_array_equal(out, texture_fill(photo, mask, grass, seed=3))
