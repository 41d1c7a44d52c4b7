"""Tests for atelier.arrays: the dtype conversions and the strip helper.

``from_float`` runs on OpenCV (uint8) and in cache-sized strips, so it is checked against the
plain numpy formula it documents, ``rint(clip(x, 0, 1) * max)`` (round half to even), on
random values, on every level k / 255 and (k + 0.5) / 255, on exact ties and on every layout.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from atelier import arrays
from atelier.arrays import clip_float, from_float, row_strips, to_float

RNG = np.random.default_rng(7)


def _formula(x: np.ndarray, dtype: type) -> np.ndarray:
    """The documented result in plain numpy: clip to [0, 1], scale, round half to even."""
    top = np.float32(np.iinfo(dtype).max)
    return np.rint(np.clip(x, 0.0, 1.0) * top).astype(dtype)


def _ties() -> np.ndarray:
    """float32 values x whose float32 product x * 255 is exactly k + 0.5 (rounding ties)."""
    centre = ((np.arange(255) + 0.5) / 255).astype(np.float32).view(np.int32)
    near = np.concatenate([centre + step for step in range(-8, 9)]).view(np.float32)
    product = near * np.float32(255)
    return near[product - np.floor(product) == 0.5]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("src", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(37, 29), (37, 29, 1), (37, 29, 3), (37, 29, 4), (500,), (7, 5, 6)]
)
def test_from_float_vs_formula(dtype, src, shape):
    """Random values in [-0.2, 1.2] (so both clips act) vs the numpy formula, bit for bit."""
    x = (RNG.random(shape) * 1.4 - 0.2).astype(src)
    out = from_float(x, dtype)
    assert out.dtype == dtype and out.shape == x.shape
    assert np.array_equal(out, _formula(x, dtype))


@pytest.mark.parametrize("src", [np.float32, np.float64])
def test_from_float_levels_and_ties(src):
    """k / 255 gives k; (k + 0.5) / 255 and exact float32 ties round half to even like
    np.rint (hand check: 0.5 / 255 -> 0, 1.5 / 255 -> 2)."""
    k = np.arange(256, dtype=np.float64)
    levels = (k / 255).astype(src).reshape(16, 16)
    assert np.array_equal(from_float(levels, np.uint8), k.reshape(16, 16))
    halves = ((k[:255] + 0.5) / 255).astype(src).reshape(15, 17)
    assert np.array_equal(from_float(halves, np.uint8), _formula(halves, np.uint8))
    ties = _ties().astype(src)[None]
    assert ties.size > 20
    assert np.array_equal(from_float(ties, np.uint8), _formula(ties, np.uint8))
    assert from_float(np.array([[0.5, 1.5]], src) / 255, np.uint8).tolist() == [[0, 2]]


def test_from_float_float_targets_and_odd_inputs():
    """Float targets are clipped only; 0-d, empty, non-contiguous and out= arguments work."""
    for shape in ((0, 5), (5, 0, 3), (3, 4, 0)):
        assert from_float(np.zeros(shape, np.float32), np.uint8).shape == shape
    x = np.array([[-0.5, 0.25, 1.5]], np.float64)
    assert from_float(x, np.float32).tolist() == [[0.0, 0.25, 1.0]]
    assert from_float(np.float32(0.5), np.uint8) == 128  # 127.5 rounds to even
    view = (RNG.random((40, 30, 3)).astype(np.float32))[::3, ::-2]
    assert np.array_equal(from_float(view, np.uint8), _formula(view, np.uint8))
    out = np.empty(view.shape, np.uint16)
    assert from_float(view, np.uint16, out=out) is out
    assert np.array_equal(out, _formula(view, np.uint16))


def test_from_float_overwrite_input():
    """The input is left alone unless overwrite_input is given; the result is the same."""
    x = RNG.random((20, 30, 3)).astype(np.float32) * 1.4 - 0.2
    before = x.copy()
    expected = _formula(x, np.uint8)
    assert np.array_equal(from_float(x, np.uint8), expected)
    assert np.array_equal(x, before)
    assert np.array_equal(from_float(x, np.uint8, overwrite_input=True), expected)


def test_from_float_many_strips(monkeypatch):
    """With tiny strips (many strip boundaries) the result is still the formula's."""
    monkeypatch.setattr(arrays, "STRIP_BYTES", 1000)
    monkeypatch.setattr(arrays, "OPENCV_STRIPE_PIXELS", 4)
    x = (RNG.random((53, 31, 3)) * 1.4 - 0.2).astype(np.float32)
    assert len(list(row_strips(x.shape))) > 10
    for dtype in (np.uint8, np.uint16):
        assert np.array_equal(from_float(x, dtype), _formula(x, dtype))


def test_to_float_every_level():
    """Every uint8 and uint16 level v maps to float32 v / max (within float32 rounding of the
    exact quotient); 0 -> 0 and max -> 1 exactly; float32 input is returned as is."""
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        levels = np.arange(top + 1, dtype=dtype).reshape(-1, 1)
        f = to_float(levels)
        assert f.dtype == np.float32
        np.testing.assert_allclose(f, levels / top, rtol=2e-7, atol=0)
        assert f[0, 0] == 0.0 and f[-1, 0] == 1.0
    x = np.zeros((2, 2), np.float32)
    assert to_float(x) is x


def test_row_strips_cover_rows():
    """Strips tile the rows in order, a multiple of rows long (but the last), and hold at
    least 64 Ki pixels per OpenCV thread."""
    for shape, multiple in (((2048, 2048, 3), 1), ((517, 333, 3), 64), ((9, 4), 1), ((100000,), 1)):
        strips = list(row_strips(shape, multiple=multiple))
        assert strips[0].start == 0 and strips[-1].stop == shape[0]
        assert all(a.stop == b.start for a, b in zip(strips, strips[1:]))
        for s in strips[:-1]:
            rows = s.stop - s.start
            assert rows % multiple == 0
            pixels = rows * (shape[1] if len(shape) > 1 else 1)
            assert pixels >= cv2.getNumThreads() * arrays.OPENCV_STRIPE_PIXELS


def test_clip_float():
    """Floats are clipped in place to [0, 1]; integers pass unchanged."""
    x = np.array([-1.0, 0.5, 2.0], np.float32)
    assert clip_float(x) is x and x.tolist() == [0.0, 0.5, 1.0]
    y = np.array([0, 7, 255], np.uint8)
    assert clip_float(y).tolist() == [0, 7, 255]
