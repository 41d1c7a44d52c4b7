"""Texture synthesis by image quilting, and texture mapping into a masked region of an image.

:func:`quilt` grows a texture of any size from a small sample (Efros & Freeman 2001): square
patches of the sample are laid in raster order with overlaps; each new patch is picked at
random among the sample's patches that match the overlap nearly as well as the best one, and
is cut along the minimum-error boundary through the overlap, so the seams follow the texture.
With ``tileable=True`` the output is a torus: the last row and column of patches also match
(and are cut against) the first, so copies of the result laid side by side (``np.tile``) show
no seam. :func:`texture_fill` fills the masked part of an image with texture quilted from a
sample and blends it into the surroundings.

Both are registered ops (category ``texture``): ``"quilt width=512 height=512"`` (the image
is the sample) and ``"texture_fill mask=m.png sample=grass.png"``.

Example
-------
>>> import numpy as np
>>> sample = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
>>> quilt(sample, 64, 96, seed=1).shape
(64, 96, 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

import cv2
import numpy as np

from atelier.arrays import check_image, from_float, merge_alpha, split_alpha, to_float
from atelier.errors import InvalidArgument
from atelier.image import DEFAULT_MAX_PIXELS
from atelier.ops.composite import mask_to_float, pyramid_blend
from atelier.ops.registry import Range, register

__all__ = ["quilt", "quilt_settings", "texture_fill"]

#: The default patch is a third of the sample's shorter side, at most this many pixels.
MAX_DEFAULT_PATCH = 64


# --------------------------------------------------------------------------- checks


def _int(value: object, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidArgument(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def _check_output_size(height: object, width: object, max_pixels: int) -> tuple[int, int]:
    height, width = _int(height, "height"), _int(width, "width")
    if height < 1 or width < 1:
        raise InvalidArgument(f"the output size must be at least 1x1 pixels, got {width}x{height} (width x height)")
    if height * width > max_pixels:
        raise InvalidArgument(
            f"the output {width}x{height} is {height * width / 1e6:.6g} megapixels, over the limit of "
            f"{max_pixels / 1e6:.6g}; ask for a smaller size"
        )
    return height, width


def quilt_settings(
    sample_shape: tuple[int, ...], patch: int | None = None, overlap: int | None = None
) -> tuple[int, int]:
    """The ``(patch, overlap)`` quilting uses for a sample of ``sample_shape``, checked.

    Defaults: the patch is a third of the sample's shorter side (at most
    ``MAX_DEFAULT_PATCH``), the overlap a quarter of the patch (at least 1). Efros & Freeman
    used a sixth; the wider overlap gives the boundary cut more room, which keeps the lines of
    structured textures (bricks) continuous at about 20 percent more patches. A patch must be
    3 pixels or more and fit in the sample; the overlap must be in ``[1, patch // 3]``.

    Example
    -------
    >>> quilt_settings((128, 200, 3))
    (42, 10)
    """
    short = min(int(sample_shape[0]), int(sample_shape[1]))
    size = f"{sample_shape[1]}x{sample_shape[0]}"
    if patch is None:
        if short < 3:
            raise InvalidArgument(f"the sample is {size} pixels; quilting needs a sample of at least 3x3")
        patch = min(MAX_DEFAULT_PATCH, max(3, short // 3))
    patch = _int(patch, "patch")
    if patch < 3:
        raise InvalidArgument(f"patch must be 3 pixels or more, got {patch}")
    if patch > short:
        raise InvalidArgument(
            f"the sample ({size} pixels) is smaller than the {patch}-pixel patch; give a larger sample or a "
            f"patch of at most {short}"
        )
    if overlap is None:
        overlap = max(1, patch // 4)
    overlap = _int(overlap, "overlap")
    if not 1 <= overlap <= patch // 3:
        raise InvalidArgument(
            f"overlap must be in [1, {patch // 3}] (1 to a third of the {patch}-pixel patch), got {overlap}"
        )
    return patch, overlap


# --------------------------------------------------------------------------- the layout


def _axis(length: int, patch: int, overlap: int, torus: bool) -> tuple[list[tuple[int, int]], int]:
    """Patches along one axis as ``(start, size)``, and the canvas length.

    On the plane the patches are ``patch`` long, ``patch - overlap`` apart, and the canvas
    (cropped at the end) may be longer than ``length``. On the torus the canvas is exactly
    ``length``: n >= 2 patches start at ``i * length // n`` and reach ``overlap`` pixels into
    the next one (the last into the first), so the steps differ by at most one pixel and a
    patch is at most ``patch`` long.
    """
    step = patch - overlap
    if torus:
        n = max(2, -(-length // step))
        if length // n < overlap:
            raise InvalidArgument(
                f"a tileable output needs at least {2 * overlap} pixels per side (twice the {overlap}-pixel "
                f"overlap), got {length}; ask for a larger size or a smaller overlap"
            )
        starts = [i * length // n for i in range(n + 1)]
        return [(starts[i], starts[i + 1] - starts[i] + overlap) for i in range(n)], length
    n = max(1, -(-(length - overlap) // step))
    return [(i * step, patch) for i in range(n)], (n - 1) * step + patch


def _min_cut(cost: np.ndarray) -> np.ndarray:
    """The minimum-cost path down ``cost`` (``L x O``): one column per row, moving at most one
    column from a row to the next (dynamic programming, Efros & Freeman section 2.1).

    Written here: OpenCV has no seam DP. The forward pass runs over the L rows, each row
    vectorised; the backtrack picks, row by row upwards, the cheapest of the three cells above.
    """
    length, width = cost.shape
    acc = np.empty((length, width))
    acc[0] = cost[0]
    padded = np.full(width + 2, np.inf)
    for r in range(1, length):
        padded[1:-1] = acc[r - 1]
        np.minimum(np.minimum(padded[:-2], padded[1:-1]), padded[2:], out=acc[r])
        acc[r] += cost[r]
    path = np.empty(length, np.intp)
    c = int(acc[-1].argmin())
    path[-1] = c
    for r in range(length - 2, -1, -1):
        lo = max(c - 1, 0)
        c = lo + int(acc[r, lo : c + 2].argmin())
        path[r] = c
    return path


def _new_pixels(err: np.ndarray, overlap: int, sides: dict[str, bool]) -> np.ndarray:
    """Which pixels of a new patch (``h x w``, per-pixel squared error ``err`` against the
    canvas) are kept: those on the patch's side of the minimum-error cut through each known
    overlap strip (top, left, and on a torus bottom, right). Where two strips meet (a corner)
    a pixel is new only if both cuts say so."""
    h, w = err.shape
    keep = np.ones((h, w), bool)
    o = np.arange(overlap)
    if sides["left"]:
        keep[:, :overlap] &= o[None, :] >= _min_cut(err[:, :overlap])[:, None]
    if sides["right"]:
        keep[:, w - overlap :] &= o[None, :] <= _min_cut(err[:, w - overlap :])[:, None]
    if sides["top"]:
        keep[:overlap, :] &= o[:, None] >= _min_cut(err[:overlap, :].T)[None, :]
    if sides["bottom"]:
        keep[h - overlap :, :] &= o[:, None] <= _min_cut(err[h - overlap :, :].T)[None, :]
    return keep


def _pick(
    planes: np.ndarray, squares: np.ndarray, template: np.ndarray, known: np.ndarray,
    tolerance: float, rng: np.random.Generator,
) -> tuple[int, int]:
    """Top-left corner in the sample of a patch whose SSD to ``template`` over the ``known``
    pixels is within ``(1 + tolerance)`` of the smallest, chosen at random among those.

    SSD(p) = sum K S_p^2 - 2 sum K T S_p + sum K T^2, both sums over every position p at once
    by OpenCV's matchTemplate (cross-correlation, through the DFT for large templates).
    """
    h, w = known.shape
    positions = (planes.shape[0] - h + 1, planes.shape[1] - w + 1)
    if not known.any():
        flat = int(rng.integers(positions[0] * positions[1]))
        return divmod(flat, positions[1])
    k = known.astype(np.float32)
    masked = template * k[..., None]
    cross = cv2.matchTemplate(planes, masked, cv2.TM_CCORR)
    energy = cv2.matchTemplate(squares, k, cv2.TM_CCORR)
    ssd = energy - 2.0 * cross + float((masked * template).sum())
    np.maximum(ssd, 0.0, out=ssd)
    best = float(ssd.min())
    slack = 1e-5 * float(k.sum()) * planes.shape[2]  # float32 rounding of the sums above
    candidates = np.flatnonzero(ssd.ravel() <= best * (1.0 + tolerance) + slack)
    flat = int(candidates[rng.integers(len(candidates))])
    return divmod(flat, positions[1])


def _quilt_indices(
    planes: np.ndarray, height: int, width: int, patch: int, overlap: int, tolerance: float,
    torus: bool, rng: np.random.Generator, progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Quilt ``planes`` (float32 ``h x w x C``) into an output of ``height x width``: return,
    per output pixel, the row and column of the sample pixel it copies."""
    rows, canvas_h = _axis(height, patch, overlap, torus)
    cols, canvas_w = _axis(width, patch, overlap, torus)
    squares = np.einsum("ijc,ijc->ij", planes, planes).astype(np.float32)
    canvas = np.zeros((canvas_h, canvas_w, planes.shape[2]), np.float32)
    src_y = np.zeros((canvas_h, canvas_w), np.int32)
    src_x = np.zeros((canvas_h, canvas_w), np.int32)
    if progress is not None:
        progress(0, len(rows))
    for i, (y0, h) in enumerate(rows):
        ys = (y0 + np.arange(h)) % canvas_h
        for j, (x0, w) in enumerate(cols):
            xs = (x0 + np.arange(w)) % canvas_w
            sides = {"top": i > 0, "left": j > 0,
                     "bottom": torus and i == len(rows) - 1, "right": torus and j == len(cols) - 1}
            known = np.zeros((h, w), bool)
            known[:overlap] |= sides["top"]
            known[:, :overlap] |= sides["left"]
            known[h - overlap :] |= sides["bottom"]
            known[:, w - overlap :] |= sides["right"]
            window = np.ix_(ys, xs)
            template = canvas[window]
            py, px = _pick(planes, squares, template, known, tolerance, rng)
            new = planes[py : py + h, px : px + w]
            if known.any():
                keep = _new_pixels(((new - template) ** 2).sum(axis=2), overlap, sides)
            else:
                keep = np.ones((h, w), bool)
            canvas[window] = np.where(keep[..., None], new, template)
            src_y[window] = np.where(keep, py + np.arange(h, dtype=np.int32)[:, None], src_y[window])
            src_x[window] = np.where(keep, px + np.arange(w, dtype=np.int32)[None, :], src_x[window])
        if progress is not None:
            progress(i + 1, len(rows))
    return src_y[:height, :width], src_x[:height, :width]


# --------------------------------------------------------------------------- quilting


def quilt(
    sample: np.ndarray,
    height: int,
    width: int,
    *,
    patch: int | None = None,
    overlap: int | None = None,
    tolerance: float = 0.1,
    tileable: bool = False,
    seed: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Synthesise a ``height x width`` texture from ``sample`` by image quilting.

    Square patches of the sample are laid in raster order, ``patch - overlap`` pixels apart.
    Each is chosen at random among the sample's patches whose sum of squared differences
    (SSD) to what is already there, over the overlap, is at most ``(1 + tolerance)`` times
    the smallest; then the minimum-error boundary cut (dynamic programming) through the
    vertical and horizontal overlaps decides which pixels it replaces (at a corner where both
    overlaps meet, a pixel is replaced only on the new patch's side of both cuts). Every
    output pixel is a copy of a sample pixel: the cuts are hard, as in the paper.

    With ``tileable=True`` the output is treated as a torus: the patches of the last row and
    column overlap the first ones (wrapped around), are matched against them and cut, so
    ``np.tile(result, (2, 2, 1))`` shows no seam. The patches are then spread evenly (steps
    differ by at most a pixel) so that they close up exactly.

    Colour, grey (``H x W`` or ``H x W x 1``) and RGBA samples keep their layout and dtype. An
    alpha channel is quilted with the colour, as a fourth channel that also takes part in the
    matching (so transparent areas of the sample stay coherent in the result).

    Parameters
    ----------
    sample : ndarray
        ``h x w`` or ``h x w x C`` (C = 1, 3, 4); uint8, uint16 or float in [0, 1].
    height, width : int
        Size of the result, at least 1, at most ``max_pixels`` pixels in all.
    patch : int, optional
        Side of the square patches, 3 to the sample's shorter side. Default: a third of the
        shorter side, at most 64 (see :func:`quilt_settings`). Larger patches keep larger
        structures; smaller ones give more variety.
    overlap : int, optional
        Width of the overlaps, 1 to ``patch // 3``; default ``patch // 4`` (at least 1).
    tolerance : float
        Candidates within ``(1 + tolerance)`` of the best match are equally likely (the paper's
        0.1); 0 keeps only the best match (and its exact ties).
    tileable : bool
        Make the result wrap around (a seamless tile); needs sides of ``2 * overlap`` or more.
    seed : int
        Seed of the random choices: the same seed gives the same texture.
    max_pixels : int
        Limit on ``height * width``.
    progress : callable, optional
        ``progress(done, total)`` before the first row of patches and after each row.

    Returns
    -------
    ndarray
        ``height x width`` (x C, the sample's layout), the sample's dtype.

    Raises
    ------
    InvalidArgument
        A size below 1 or over ``max_pixels``, a sample smaller than the patch, a patch or an
        overlap out of range, a tileable output too small for its overlap.

    Reference
    ---------
    A. A. Efros and W. T. Freeman, "Image Quilting for Texture Synthesis and Transfer",
    SIGGRAPH 2001, pp. 341-346.

    Example
    -------
    >>> import numpy as np
    >>> sample = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    >>> tile = quilt(sample, 80, 80, patch=16, tileable=True, seed=2)
    >>> tile.shape, tile.dtype
    ((80, 80, 3), dtype('uint8'))
    >>> bool(np.isin(tile[..., 0], sample[..., 0]).all())  # every pixel comes from the sample
    True
    """
    sample = check_image(sample, "sample")
    height, width = _check_output_size(height, width, max_pixels)
    patch, overlap = quilt_settings(sample.shape, patch, overlap)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.number)) or not (
        math.isfinite(tolerance) and tolerance >= 0
    ):
        raise InvalidArgument(f"tolerance must be a number >= 0, got {tolerance!r}")
    seed = _int(seed, "seed")
    planes = to_float(sample)
    if planes.ndim == 2:
        planes = planes[..., None]
    planes = np.ascontiguousarray(planes, np.float32)
    rng = np.random.default_rng(seed)
    src_y, src_x = _quilt_indices(planes, height, width, patch, overlap, float(tolerance), bool(tileable),
                                  rng, progress)
    return sample[src_y, src_x]


@register("quilt", category="texture")
def quilt_op(
    image: np.ndarray,
    width: Annotated[int, Range(1, 1 << 16), "width of the result in pixels"],
    height: Annotated[int, Range(1, 1 << 16), "height of the result in pixels"],
    patch: Annotated[int | None, Range(3, 4096), "side of the square patches (default: a third of the "
                                                 "image's shorter side, at most 64)"] = None,
    overlap: Annotated[int | None, Range(1, 1365), "overlap of the patches (default: a quarter of the patch)"] = None,
    tolerance: Annotated[float, Range(0, 10), "pick among matches within (1 + tolerance) of the best"] = 0.1,
    tileable: Annotated[bool, "wrap around: a seamless tile"] = False,
    seed: Annotated[int, "seed of the random choices"] = 0,
) -> np.ndarray:
    """Grow a width x height texture from the image by image quilting (Efros & Freeman 2001).

    The image is the texture sample; see :func:`quilt`.

    Example
    -------
    >>> import numpy as np
    >>> from atelier.ops import get_op
    >>> sample = np.random.default_rng(0).integers(0, 256, (30, 30), dtype=np.uint8)
    >>> get_op("quilt")(sample, width=50, height=40).shape
    (40, 50)
    """
    return quilt(image, height, width, patch=patch, overlap=overlap, tolerance=tolerance,
                 tileable=tileable, seed=seed)


# --------------------------------------------------------------------------- texture mapping


def _sample_like(sample: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The sample's colour in the layout (grey ``H x W`` or RGB) and dtype of ``base`` (an image
    without alpha): its alpha is dropped, grey is repeated, colour is made grey (OpenCV's
    RGB2GRAY weights)."""
    colour, _ = split_alpha(sample)
    if colour.ndim == 3 and colour.shape[2] == 1:
        colour = colour[..., 0]
    want_grey = base.ndim == 2 or base.shape[2] == 1
    if want_grey and colour.ndim == 3:
        colour = cv2.cvtColor(to_float(colour), cv2.COLOR_RGB2GRAY)
    elif not want_grey and colour.ndim == 2:
        colour = np.repeat(colour[..., None], 3, axis=2)
    if colour.dtype != base.dtype:
        colour = from_float(to_float(colour), base.dtype)
    out = colour
    return out[..., None] if base.ndim == 3 and base.shape[2] == 1 else out


def _feather_weight(region: np.ndarray, feather: int) -> np.ndarray:
    """float32 weight of the texture: 1 on ``region``, falling smoothly (smoothstep of the
    distance) to 0 at ``feather + 1`` pixels outside it."""
    if feather == 0:
        return region.astype(np.float32)
    outside = np.ascontiguousarray(~region, dtype=np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    t = np.clip(1.0 - distance / np.float32(feather + 1), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


@register("texture_fill", category="texture")
def texture_fill(
    image: np.ndarray,
    mask: Annotated[np.ndarray, "white where to fill (the image's size)"],
    sample: Annotated[np.ndarray, "texture sample the fill is quilted from"],
    *,
    feather: Annotated[int, Range(0, 256), "width in pixels of the soft transition around the mask"] = 8,
    patch: Annotated[int | None, Range(3, 4096), "quilting patch (default: a third of the sample's "
                                                 "shorter side, at most 64)"] = None,
    overlap: Annotated[int | None, Range(1, 1365), "quilting overlap (default: a quarter of the patch)"] = None,
    seed: Annotated[int, "seed of the quilting"] = 0,
) -> np.ndarray:
    """Fill the masked region of the image with texture quilted from a sample, blended at the edge.

    A texture the size of the region's bounding box (plus the feather) is quilted from
    ``sample`` (:func:`quilt`) and laid over the region with a weight that is 1 on the mask and
    falls smoothly to 0 over ``feather`` pixels outside it. The two are mixed by Laplacian
    pyramid blending (:func:`atelier.ops.composite.pyramid_blend`, with about
    ``log2(feather)`` levels) so that coarse structure meets over the whole band and fine
    detail over a narrow one. Pixels farther than ``feather`` from the mask are returned
    bit-identical; inside the mask the texture is untouched but for a low-frequency
    transition within a few pixels of its edge.

    The mask is read like the compositing masks (grey or one per channel, any dtype; white =
    fill); pixels of weight 0.5 or more (any channel) are filled. The sample may have any size
    of at least the patch and any layout: it is brought to the image's layout (grey <-> RGB)
    and dtype, and its alpha is dropped. An alpha channel of the image is kept unchanged.

    Parameters
    ----------
    image : ndarray
        ``H x W`` or ``H x W x C`` (C = 1, 3, 4), uint8, uint16 or float in [0, 1].
    mask : ndarray
        ``H x W`` (or ``H x W x 1``, or one per channel); white where to fill.
    sample : ndarray
        The texture, ``h x w [x C]``, at least ``patch`` pixels on each side.
    feather : int in [0, 256]
        Width of the transition outside the mask (0: a hard edge).
    patch, overlap : int, optional
        Quilting settings (see :func:`quilt`).
    seed : int
        Seed of the quilting.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``.

    Reference
    ---------
    A. A. Efros and W. T. Freeman, "Image Quilting for Texture Synthesis and Transfer",
    SIGGRAPH 2001; P. J. Burt and E. H. Adelson, "A multiresolution spline with application to
    image mosaics", ACM Transactions on Graphics 2(4), 1983.

    Example
    -------
    >>> import numpy as np
    >>> image = np.zeros((60, 80, 3), np.uint8)
    >>> mask = np.zeros((60, 80), np.uint8); mask[20:40, 30:60] = 255
    >>> sample = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    >>> out = texture_fill(image, mask, sample, feather=4)
    >>> out.shape, int(out[:10].max()), bool(np.isin(out[25, 40], sample).all())
    ((60, 80, 3), 0, True)
    """
    weights = mask_to_float(mask, image.shape)
    region = (weights.max(axis=2) if weights.ndim == 3 else weights) >= 0.5
    if not region.any():
        raise InvalidArgument("the mask is empty (no pixel of weight 0.5 or more): nothing to fill; paint the "
                              "region to fill white")
    base, alpha = split_alpha(image)
    texture_sample = _sample_like(check_image(sample, "sample"), base)
    levels = 1 if feather < 2 else min(6, 1 + int(math.log2(feather)))
    ys, xs = np.nonzero(region)
    margin = feather + (1 << levels)
    y0, y1 = max(0, int(ys.min()) - margin), min(image.shape[0], int(ys.max()) + 1 + margin)
    x0, x1 = max(0, int(xs.min()) - margin), min(image.shape[1], int(xs.max()) + 1 + margin)
    texture = quilt(texture_sample, y1 - y0, x1 - x0, patch=patch, overlap=overlap, seed=seed)

    box = (slice(y0, y1), slice(x0, x1))
    inside, weight = region[box], _feather_weight(region, feather)[box]
    under = base[box].copy()
    under[inside] = texture[inside]  # the region's old content must not leak into the blend
    blended = pyramid_blend(under, texture, weight, levels=levels) if feather else under
    untouched = weight == 0
    blended[untouched] = base[box][untouched]
    out = base.copy()
    out[box] = blended
    return merge_alpha(out, alpha)
