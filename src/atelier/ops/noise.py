"""Procedural noise images: white noise, value noise and Perlin gradient noise, as fractal sums.

:func:`noise_image` draws an image from nothing but a seed. White noise is i.i.d. uniform per
pixel. Value noise puts random values on a square lattice and interpolates them smoothly;
Perlin noise puts random gradients on the lattice (Perlin 2002, "Improving Noise": the quintic
fade ``6t^5 - 15t^4 + 10t^3`` and a fixed set of gradient directions). Both are summed over
octaves (fractional Brownian motion, fBm): octave k has lattice cells ``lacunarity**k`` times
smaller and weight ``persistence**k``. With ``tileable=True`` each lattice is periodic over the
image, so the image wraps around without a seam.

Not an op: there is no input image. The task ``noise`` and ``atelier noise`` call it.

Example
-------
>>> img = noise_image(64, 96, kind="perlin", scale=32, seed=1)
>>> img.shape, img.dtype, int(img.min()), int(img.max())
((64, 96), dtype('uint8'), 0, 255)
"""

from __future__ import annotations

import math

import numpy as np

from atelier.arrays import SUPPORTED_DTYPES, from_float, max_value
from atelier.errors import InvalidArgument
from atelier.image import DEFAULT_MAX_PIXELS

__all__ = ["NOISE_KINDS", "noise_image"]

NOISE_KINDS = ("perlin", "value", "white")
#: Rows of one strip of the lattice evaluation (keeps the temporaries small on large images).
_STRIP_PIXELS = 1 << 18
# Sixteen unit gradients 22.5 degrees apart, none along an axis: a fixed set of equal-length
# directions as in Perlin's improved noise (12 cube-edge directions in 3-D), which avoids the
# clumping of random gradients; more directions than 8 and the half-step rotation keep the
# axis-aligned streaks of the 2-D set (0, 45, 90, ... degrees) away.
_ANGLES = (np.arange(16) + 0.5) * (np.pi / 8)
_GRADIENTS = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1).astype(np.float32)


def _fade(t: np.ndarray) -> np.ndarray:
    """Perlin's quintic fade 6t^5 - 15t^4 + 10t^3 (zero first and second derivative at 0, 1)."""
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def _coordinates(length: int, cell: float, tileable: bool, rng: np.random.Generator):
    """Lattice coordinates of the pixels along one axis: the lattice indices of each pixel's two
    neighbouring lattice lines, its fraction between them, and the lattice's size.

    A random offset in [0, 1) cell keeps the octaves' lattices from lining up (where all of
    them meet, Perlin noise would be 0 in every octave). Tileable: the number of cells across
    is rounded to an integer (at least 1) and the indices wrap, so pixel ``length`` is pixel 0.
    """
    offset = rng.random()
    if tileable:
        cells = max(1, round(length / cell))
        x = np.arange(length) * (cells / length) + offset
        i0 = np.floor(x).astype(np.intp)
        return i0 % cells, (i0 + 1) % cells, (x - i0).astype(np.float32), cells
    x = np.arange(length) / cell + offset
    i0 = np.floor(x).astype(np.intp)
    return i0, i0 + 1, (x - i0).astype(np.float32), int(i0[-1]) + 2


def _octave(kind: str, height: int, width: int, cell: float, tileable: bool, rng: np.random.Generator,
            out: np.ndarray, weight: float) -> None:
    """Add ``weight`` times one octave of value or Perlin noise with ``cell``-pixel cells to ``out``."""
    y0, y1, fy, ny = _coordinates(height, cell, tileable, rng)
    x0, x1, fx, nx = _coordinates(width, cell, tileable, rng)
    if kind == "value":
        lattice = rng.random((ny, nx), dtype=np.float32) * 2.0 - 1.0
    else:
        lattice = rng.integers(0, len(_GRADIENTS), (ny, nx))
    u = _fade(fx)[None, :]
    rows = max(1, _STRIP_PIXELS // width)
    for start in range(0, height, rows):
        s = slice(start, start + rows)
        v = _fade(fy[s])[:, None]
        corners = []
        for yi, dy in ((y0[s], 0.0), (y1[s], 1.0)):
            for xi, dx in ((x0, 0.0), (x1, 1.0)):
                at = lattice[np.ix_(yi, xi)]
                if kind == "value":
                    corners.append(at)
                else:  # gradient . (offset of the pixel from the lattice point)
                    g = _GRADIENTS[at]
                    corners.append(g[..., 0] * (fx - dx)[None, :] + g[..., 1] * (fy[s] - dy)[:, None])
        top = corners[0] + u * (corners[1] - corners[0])
        bottom = corners[2] + u * (corners[3] - corners[2])
        out[s] += np.float32(weight) * (top + v * (bottom - top))


def _check(kind, height, width, scale, octaves, persistence, lacunarity, channels, seed, dtype, max_pixels):
    if kind not in NOISE_KINDS:
        raise InvalidArgument(f"kind must be one of {', '.join(NOISE_KINDS)}; got {kind!r}")
    for name, value, low in (("height", height, 1), ("width", width, 1), ("octaves", octaves, 1)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
            raise InvalidArgument(f"{name} must be an integer >= {low}, got {value!r}")
    if octaves > 16:
        raise InvalidArgument(f"octaves must be at most 16, got {octaves}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise InvalidArgument(f"seed must be an integer, got {seed!r}")
    for name, value, ok, rule in (
        ("scale", scale, lambda v: v > 0, "> 0"),
        ("persistence", persistence, lambda v: 0 < v <= 1, "in (0, 1]"),
        ("lacunarity", lacunarity, lambda v: 1 < v <= 16, "in (1, 16]"),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not (
            math.isfinite(value) and ok(value)
        ):
            raise InvalidArgument(f"{name} must be a number {rule}, got {value!r}")
    if channels not in (1, 3) or isinstance(channels, bool):
        raise InvalidArgument(f"channels must be 1 (grey) or 3 (colour), got {channels!r}")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.type not in SUPPORTED_DTYPES:
        raise InvalidArgument(f"dtype must be uint8, uint16, float32 or float64, got {dtype!r}")
    if height * width > max_pixels:
        raise InvalidArgument(
            f"the output {width}x{height} is {height * width / 1e6:.6g} megapixels, over the limit of "
            f"{max_pixels / 1e6:.6g}; ask for a smaller size"
        )
    return dt


def noise_image(
    height: int,
    width: int,
    *,
    kind: str = "perlin",
    scale: float = 64.0,
    octaves: int = 4,
    persistence: float = 0.5,
    lacunarity: float = 2.0,
    channels: int = 1,
    tileable: bool = False,
    seed: int = 0,
    dtype: np.dtype | type = np.uint8,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """A procedural noise image: white, value or Perlin noise, summed over octaves (fBm).

    ``perlin`` and ``value`` noise sum ``octaves`` lattice noises: octave k (from 0) has cells of
    ``scale / lacunarity**k`` pixels and weight ``persistence**k``; each channel is then
    stretched linearly to exactly [0, 1] (its minimum is 0 and its maximum 1). ``white`` noise is
    i.i.d. uniform on the dtype's whole range (``scale``, ``octaves``, ``persistence`` and
    ``lacunarity`` do not apply to it). Colour (``channels=3``) draws independent noise per
    channel.

    With ``tileable=True`` the number of lattice cells across each side is rounded to an
    integer (at least 1) per octave, so cells may be slightly off ``scale`` and differ between
    the axes, and the lattice wraps: ``np.tile`` of the result shows no seam.

    Parameters
    ----------
    height, width : int
        Size of the result, at most ``max_pixels`` pixels in all.
    kind : {"perlin", "value", "white"}
        Gradient noise (Perlin 2002), value noise (random lattice values, quintic
        interpolation) or white noise.
    scale : float > 0
        Side of the first octave's lattice cells in pixels: the size of the largest features.
    octaves : int in [1, 16]
        Number of octaves summed. Octaves with cells under 2 pixels add aliased, nearly white
        detail.
    persistence : float in (0, 1]
        Weight ratio of an octave to the previous one (0.5: each octave half as strong).
    lacunarity : float in (1, 16]
        Frequency ratio of an octave to the previous one.
    channels : {1, 3}
        ``H x W`` grey or ``H x W x 3`` colour.
    tileable : bool
        Wrap around without a seam.
    seed : int
        Seed of the lattices (the same seed gives the same image).
    dtype : uint8, uint16, float32 or float64
        dtype of the result (floats in [0, 1]).
    max_pixels : int
        Limit on ``height * width``.

    Returns
    -------
    ndarray
        ``height x width`` (``x 3`` for colour) of ``dtype``.

    Reference
    ---------
    K. Perlin, "Improving Noise", ACM Transactions on Graphics 21(3) (SIGGRAPH 2002),
    pp. 681-682; K. Perlin, "An Image Synthesizer", SIGGRAPH 1985 (fBm sums of octaves).

    Example
    -------
    >>> import numpy as np
    >>> tile = noise_image(32, 32, kind="value", scale=8, tileable=True, dtype=np.float32)
    >>> float(tile.min()), float(tile.max())
    (0.0, 1.0)
    """
    dt = _check(kind, height, width, scale, octaves, persistence, lacunarity, channels, seed, dtype, max_pixels)
    height, width, channels = int(height), int(width), int(channels)
    rng = np.random.default_rng(int(seed))
    shape = (height, width) if channels == 1 else (height, width, channels)
    if kind == "white":
        if dt.kind == "f":
            return rng.random(shape, dtype=np.float64).astype(dt)
        return rng.integers(0, int(max_value(dt)), shape, dtype=dt, endpoint=True)
    planes = np.zeros((channels, height, width), np.float32)
    for plane in planes:
        for k in range(int(octaves)):
            _octave(kind, height, width, float(scale) / float(lacunarity) ** k, bool(tileable), rng,
                    plane, float(persistence) ** k)
        plane -= plane.min()
        top = plane.max()
        if top > 0:
            plane /= top  # exactly 1 at the maximum
        else:  # a constant (a 1-pixel image): mid-grey
            plane[...] = 0.5
    out = planes[0] if channels == 1 else np.ascontiguousarray(planes.transpose(1, 2, 0))
    return from_float(out, dt)
