"""Deep image blending (Zhang, Wen & Shi 2020): paste a region so that it takes on the look of
a painting or photo, by optimising its pixels against VGG19 losses and a Poisson term.

:func:`deep_blend` works in two passes on a window of the background around the pasted region
(the region's box plus :data:`MARGIN` pixels; every pixel outside the region is kept), pixels
in 0-255 units as in the authors' code. ``M`` is the region, ``B`` the background, ``F`` the
foreground moved into place, ``h x w`` the region's bounding box, ``lap`` the 4-neighbour
Laplacian, ``G_l`` atelier's Gram matrix ``F F^T / (C H W)`` (the authors' normalisation too) at
the taps :data:`STYLE_TAPS`, ``phi`` the features at :data:`CONTENT_TAP`.

**Pass 1** optimises the region's pixels ``x``; the composite is ``c = M x + (1 - M) B``::

    loss = W_GRAD    * sum (lap(c) - (M lap(F) + (1 - M) lap(B)))^2 / (3 h w)   # "Poisson gradient loss"
         + W_STYLE   * mean_l mse(G_l(c[box]), G_l(B))                        # style of the background
         + W_CONTENT * mse(phi(M c), phi(M F))                                # content of the foreground
         + W_TV      * (mean |dx c| + mean |dy c|)                             # smoothness

Inside the region the gradient target is the foreground's Laplacian (taken on the whole
foreground), outside it the background's, so the seam is the Poisson boundary condition.
``box`` is the region's bounding box grown to at least 16 px a side; the style target is the
whole background (resized to at most :data:`MAX_STYLE_SIDE` a side).

**Pass 2** refines the same region towards the background's style, with pass 1's result as
the content (``phi(c)`` against ``phi(c_1)``) and as the gradient target (``lap(c_1)``, which
keeps pass 1's seam), and a ten times larger style weight.

Weights. The authors' code (``owenzlz/DeepImageBlending``, ``run.py``) uses, pass 1: grad 1e4,
style 1e4, content 1, TV 1e-6 (a sum over pixels), histogram loss off; pass 2: style 1e7,
content 1; style taps ``relu1_2, relu2_2, relu3_3, relu4_3`` and content ``relu2_2`` of
torchvision's VGG16, fed 0-255 pixels without the ImageNet std division; 1000 L-BFGS
evaluations per pass from a noise start. atelier keeps the taps (by name, on VGG19), the
formulas and the 0-255 units, but its Caffe VGG19 (made for 0-255 input) has features of
another scale, so the authors' numbers do not carry over. The weights here were set on
photo-into-painting pastes (barn and aqueduct photos into Starry Night and The Scream, 256
and 512 px backgrounds, 8-50 steps): grad 10, style 3e-3, content 3e-3, TV 1 (pass 1); grad
10, style 3e-2, content 3e-2 (pass 2). There the VGG19 style distance of the region
(:func:`~atelier.tasks.blend_measures.style_distance`) falls to 0.24-0.36 of the Poisson
clone's, and the seam error (:func:`~atelier.tasks.blend_measures.boundary_gradient_error`)
is 4.8-5.2 grey levels against the clone's 1.4-1.7 and a naive paste's 17.5-18.8 (on a
128 px crop of Starry Night with a 56 x 40 region: 8.5 against 1.3 and 17.1): the region's
new texture reaches its edge. Gradient weight 1 in both passes doubled the seam error (10.1).

Three changes from the released code, on purpose: pass 1 starts from the Poisson clone by
default (the minimiser of the gradient term alone: after 8 steps its pass-1 loss is a third of
a noise start's; after 30 the starts end within 5 %); pass 2 keeps the gradient term
(without it, freeing a few pixels around the region as a whole-image pass does, the seam
came back as a dark ring: error 12-15); pass 2's content target is pass 1's result, as the
paper describes (in the released code the content term compares the image with itself, so it
is always 0: issue #25 there). Also: both passes work on a window around the region and change
only the region's pixels (the released pass 2 re-optimises the whole image), the style term
sees the composite's box (the released one the whole free canvas), and the histogram loss (off
in the released ``run.py``) is left out. Optimisation reuses
:func:`atelier.tasks.stylize.optimise_image` (L-BFGS on a multi-scale parameterisation, the
image kept in [0, 1], the best point kept).

Placement: ``at = (x, y)`` is where the centre of the mask's bounding box lands in the
background, the convention of :func:`atelier.ops.composite.seamless_clone` (``center``); as
there, the mask's outermost 1-pixel border is ignored (the foreground's Laplacian needs a
neighbour on every side).

Reference
---------
L. Zhang, T. Wen and J. Shi, "Deep Image Blending", WACV 2020 (arXiv:1910.11495).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> bg = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
>>> fg = np.full((20, 20, 3), 200, np.uint8)
>>> mask = np.zeros((20, 20), np.uint8); mask[4:16, 4:16] = 255
>>> out = deep_blend(fg, mask, bg, at=(24, 20), steps=2)
>>> out.shape, out.dtype, bool((out[:8] == bg[:8]).all())
((40, 48, 3), dtype('uint8'), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F

from atelier.arrays import check_image, from_float, merge_alpha, split_alpha, to_float
from atelier.errors import InvalidArgument
from atelier.nets.feature_losses import gram_matrix, total_variation

__all__ = [
    "deep_blend", "place_mask", "Placement", "laplacian", "grow_span", "background_grams", "STYLE_TAPS", "CONTENT_TAP",
    "W_GRAD", "W_STYLE", "W_CONTENT", "W_TV", "W_GRAD_2", "W_STYLE_2", "W_CONTENT_2",
]

#: The authors' VGG16 taps, by name on VGG19.
STYLE_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_TAP = "relu2_2"
#: Pass 1 weights (0-255 units; see the module docstring for where they come from).
W_GRAD, W_STYLE, W_CONTENT, W_TV = 10.0, 3e-3, 3e-3, 1.0
#: Pass 2 weights.
W_GRAD_2, W_STYLE_2, W_CONTENT_2 = 10.0, 3e-2, 3e-2
#: Smallest window side VGG19 sees (relu4_3 is after three 2x poolings; 16 keeps 2 x 2).
MIN_SIDE = 16
#: Margin of background around the region that the passes see (the Laplacian needs 1).
MARGIN = 8
#: The background's Grams are taken at most this long a side (a larger one is resized first).
MAX_STYLE_SIDE = 1024


@dataclass(frozen=True)
class Placement:
    """Where a foreground region lands: ``region`` (foreground-sized bool, border cleared),
    its box ``(sx, sy, w, h)`` in the foreground and top-left ``(x0, y0)`` in the background."""

    region: np.ndarray
    sx: int
    sy: int
    w: int
    h: int
    x0: int
    y0: int

    def canvas(self, height: int, width: int) -> np.ndarray:
        """The region as a background-sized bool mask."""
        out = np.zeros((height, width), bool)
        out[self.y0:self.y0 + self.h, self.x0:self.x0 + self.w] = self.region[self.sy:self.sy + self.h,
                                                                              self.sx:self.sx + self.w]
        return out


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"


def place_mask(mask: np.ndarray, foreground_shape: tuple[int, ...], background_shape: tuple[int, ...],
               at: tuple[int, int] | None = None) -> Placement:
    """Check a mask and where its region lands; ``at`` is ``(x, y)`` of the centre of the
    mask's bounding box in the background (default the background's middle), as
    :func:`~atelier.ops.composite.seamless_clone`'s ``center``.

    ``mask``: ``H x W [x C]`` of the foreground's size, non-zero (in any channel) = selected;
    its outermost 1-pixel border is ignored. Raises ``InvalidArgument`` when the sizes differ,
    nothing is selected, or the region would fall outside the background.

    >>> m = np.zeros((10, 10), np.uint8); m[2:6, 3:9] = 1
    >>> p = place_mask(m, (10, 10), (50, 60), at=(30, 20))
    >>> (p.sx, p.sy, p.w, p.h, p.x0, p.y0)
    (3, 2, 6, 4, 27, 18)
    """
    check_image(mask, "mask")
    if mask.shape[:2] != tuple(foreground_shape[:2]):
        raise InvalidArgument(
            f"mask is {_size(mask)} but the foreground is {foreground_shape[1]}x{foreground_shape[0]} "
            "(width x height); the mask marks pixels of the foreground and must have its size")
    if mask.ndim == 3 and mask.shape[2] == 4:
        raise InvalidArgument("mask has 4 channels (RGBA); give a grey mask whose non-zero pixels mark the region")
    region = mask != 0
    if region.ndim == 3:
        region = region.any(axis=2)
    region[0, :] = region[-1, :] = False
    region[:, 0] = region[:, -1] = False
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if rows.size == 0:
        raise InvalidArgument("mask selects no pixels of the foreground (it is all zero, or only its "
                              "outermost 1-pixel border is set, which is ignored); mark the region with non-zero pixels")
    sy, sx = int(rows[0]), int(cols[0])
    h, w = int(rows[-1]) - sy + 1, int(cols[-1]) - sx + 1
    height, width = background_shape[:2]
    if at is None:
        at = (width // 2, height // 2)
    if len(at) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in at):
        raise InvalidArgument(f"at must be two integers x, y, got {at!r}")
    cx, cy = int(at[0]), int(at[1])
    x0, y0 = cx - w // 2, cy - h // 2
    if w > width or h > height:
        raise InvalidArgument(f"the mask's region ({w}x{h} pixels) is larger than the {width}x{height} "
                              "background; crop the mask or shrink the foreground")
    if x0 < 0 or y0 < 0 or x0 + w > width or y0 + h > height:
        raise InvalidArgument(
            f"the mask's region ({w}x{h} pixels) centred at ({cx}, {cy}) would cover x {x0}..{x0 + w - 1}, "
            f"y {y0}..{y0 + h - 1}, outside the {width}x{height} background; choose x in "
            f"[{w // 2}, {width - w + w // 2}] and y in [{h // 2}, {height - h + h // 2}]")
    return Placement(region, sx, sy, w, h, x0, y0)


def _rgb(image: np.ndarray) -> np.ndarray:
    """``H x W [x C]`` -> ``H x W x 3`` float32 in [0, 1] (alpha dropped, grey repeated)."""
    f = to_float(image)
    if f.ndim == 3 and f.shape[2] == 4:
        f = f[..., :3]
    if f.ndim == 2:
        f = f[..., None]
    return np.ascontiguousarray(np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f, dtype=np.float32)


def _tensor(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """``H x W x C`` (or ``H x W``) numpy -> ``(1, C, H, W)`` float32 tensor."""
    a = a[..., None] if a.ndim == 2 else a
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None].to(device)


def laplacian(x: torch.Tensor) -> torch.Tensor:
    """4-neighbour Laplacian ``4 x - (up + down + left + right)`` per channel, zero padding
    (the authors' ``laplacian_filter_tensor``): ``(B, C, H, W) -> (B, C, H, W)``."""
    k = x.new_tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(x, k, padding=1, groups=x.shape[1])


def grow_span(start: int, size: int, least: int, limit: int) -> tuple[int, int]:
    """``[start, start + size)`` grown evenly to at least ``least`` long, kept in ``[0, limit)``."""
    if size >= least:
        return start, start + size
    lo = max(0, start - (least - size) // 2)
    hi = min(limit, lo + least)
    return max(0, hi - least), hi


class _BlendLoss:
    """One pass's loss, ``loss(x)`` for the window ``x`` ``(1, 3, h, w)`` in [0, 1]: the
    composite ``free * x + (1 - free) * background`` is scored by the weighted terms
    ``grad`` (against ``target_laplacian``, 0-255 units, summed over the window and divided by
    ``3 * box_pixels``), ``content`` (``relu2_2`` of ``content_mask * composite`` against that
    of ``content_mask * content``; no mask: the whole box), ``style`` (the box's Grams against
    ``grams``, mean over :data:`STYLE_TAPS`) and ``tv``. ``terms`` holds the last values."""

    def __init__(self, vgg, background: torch.Tensor, free: torch.Tensor, box: tuple[slice, slice],
                 grams: dict[str, torch.Tensor], weights: dict[str, float], *, content: torch.Tensor,
                 content_mask: torch.Tensor | None = None, target_laplacian: torch.Tensor | None = None,
                 box_pixels: int = 1) -> None:
        self.vgg, self.background, self.free, self.box, self.grams = vgg, background, free, box, grams
        self.weights, self.content_mask = weights, content_mask
        self.target_laplacian, self.box_pixels = target_laplacian, box_pixels
        self.terms: dict[str, float] = {}
        with torch.no_grad():
            self.content = self.vgg(self._masked(content)[(..., *box)], taps=(CONTENT_TAP,))[CONTENT_TAP]

    def _masked(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.content_mask is None else self.content_mask * x

    def composite(self, x: torch.Tensor) -> torch.Tensor:
        return self.free * x + (1 - self.free) * self.background

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weights
        comp = self.composite(x)
        feats = self.vgg(comp[(..., *self.box)], taps=STYLE_TAPS)
        if self.content_mask is None:
            mine = feats[CONTENT_TAP]
        else:  # the authors compare the masked images (one more, shallow VGG pass)
            mine = self.vgg(self._masked(comp)[(..., *self.box)], taps=(CONTENT_TAP,))[CONTENT_TAP]
        terms = {
            "content": w["content"] * F.mse_loss(mine, self.content),
            "style": w["style"] * sum(F.mse_loss(gram_matrix(feats[t]), self.grams[t]) for t in STYLE_TAPS)
            / len(STYLE_TAPS),
            "tv": w["tv"] * total_variation(comp),
        }
        if w.get("grad") and self.target_laplacian is not None:
            error = laplacian(comp * 255.0) - self.target_laplacian
            terms["grad"] = w["grad"] * (error**2).sum() / (3 * self.box_pixels)
        self.terms = {k: float(v.detach()) for k, v in terms.items()}
        return sum(terms.values())


def background_grams(vgg, background: torch.Tensor, taps=STYLE_TAPS) -> dict[str, torch.Tensor]:
    """Gram targets ``(1, C, C)`` of a ``(1, 3, H, W)`` background in [0, 1], resized first
    when its longer side is over :data:`MAX_STYLE_SIDE`."""
    h, w = background.shape[-2:]
    if max(h, w) > MAX_STYLE_SIDE:
        k = MAX_STYLE_SIDE / max(h, w)
        background = F.interpolate(background, size=(max(MIN_SIDE, round(h * k)), max(MIN_SIDE, round(w * k))),
                                   mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        return {t: gram_matrix(f) for t, f in vgg(background, taps=taps).items()}


def deep_blend(
    foreground: np.ndarray,
    mask: np.ndarray,
    background: np.ndarray,
    *,
    at: tuple[int, int] | None = None,
    steps: int = 50,
    init: Literal["poisson", "paste", "noise"] = "poisson",
    device: str = "cpu",
    on_step: Callable[[float], None] | None = None,
    seed: int = 0,
    return_losses: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict[str, dict[str, float]]]:
    """Paste the masked region of ``foreground`` into ``background`` by deep image blending.

    Parameters
    ----------
    foreground : ``H x W [x C]`` (grey, RGB, RGBA; uint8, uint16 or float32 in [0, 1]).
    mask : ``H x W [x C]`` of the foreground's size; non-zero marks the region (its outermost
        1-pixel border is ignored, as in :func:`~atelier.ops.composite.seamless_clone`).
    background : ``H' x W' [x C]``, the image pasted into; its size and dtype are kept.
    at : ``(x, y)`` in the background where the centre of the mask's bounding box lands
        (default: the background's middle).
    steps : L-BFGS evaluations in each of the two passes (the authors use 1000; on a CPU 30-100
        already blends: see the module docstring).
    init : pass 1's start: ``poisson`` (OpenCV's seamless clone; default), ``paste`` (the
        foreground pasted as is) or ``noise`` (the authors' start; needs many steps).
    device : where the optimisation runs (``cpu``, ``cuda``, ``auto``...).
    on_step : called with the loss after each step (``2 * steps`` calls).
    seed : seeds the noise start (the result is otherwise deterministic).
    return_losses : also return the final loss terms of each pass.

    Returns
    -------
    ``H' x W' x 3`` (or grey when both images are grey; the background's alpha kept) of the
    background's dtype; only a window around the region differs from the background.
    """
    from atelier.devices import resolve_device
    from atelier.nets.vgg19 import VGG19
    from atelier.ops.composite import seamless_clone
    from atelier.tasks.stylize import optimise_image

    check_image(foreground, "foreground")
    check_image(background, "background")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InvalidArgument(f"steps must be an integer >= 1, got {steps!r}")
    if init not in ("poisson", "paste", "noise"):
        raise InvalidArgument(f"init must be poisson, paste or noise, got {init!r}")
    height, width = background.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InvalidArgument(f"the background is {_size(background)}; deep blending needs at least "
                              f"{MIN_SIDE}x{MIN_SIDE} pixels (VGG19 pools the window three times)")
    place = place_mask(mask, foreground.shape, background.shape, at)
    device = resolve_device(device)
    steps = int(steps)

    # the window: the region's box plus a margin, grown to VGG19's smallest side
    x0, y0, w, h = place.x0, place.y0, place.w, place.h
    wy0, wy1 = grow_span(max(0, y0 - MARGIN), min(height, y0 + h + MARGIN) - max(0, y0 - MARGIN), MIN_SIDE, height)
    wx0, wx1 = grow_span(max(0, x0 - MARGIN), min(width, x0 + w + MARGIN) - max(0, x0 - MARGIN), MIN_SIDE, width)
    by0, by1 = grow_span(y0 - wy0, h, MIN_SIDE, wy1 - wy0)
    bx0, bx1 = grow_span(x0 - wx0, w, MIN_SIDE, wx1 - wx0)
    box = (slice(by0, by1), slice(bx0, bx1))

    bg_rgb = _rgb(split_alpha(background)[0])
    fg_rgb = _rgb(split_alpha(foreground)[0])
    canvas = place.canvas(height, width)[wy0:wy1, wx0:wx1]
    fg_canvas = bg_rgb[wy0:wy1, wx0:wx1].copy()
    oy, ox = y0 - wy0, x0 - wx0
    fg_box = fg_rgb[place.sy:place.sy + h, place.sx:place.sx + w]
    fg_canvas[oy:oy + h, ox:ox + w] = fg_box
    # the foreground's Laplacian is taken on the whole foreground (the region's neighbours are its own)
    lap_fg = laplacian(_tensor(fg_rgb, torch.device("cpu")) * 255.0)[0].permute(1, 2, 0).numpy()
    lap_fg_canvas = np.zeros_like(fg_canvas)
    lap_fg_canvas[oy:oy + h, ox:ox + w] = lap_fg[place.sy:place.sy + h, place.sx:place.sx + w]

    B = _tensor(bg_rgb[wy0:wy1, wx0:wx1], device)
    M = _tensor(canvas.astype(np.float32), device)
    target_lap = M * _tensor(lap_fg_canvas, device) + (1 - M) * laplacian(B * 255.0)

    vgg = VGG19(taps=STYLE_TAPS).to(device)
    grams = background_grams(vgg, _tensor(bg_rgb, device))

    if init == "poisson":
        cloned = seamless_clone(from_float(bg_rgb, np.uint8), from_float(fg_rgb, np.uint8),
                                place.region.astype(np.uint8), center=(x0 + w // 2, y0 + h // 2))
        start = _tensor(to_float(cloned)[wy0:wy1, wx0:wx1], device)
    elif init == "paste":
        start = _tensor(fg_canvas, device)
    else:  # the authors start from noise (randn in 0-255 units); a uniform draw is its usable analogue here
        start = torch.rand(B.shape, generator=torch.Generator().manual_seed(int(seed))).to(device)
    start = M * start + (1 - M) * B

    one = _BlendLoss(vgg, B, M, box, grams, {"grad": W_GRAD, "style": W_STYLE, "content": W_CONTENT, "tv": W_TV},
                     content=_tensor(fg_canvas, device), content_mask=M, target_laplacian=target_lap,
                     box_pixels=h * w)
    x, _ = optimise_image(one, start, steps, "lbfgs", on_step)
    with torch.no_grad():
        x = one.composite(x)
        one.loss(x)
    losses = {"pass1": dict(one.terms)}

    # pass 2: the same region, pass 1's result as content and as the gradient target (its seam kept)
    two = _BlendLoss(vgg, B, M, box, grams, {"grad": W_GRAD_2, "style": W_STYLE_2, "content": W_CONTENT_2, "tv": W_TV},
                     content=x.detach(), target_laplacian=laplacian(x.detach() * 255.0), box_pixels=h * w)
    x, _ = optimise_image(two, x, steps, "lbfgs", on_step)
    with torch.no_grad():
        x = two.composite(x)
        two.loss(x)
    losses["pass2"] = dict(two.terms)

    window = np.clip(x[0].permute(1, 2, 0).cpu().numpy(), 0.0, 1.0).astype(np.float32)
    base, alpha = split_alpha(background)
    colour = (base.ndim == 3 and base.shape[2] == 3) or (foreground.ndim == 3 and foreground.shape[2] in (3, 4))
    if colour:  # a grey background meeting a colour foreground becomes RGB
        out = base.copy() if base.ndim == 3 and base.shape[2] == 3 else from_float(bg_rgb, background.dtype)
        values = from_float(window, background.dtype)
    else:
        out = base.copy()
        values = from_float(window.mean(axis=2), background.dtype)
        values = values if base.ndim == 2 else values[..., None]
    out[wy0:wy1, wx0:wx1][canvas] = values[canvas]  # only the region's pixels change
    result = merge_alpha(out, alpha)
    return (result, losses) if return_losses else result
