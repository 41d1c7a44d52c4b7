"""Procedural noise (``noise_image``): shapes, dtypes, ranges, determinism, octaves, tiling,
errors, and Perlin's fade curve."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.errors import InvalidArgument
from atelier.ops import noise_image
from atelier.ops.noise import _fade


@pytest.mark.parametrize("kind", ["perlin", "value", "white"])
@pytest.mark.parametrize("channels, dtype", [(1, np.uint8), (3, np.float32), (1, np.uint16)])
def test_shape_dtype_and_range(kind, channels, dtype):
    img = noise_image(40, 56, kind=kind, scale=16, channels=channels, dtype=dtype, seed=2)
    assert img.shape == ((40, 56) if channels == 1 else (40, 56, 3)) and img.dtype == dtype
    top = 1.0 if np.dtype(dtype).kind == "f" else np.iinfo(dtype).max
    assert img.min() >= 0 and img.max() <= top
    if kind != "white":  # fBm is stretched to the whole range, per channel
        planes = img.reshape(40, 56, -1)
        assert (planes.min(axis=(0, 1)) == 0).all() and (planes.max(axis=(0, 1)) == top).all()


def test_white_noise_is_uniform_and_independent():
    w = noise_image(200, 200, kind="white", dtype=np.float32, seed=1).astype(np.float64)
    assert abs(w.mean() - 0.5) < 0.01 and abs(w.var() - 1 / 12) < 0.003  # uniform on [0, 1]
    assert abs(np.corrcoef(w[:, 1:].ravel(), w[:, :-1].ravel())[0, 1]) < 0.02
    counts = np.bincount(noise_image(200, 200, kind="white", seed=1).ravel(), minlength=256)
    chi2 = ((counts - counts.mean()) ** 2 / counts.mean()).sum()  # 255 degrees of freedom
    assert counts.size == 256 and chi2 < 255 + 5 * np.sqrt(2 * 255)  # every level, equally likely


def test_lattice_noise_is_smooth_at_its_scale():
    """Neighbouring pixels of Perlin or value noise with 32-pixel cells are strongly
    correlated, and the correlation has mostly gone at a distance of a cell or more."""
    for kind in ("perlin", "value"):
        n = noise_image(256, 256, kind=kind, scale=32, octaves=1, dtype=np.float32, seed=3).astype(np.float64)
        near = np.corrcoef(n[:, 1:].ravel(), n[:, :-1].ravel())[0, 1]
        far = np.corrcoef(n[:, 48:].ravel(), n[:, :-48].ravel())[0, 1]
        assert near > 0.98 and abs(far) < 0.3, (kind, near, far)


def _high_frequency_share(img: np.ndarray) -> float:
    """Energy of the neighbour differences relative to the variance (more fine detail: higher).

    With persistence 1/lacunarity (0.5 and 2) each octave's slope is as steep as the last's
    (amplitude and cell size both halve), so every octave adds about as much of this energy."""
    f = img.astype(np.float64)
    return float((np.diff(f, axis=1) ** 2).mean() / f.var())


@pytest.mark.parametrize("kind", ["perlin", "value"])
def test_more_octaves_add_fine_detail(kind):
    shares = [_high_frequency_share(noise_image(128, 128, kind=kind, scale=64, octaves=k, dtype=np.float32, seed=5))
              for k in (1, 3, 6)]
    assert shares[0] * 1.5 < shares[1] and shares[1] * 1.5 < shares[2], shares


def test_persistence_weights_the_fine_octaves():
    soft = noise_image(128, 128, scale=64, octaves=5, persistence=0.3, dtype=np.float32, seed=1)
    rough = noise_image(128, 128, scale=64, octaves=5, persistence=0.8, dtype=np.float32, seed=1)
    assert _high_frequency_share(rough) > 3 * _high_frequency_share(soft)


@pytest.mark.parametrize("kind", ["perlin", "value"])
def test_tileable_noise_wraps(kind):
    """Across the wrap-around edge a tileable image changes like between any neighbours; a
    plain one jumps (its opposite edges are unrelated)."""

    def ratio(img):
        f = img.astype(np.float64)
        wrap = np.abs(np.concatenate([f[:, 0] - f[:, -1], f[0] - f[-1]])).mean()
        inner = np.abs(np.concatenate([np.diff(f, axis=1).ravel(), np.diff(f, axis=0).ravel()])).mean()
        return wrap / inner

    tiled = ratio(noise_image(96, 120, kind=kind, scale=30, octaves=3, tileable=True, dtype=np.float32, seed=4))
    plain = ratio(noise_image(96, 120, kind=kind, scale=30, octaves=3, dtype=np.float32, seed=4))
    assert 0.5 < tiled < 1.5 and plain > 5, (tiled, plain)


def test_same_seed_same_image():
    a = noise_image(32, 48, kind="perlin", channels=3, seed=9)
    np.testing.assert_array_equal(a, noise_image(32, 48, kind="perlin", channels=3, seed=9))
    assert not np.array_equal(a, noise_image(32, 48, kind="perlin", channels=3, seed=10))
    assert not np.array_equal(a[..., 0], a[..., 1])  # independent channels


def test_fade_is_perlins_quintic():
    """Perlin 2002: fade(t) = 6t^5 - 15t^4 + 10t^3, so fade(0) = 0, fade(1/2) = 1/2, fade(1) = 1,
    with zero first and second derivatives at 0 and 1."""
    t = np.array([0.0, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(_fade(t), [0.0, 6 / 1024 - 15 / 256 + 10 / 64, 0.5, 1.0])
    h = 1e-4
    for end in (0.0, 1.0):
        slope = (_fade(np.array(end + h)) - _fade(np.array(end - h))) / (2 * h)
        assert abs(slope) < 1e-6


def test_one_pixel_is_mid_grey():
    assert noise_image(1, 1, kind="value", dtype=np.float32)[0, 0] == 0.5


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"kind": "pink"}, "kind must be one of perlin, value, white"),
        ({"height": 0}, "height must be an integer >= 1"),
        ({"width": 3.0}, "width must be an integer"),
        ({"octaves": 0}, "octaves must be an integer >= 1"),
        ({"octaves": 17}, "at most 16"),
        ({"scale": 0}, "scale must be a number > 0"),
        ({"persistence": 1.5}, r"persistence must be a number in \(0, 1\]"),
        ({"lacunarity": 1.0}, "lacunarity must be a number in"),
        ({"channels": 4}, "channels must be 1"),
        ({"dtype": np.int32}, "dtype must be uint8"),
        ({"max_pixels": 100}, "over the limit"),
    ],
)
def test_mistakes_are_one_clear_line(kwargs, needle):
    args = {"height": 16, "width": 16} | kwargs
    with pytest.raises(InvalidArgument, match=needle) as info:
        noise_image(args.pop("height"), args.pop("width"), **args)
    assert "\n" not in str(info.value)
