"""Compositing: mix images with a constant or a mask, blend several, pyramid and Poisson blending.

The first argument of every op is the base (background) image; the other images are parameters
and must have the base's size (run the ``resize`` op first when they do not). They are brought
to the base's dtype, and a grey image meeting a colour one is promoted to RGB, so the result has
the base's dtype (and its layout, unless promotion made it colour).

Masks are grey (``H x W`` or ``H x W x 1``) or per channel, of any supported dtype, and are read
as weights in [0, 1]: 255 (uint8), 65535 (uint16) or 1.0 (float) is white.

Example
-------
>>> import numpy as np
>>> base = np.zeros((4, 4, 3), np.uint8)
>>> top = np.full((4, 4, 3), 200, np.uint8)
>>> alpha_blend(base, top, alpha=0.25)[0, 0]
array([50, 50, 50], dtype=uint8)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

import cv2
import numpy as np

from atelier.errors import InvalidArgument
from atelier.arrays import (
    from_float,
    max_value,
    merge_alpha,
    split_alpha,
    to_float,
    to_uint8,
)
from atelier.ops.registry import Range, register

__all__ = ["alpha_blend", "blend", "mask_to_float", "pyramid_blend", "seamless_clone"]

_CV_DEPTH = {
    np.dtype(np.uint8): cv2.CV_8U,
    np.dtype(np.uint16): cv2.CV_16U,
    np.dtype(np.float32): cv2.CV_32F,
    np.dtype(np.float64): cv2.CV_64F,
}
# Ops that need float temporaries work on strips of rows of about this many pixels, so that the
# temporaries stay in the CPU cache (a 2048x2048 RGB float32 temporary is 48 MB; a strip's 3).
_STRIP_PIXELS = 1 << 18


# --------------------------------------------------------------------------- helpers


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else image.shape[2]


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"


def _check_size(image: np.ndarray, other: np.ndarray, name: str) -> None:
    if other.shape[:2] != image.shape[:2]:
        raise InvalidArgument(
            f"{name} is {_size(other)} but the image is {_size(image)} (width x height); "
            f"they must have the same size: resize one first (op `resize`)"
        )


def _to_dtype(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``image`` converted to ``dtype`` (full range kept: uint8 255 -> uint16 65535 -> 1.0)."""
    return image if image.dtype == dtype else from_float(to_float(image), dtype)


def _promote(image: np.ndarray, channels: int) -> np.ndarray:
    """Grey -> RGB (repeated), RGB -> RGBA (opaque); grey comes back as ``H x W``."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    have = _channels(image)
    if have == channels or channels == 1:
        return image
    if have == 1:
        image = np.repeat(image[..., None], 3, axis=2)
    if channels == 4 and image.shape[2] == 3:
        opaque = np.full(image.shape[:2] + (1,), max_value(image.dtype), image.dtype)
        image = np.concatenate([image, opaque], axis=2)
    return image


def _like(result: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Give a grey result the base's grey layout (``H x W`` or ``H x W x 1``)."""
    if result.ndim == 2 and image.ndim == 3:
        return result[..., None]
    return result


def _clip_float(result: np.ndarray) -> np.ndarray:
    """Clip float results to [0, 1] in place (integer results are already saturated)."""
    if result.dtype.kind == "f":
        np.clip(result, 0.0, 1.0, out=result)
    return result


def _row_strips(image: np.ndarray) -> Iterator[slice]:
    """Slices of consecutive rows of ``image``, about ``_STRIP_PIXELS`` pixels each."""
    rows = max(1, _STRIP_PIXELS // image.shape[1])
    return (slice(y, y + rows) for y in range(0, image.shape[0], rows))


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float values in the units of ``dtype`` (0..255, 0..65535 or 0..1) -> ``dtype``, in place."""
    if dtype.kind == "f":
        return np.clip(values, 0.0, 1.0, out=values).astype(dtype, copy=False)
    np.rint(values, out=values)
    return np.clip(values, 0, max_value(dtype), out=values).astype(dtype)


def mask_to_float(mask: np.ndarray, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    """Read a mask as float32 weights in [0, 1] for an image of ``shape``.

    Parameters
    ----------
    mask : ndarray
        ``H x W`` or ``H x W x 1`` (one weight per pixel) or ``H x W x C`` (one per channel, C
        equal to the image's channel count); uint8, uint16 or float in [0, 1].
    shape : tuple of int
        Shape of the image the mask applies to.
    name : str
        How error messages call the mask.

    Returns
    -------
    ndarray
        float32, ``H x W`` for a one-channel mask, else ``H x W x C``. It may share memory with
        ``mask`` (float32 input): do not modify it in place.

    Example
    -------
    >>> import numpy as np
    >>> mask_to_float(np.array([[0, 255]], np.uint8), (1, 2, 3))
    array([[0., 1.]], dtype=float32)
    """
    _check_mask(mask, shape, name)
    if _channels(mask) == 1:
        return to_float(mask.reshape(mask.shape[:2]))
    return to_float(mask)


def _check_mask(mask: np.ndarray, shape: tuple[int, ...], name: str = "mask") -> None:
    """Raise InvalidArgument unless ``mask`` fits an image of ``shape`` (see mask_to_float)."""
    if tuple(mask.shape[:2]) != tuple(shape[:2]):
        raise InvalidArgument(
            f"{name} is {_size(mask)} but the image is {shape[1]}x{shape[0]} (width x height); "
            f"they must have the same size: resize the mask first (op `resize`)"
        )
    have, want = _channels(mask), (1 if len(shape) == 2 else shape[2])
    if have not in (1, want):
        raise InvalidArgument(
            f"{name} has {have} channels but the image has {want}; give a grey mask "
            f"(one channel) or one with {want} channels"
        )


def _mix(base: np.ndarray, other: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``base * (1 - w) + other * w`` in float (this form keeps w = 0 and w = 1 exact).

    Computed in place: ``base`` and ``other`` must be temporaries; the result is ``base``.
    """
    if weight.ndim == 2 and base.ndim == 3:
        weight = weight[..., None]
    base *= 1 - weight
    other *= weight
    base += other
    return base


def _band(pyramid: list[np.ndarray], k: int) -> np.ndarray:
    """Level ``k`` of the Laplacian pyramid: Gaussian level ``k`` minus level ``k + 1`` upsampled
    (a new array)."""
    size = (pyramid[k].shape[1], pyramid[k].shape[0])
    up = cv2.pyrUp(pyramid[k + 1], dstsize=size)
    return np.subtract(pyramid[k], up, out=up)


def _mask_mix(
    base: np.ndarray,
    top: np.ndarray,
    mask: np.ndarray | None,
    top_alpha: np.ndarray | None,
    alpha: float | None,
    out: np.ndarray,
) -> None:
    """alpha_blend's mix of ``top`` over ``base`` into ``out``, with the weight
    ``alpha * mask * top_alpha`` (at least one of mask and top_alpha given)."""
    weight = None if mask is None else mask_to_float(mask, base.shape)
    if top_alpha is not None:
        top_a = to_float(top_alpha)
        if weight is None:
            weight = top_a
        else:
            weight = weight * (top_a if weight.ndim == 2 else top_a[..., None])
    if alpha is not None and alpha != 1.0:
        weight = weight * np.float32(alpha)
    if base.dtype == np.uint8 and weight.ndim == 2:
        # cv2.blendLinear: (b*w1 + o*w2) / (w1 + w2 + 1e-5), rounded; 7x faster than numpy.
        cv2.blendLinear(base, top, 1.0 - weight, weight, dst=out)
    else:
        wt = np.float64 if base.dtype == np.float64 else np.float32
        out[...] = _cast(_mix(base.astype(wt), top.astype(wt), weight), base.dtype)


# --------------------------------------------------------------------------- ops


@register("alpha_blend", category="composite")
def alpha_blend(
    image: np.ndarray,
    overlay: Annotated[np.ndarray, "image painted over the base (same size)"],
    mask: Annotated[
        np.ndarray | None, "overlay weight per pixel: white = overlay, black = base"
    ] = None,
    alpha: Annotated[
        float | None,
        Range(0, 1),
        "overlay opacity; default 0.5, or 1 when a mask or the overlay's alpha is used",
    ] = None,
) -> np.ndarray:
    """Paint an overlay over the image with a constant opacity or a mask: base*(1-a) + overlay*a.

    The weight ``a`` of the overlay is ``alpha * m``, where ``m`` is the mask if one is given,
    times the overlay's alpha channel if it has one (so an RGBA sticker lands with its own
    transparency); with neither, ``m`` is 1. ``alpha`` defaults to 0.5 for a plain constant blend
    and to 1 when a mask or the overlay's alpha is present, so the mask is used as given.

    Only colour channels are mixed: the base's alpha channel, if any, is kept unchanged. The
    overlay is converted to the base's dtype; a grey base or overlay meeting a colour one (or an
    RGB mask) is promoted to RGB.

    Parameters
    ----------
    image : ndarray
        Base, ``H x W`` or ``H x W x C`` (C = 1, 3, 4), uint8, uint16 or float in [0, 1].
    overlay : ndarray
        Image of the same size, any layout and supported dtype.
    mask : ndarray, optional
        Weights of the overlay, ``H x W`` (or ``H x W x 1``), or ``H x W x 3`` per RGB channel.
    alpha : float in [0, 1], optional
        Opacity of the overlay (see above for the default).

    Returns
    -------
    ndarray
        Same size and dtype as ``image``; same layout, or RGB(A) if grey was promoted.

    Example
    -------
    >>> import numpy as np
    >>> base = np.zeros((2, 2), np.uint8); top = np.full((2, 2), 200, np.uint8)
    >>> alpha_blend(base, top, mask=np.array([[0, 255], [255, 0]], np.uint8))
    array([[  0, 200],
           [200,   0]], dtype=uint8)
    """
    _check_size(image, overlay, "overlay")
    base, base_alpha = split_alpha(image)
    top, top_alpha = split_alpha(_to_dtype(overlay, image.dtype))
    channels = max(_channels(base), _channels(top))
    if mask is not None and channels == 1 and _channels(mask) == 3:
        channels = 3
    base, top = _promote(base, channels), _promote(top, channels)

    if mask is None and top_alpha is None:
        a = 0.5 if alpha is None else alpha
        # OpenCV does the whole blend in one pass, on every dtype, rounding and saturating.
        out = _clip_float(cv2.addWeighted(base, 1.0 - a, top, a, 0.0))
    else:
        if mask is not None:
            _check_mask(mask, base.shape)
        out = np.empty(base.shape, base.dtype)
        for rows in _row_strips(base):  # strip by strip: the float weights stay in the cache
            _mask_mix(
                base[rows],
                top[rows],
                None if mask is None else mask[rows],
                None if top_alpha is None else top_alpha[rows],
                alpha,
                out[rows],
            )
    return _like(merge_alpha(out, base_alpha), image)


@register("blend", category="composite")
def blend(
    image: np.ndarray,
    images: Annotated[tuple[np.ndarray, ...], "images blended with the base (same size)"],
    weights: Annotated[
        tuple[float, ...] | None, "one weight per image, the base's first; default equal"
    ] = None,
    normalize: Annotated[bool, "divide the weights by their sum"] = True,
) -> np.ndarray:
    """Weighted per-pixel blend of the image and N more: sum(w_i * image_i) (/ sum(w_i)).

    All images are converted to the base's dtype and to the richest layout among them (grey ->
    RGB -> RGBA with opaque alpha); every channel, alpha included, is blended. Integer results
    are rounded and saturated, float results clipped to [0, 1].

    Parameters
    ----------
    image : ndarray
        Base, ``H x W`` or ``H x W x C``, uint8, uint16 or float in [0, 1].
    images : tuple of ndarray
        N >= 1 images of the same size.
    weights : tuple of float, optional
        N + 1 weights, the base's first. Default: all equal (a plain average).
    normalize : bool
        Divide the weights by their sum (which must then not be 0).

    Returns
    -------
    ndarray
        Same size and dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> a = np.zeros((2, 2), np.uint8)
    >>> blend(a, (np.full((2, 2), 90, np.uint8), np.full((2, 2), 180, np.uint8)))[0, 0]
    np.uint8(90)
    """
    for i, other in enumerate(images):
        _check_size(image, other, f"images[{i}]")
    channels = max(_channels(im) for im in (image, *images))
    stack = [_promote(_to_dtype(im, image.dtype), channels) for im in (image, *images)]
    if weights is None:
        weights = (1.0,) * len(stack)
    if len(weights) != len(stack):
        raise InvalidArgument(
            f"weights has {len(weights)} values but there are {len(stack)} images (the base "
            f"and {len(images)} more); give one weight per image, the base's first"
        )
    w = [float(v) for v in weights]
    if normalize:
        total = sum(w)
        if abs(total) < 1e-12:
            raise InvalidArgument(
                "weights sum to 0, so they cannot be normalized; change them or set "
                "normalize=false"
            )
        w = [v / total for v in w]

    # OpenCV's addWeighted rounds/saturates into the dtype: exact in one call for two images.
    if len(stack) == 2:
        return _like(_clip_float(cv2.addWeighted(stack[0], w[0], stack[1], w[1], 0.0)), image)
    # More images: accumulate in float, strip by strip so that the accumulator stays in the
    # cache, and round/saturate into the dtype with the last image.
    acc_depth = cv2.CV_64F if image.dtype == np.float64 else cv2.CV_32F
    out = np.empty(stack[0].shape, image.dtype)
    for rows in _row_strips(out):
        acc = cv2.addWeighted(stack[0][rows], w[0], stack[1][rows], w[1], 0.0, dtype=acc_depth)
        for im, wi in zip(stack[2:-1], w[2:-1]):
            cv2.addWeighted(acc, 1.0, im[rows], wi, 0.0, dst=acc, dtype=acc_depth)
        cv2.addWeighted(
            acc, 1.0, stack[-1][rows], w[-1], 0.0, dst=out[rows], dtype=_CV_DEPTH[image.dtype]
        )
    return _like(_clip_float(out), image)


@register("pyramid_blend", category="composite")
def pyramid_blend(
    image: np.ndarray,
    other: Annotated[np.ndarray, "image blended in where the mask is white (same size)"],
    mask: Annotated[np.ndarray, "white = other, black = image; grey levels mix the two"],
    levels: Annotated[int, Range(1, 10), "pyramid levels (1 = plain mask blend)"] = 5,
) -> np.ndarray:
    """Blend two images along a mask with Laplacian pyramids, so the seam is soft at every scale.

    Each band of the Laplacian pyramids of ``image`` and ``other`` is mixed with the matching
    level of the mask's Gaussian pyramid, and the result is collapsed again (Burt & Adelson).
    White in the mask selects ``other``, black keeps ``image``. Sizes need not be powers of two.
    Once the coarsest level is 1 x 1 pixel, further levels would change nothing and are not
    built. All channels (alpha included) are blended; ``other`` is converted to the image's
    dtype, and grey meeting colour is promoted (grey -> RGB -> RGBA with opaque alpha). The
    pyramids are built by OpenCV (pyrDown/pyrUp) in float32; only the per-band mix and the
    collapse are written here, as OpenCV has no pyramid blending.

    Parameters
    ----------
    image : ndarray
        Base, ``H x W`` or ``H x W x C``, uint8, uint16 or float in [0, 1].
    other : ndarray
        Image of the same size.
    mask : ndarray
        ``H x W`` (or ``H x W x 1``) weights of ``other``, or one per channel.
    levels : int in [1, 10]
        Number of pyramid levels; 1 is a plain per-pixel mask blend.

    Returns
    -------
    ndarray
        Same size and dtype as ``image``.

    Reference
    ---------
    P. J. Burt and E. H. Adelson, "A multiresolution spline with application to image
    mosaics", ACM Transactions on Graphics 2(4), 1983.

    Example
    -------
    >>> import numpy as np
    >>> a = np.zeros((20, 30, 3), np.uint8); b = np.full((20, 30, 3), 255, np.uint8)
    >>> mask = np.zeros((20, 30), np.uint8); mask[:, 15:] = 255
    >>> out = pyramid_blend(a, b, mask, levels=3)
    >>> int(out[10, 0, 0]), int(out[10, 29, 0])
    (0, 255)
    """
    _check_size(image, other, "other")
    _check_size(image, mask, "mask")
    channels = max(_channels(image), _channels(other))
    if channels == 1 and _channels(mask) == 3:
        channels = 3
    a = to_float(_promote(image, channels))
    b = to_float(_promote(_to_dtype(other, image.dtype), channels))
    m = mask_to_float(mask, a.shape)

    ga, gb, gm = [a], [b], [m]
    for _ in range(levels - 1):
        if ga[-1].shape[:2] == (1, 1):
            break
        ga.append(cv2.pyrDown(ga[-1]))
        gb.append(cv2.pyrDown(gb[-1]))
        gm.append(cv2.pyrDown(gm[-1]))

    # The coarsest level is its own band (copied: _mix works in place, and ga[0] may be the
    # caller's image).
    out = _mix(ga[-1].copy(), gb[-1].copy(), gm[-1])
    for k in range(len(ga) - 2, -1, -1):
        out = cv2.pyrUp(out, dstsize=(ga[k].shape[1], ga[k].shape[0]))
        out += _mix(_band(ga, k), _band(gb, k), gm[k])
    if image.dtype == np.uint8:
        # As from_float (checked on every float32 in [0, 1]) in two passes instead of five:
        # convertScaleAbs scales, rounds half to even and saturates (no negatives are left).
        return _like(cv2.convertScaleAbs(np.clip(out, 0.0, 1.0, out=out), alpha=255), image)
    return _like(from_float(out, image.dtype), image)


def _region(mask: np.ndarray) -> np.ndarray:
    """Binary uint8 0/255 mask (non-zero pixels selected) with OpenCV's ignored 1-pixel border
    cleared. Always a new array: OpenCV 5.0's seamlessClone erodes the mask it is given in place,
    so the caller's mask must never reach it."""
    if _channels(mask) == 4:
        raise InvalidArgument(
            "mask has 4 channels (RGBA); give a grey mask (or RGB) whose non-zero pixels mark "
            "the region to clone"
        )
    if mask.dtype == np.uint8 and _channels(mask) == 1:
        region = cv2.threshold(mask.reshape(mask.shape[:2]), 0, 255, cv2.THRESH_BINARY)[1]
    else:
        selected = mask != 0
        if selected.ndim == 3:
            selected = selected.any(axis=2)
        region = selected.astype(np.uint8)
        region *= 255
    region[0, :] = region[-1, :] = 0
    region[:, 0] = region[:, -1] = 0
    return region


def _three_channels(image: np.ndarray) -> np.ndarray:
    """uint8 3-channel contiguous copy (or the array itself) for seamlessClone."""
    image = to_uint8(image)
    if _channels(image) == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(image)


@register("seamless_clone", category="composite")
def seamless_clone(
    image: np.ndarray,
    source: Annotated[np.ndarray, "image to copy a region from"],
    mask: Annotated[np.ndarray, "region of source to clone: its non-zero pixels (source's size)"],
    center: Annotated[
        tuple[int, int] | None,
        "x,y in the image where the centre of the mask's bounding box lands; default the middle",
    ] = None,
    mode: Annotated[
        Literal["normal", "mixed"],
        "normal: source gradients; mixed: the stronger of source and image gradients",
    ] = "normal",
) -> np.ndarray:
    """Paste a masked region of another image so that it blends in (Poisson image editing).

    OpenCV's ``seamlessClone`` solves a Poisson equation so the pasted region keeps the
    gradients of ``source`` (``normal``) or, per pixel, the stronger of the source and image
    gradients (``mixed``, which keeps the image's texture through flat source areas) while
    matching the image along the region's border. The mask's non-zero pixels select the region;
    as in OpenCV its outermost 1-pixel border is ignored, and the centre of its bounding box
    (w x h) is placed at ``center``, so the box ``x - w//2 .. x - w//2 + w - 1`` (likewise for y)
    must lie inside the image.

    OpenCV works on 8-bit, 3-channel data: uint16 and float images are cloned through uint8 and
    only the pasted rectangle is written back (quantized to 256 levels); the rest of the image
    is untouched. Grey inputs go through 3 channels (a grey image meeting a colour source gives
    RGB). The image's alpha channel is kept; the source's alpha is ignored (the mask decides).

    Parameters
    ----------
    image : ndarray
        Destination, ``H x W`` or ``H x W x C``, uint8, uint16 or float in [0, 1].
    source : ndarray
        Image to clone from, any size and supported layout/dtype.
    mask : ndarray
        Same size as ``source``; grey (or RGB: non-zero in any channel), any dtype.
    center : (int, int), optional
        ``x, y`` in ``image``; default ``(W // 2, H // 2)``.
    mode : {"normal", "mixed"}
        OpenCV's NORMAL_CLONE or MIXED_CLONE.

    Returns
    -------
    ndarray
        Same size and dtype as ``image``.

    Reference
    ---------
    P. Pérez, M. Gangnet and A. Blake, "Poisson image editing", ACM SIGGRAPH 2003.

    Example
    -------
    >>> import numpy as np
    >>> base = np.full((40, 50, 3), 30, np.uint8); src = np.full((20, 20, 3), 220, np.uint8)
    >>> mask = np.zeros((20, 20), np.uint8); mask[5:15, 5:15] = 255
    >>> seamless_clone(base, src, mask).shape
    (40, 50, 3)
    """
    if mask.shape[:2] != source.shape[:2]:
        raise InvalidArgument(
            f"mask is {_size(mask)} but source is {_size(source)} (width x height); the mask "
            f"marks pixels of source and must have its size"
        )
    region = _region(mask)
    sx, sy, w, h = cv2.boundingRect(region)
    if w == 0 or h == 0:
        raise InvalidArgument(
            "mask selects no pixels of source (it is all zero, or only its outermost 1-pixel "
            "border is set, which is ignored); mark the region to clone with non-zero pixels"
        )
    height, width = image.shape[:2]
    cx, cy = (width // 2, height // 2) if center is None else center
    x0, y0 = cx - w // 2, cy - h // 2
    if w > width or h > height:
        raise InvalidArgument(
            f"the mask's region ({w}x{h} pixels) is larger than the {width}x{height} image; "
            f"crop the mask or shrink source (op `resize`)"
        )
    if x0 < 0 or y0 < 0 or x0 + w > width or y0 + h > height:
        raise InvalidArgument(
            f"the mask's region ({w}x{h} pixels) centred at ({cx}, {cy}) would cover x "
            f"{x0}..{x0 + w - 1}, y {y0}..{y0 + h - 1}, outside the {width}x{height} image; "
            f"choose center x in [{w // 2}, {width - w + w // 2}] and "
            f"y in [{h // 2}, {height - h + h // 2}]"
        )

    base, base_alpha = split_alpha(image)
    src, _ = split_alpha(source)
    colour = _channels(base) == 3 or _channels(src) == 3
    flags = cv2.NORMAL_CLONE if mode == "normal" else cv2.MIXED_CLONE
    src3, base3 = _three_channels(src), _three_channels(base)
    box = (slice(y0, y0 + h), slice(x0, x0 + w))
    if np.array_equal(src3[sy : sy + h, sx : sx + w], base3[box]):
        # The region pasted onto itself: the image is the exact Poisson solution (its own
        # gradients, its own border), which OpenCV's float solve only approximates.
        out = _promote(base, 3 if colour else 1).copy()
        return _like(merge_alpha(out, base_alpha), image)
    # The Poisson solve treats the three channels alike, so RGB data needs no swap to BGR.
    out8 = cv2.seamlessClone(src3, base3, region, (cx, cy), flags)
    if not colour:
        out8 = out8[..., 0]
    if image.dtype == np.uint8:
        out = out8
    else:  # OpenCV writes only the pasted rectangle: keep the rest at full precision
        out = _promote(base, 3 if colour else 1).copy()
        out[box] = from_float(to_float(out8[box]), image.dtype)
    return _like(merge_alpha(out, base_alpha), image)
