"""Procedural shapes: determinism, labels match the drawing, captions, any resolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.data import ShapesDataset, render_shape, shape_attributes, shape_caption
from atelier.data.shapes import ATTRIBUTES, COLORS, POSITIONS
from atelier.errors import InvalidArgument


def _rgb(t: torch.Tensor, y: int, x: int) -> np.ndarray:
    return np.round(t[:, y, x].numpy() * 255).astype(int)


def test_deterministic_per_seed_and_index():
    a = ShapesDataset(size=32, length=20, seed=5)
    b = ShapesDataset(size=32, length=20, seed=5)
    c = ShapesDataset(size=32, length=20, seed=6)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(20))
    assert any(not torch.equal(a[i][0], c[i][0]) for i in range(20))
    # item i depends on (seed, i) only, not on length or split
    assert torch.equal(ShapesDataset(size=32, length=100, seed=5, split=(7, 9))[0][0], a[7][0])


def test_labels_match_the_drawing():
    """The pixel at the shape's centre has the shape's colour; the corners of the image
    lying outside the shape's cell have the background colour (palette values, exact)."""
    ds = ShapesDataset(size=64, length=60, seed=0)
    for i in range(len(ds)):
        image, label = ds[i]
        a = ds.attributes(i)
        assert label == a["shape"]
        row, col = divmod(a["position"], 3)
        cy, cx = int(64 * (2 * row + 1) / 6), int(64 * (2 * col + 1) / 6)
        shape_rgb = COLORS[ATTRIBUTES["color"][a["color"]]]
        bg_rgb = COLORS[ATTRIBUTES["background"][a["background"]]]
        assert a["color"] != a["background"]
        assert np.abs(_rgb(image, cy, cx) - shape_rgb).max() <= 2, ds.caption(i)
        for y, x in [(0, 0), (0, 63), (63, 0), (63, 63)]:
            assert np.array_equal(_rgb(image, y, x), bg_rgb), ds.caption(i)


def test_shape_kinds_by_area():
    """Area fractions of a large shape at 128 px (h = 0.15 s): circle pi h^2, square 4 h^2,
    triangle 2 h^2 (hand-computed), measured as pixels differing from the background."""
    h = 0.15 * 128
    expected = {0: np.pi * h * h, 1: 4 * h * h, 2: 2 * h * h}
    for shape, area in expected.items():
        img = render_shape(dict(shape=shape, color=0, size=2, position=4, background=7), 128)
        measured = img[..., 0].astype(float).sum() / 220  # red channel: 220 inside, 0 outside
        assert abs(measured - area) / area < 0.02


def test_position_on_the_grid():
    """Top-left shape: its pixels are all in the top-left cell (rows, columns < 96 / 3 = 32)."""
    img = render_shape(dict(shape=1, color=6, size=1, position=0, background=7), 96)
    ys, xs = np.nonzero(img[..., 0])
    assert ys.max() < 32 and xs.max() < 32


def test_caption_text():
    a = dict(shape=0, color=0, size=0, position=0, background=2)
    assert shape_caption(a) == "a small red circle at the top left on a blue background"
    a = dict(shape=2, color=5, size=2, position=4, background=6)
    assert shape_caption(a) == "a large orange triangle in the center on a white background"
    ds = ShapesDataset(size=16, length=5, seed=2)
    assert ds.caption(3) == shape_caption(shape_attributes(2, 3))
    names = ds.names(3)
    assert ds.caption(3).startswith(f"a {names['size']} {names['color']} {names['shape']}")


@pytest.mark.parametrize("size", [8, 17, 48, 128, 200])
def test_any_resolution(size):
    image, _ = ShapesDataset(size=size, length=3)[1]
    assert image.shape == (3, size, size) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_antialiased_edges():
    """Supersampled edges: a circle has intermediate values, not only the two colours."""
    img = render_shape(dict(shape=0, color=6, size=2, position=4, background=7), 32)
    assert len(np.unique(img[..., 0])) > 2


def test_label_attribute_and_grey():
    ds = ShapesDataset(size=16, length=30, label_attribute="position", channels=1)
    assert ds.class_names == POSITIONS and ds.num_classes == 9
    assert all(ds[i][1] == ds.attributes(i)["position"] for i in range(30))
    assert ds[0][0].shape == (1, 16, 16)


def test_attribute_distribution_covers_all_values():
    values = [shape_attributes(0, i) for i in range(500)]
    for key, names in ATTRIBUTES.items():
        assert {v[key] for v in values} == set(range(len(names))), key


@pytest.mark.parametrize(
    "kwargs", [dict(seed=-1), dict(length=0), dict(label_attribute="hue"), dict(size=4)]
)
def test_errors(kwargs):
    with pytest.raises(InvalidArgument):
        ShapesDataset(**{"size": 16, **kwargs})
