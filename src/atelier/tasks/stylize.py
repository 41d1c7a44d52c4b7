"""Optimisation-based style transfer (Gatys, Ecker & Bethge 2016) on atelier's VGG19.

:func:`stylize` optimises the pixels of an image so that its VGG19 features match the
content image at ``relu4_2`` and the Gram matrices of one or more style images at
``relu1_1`` .. ``relu5_1``, plus a total-variation term. The loss is pastiche's (the peer
the benchmark compares with), written on :mod:`atelier.nets.feature_losses`::

    loss = content_weight * 0.01 * mse(phi_4_2(x), phi_4_2(c))
         + sum_s w_s * sum_l 10 * mse(G_l(x), G_l(s))          # G = F F^T / (C H W)
         + tv_weight * 0.5 * (mean |dx| + mean |dy|)            # in 0-255 units

(``10 * mse`` of atelier's Gram is pastiche's ``10 / C^2 * mse`` of F F^T / (H W).)

Speed comes from coarse-to-fine: ``scales=2`` spends the first half of the steps at half
the size (a quarter of the cost per step), upsamples the result and refines at full size,
where L-BFGS then starts close to a solution. Colour preservation (Gatys et al. 2017,
"luminance-only transfer") keeps the content's chroma: the result's BT.601 Y with the
content's Cb and Cr.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> content = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
>>> style = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
>>> stylize(content, [style], size=32, steps=2, scales=1).shape
(24, 32, 3)
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from atelier.arrays import check_image, from_float, split_alpha, to_float
from atelier.errors import InvalidArgument
from atelier.nets.feature_losses import PerceptualLoss, StyleLoss, gram_matrix, total_variation

__all__ = ["stylize", "stylize_with_model", "load_style_model", "optimise_image", "StyleProblem", "rgb_tensor",
           "resize_tensor", "wrap_resize", "fit_size", "CONTENT_TAP", "STYLE_TAPS"]

CONTENT_TAP = "relu4_2"
STYLE_TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: Smallest side VGG19 sees (relu5_1 is after four 2x poolings).
MIN_SIDE = 16


def rgb_tensor(image: np.ndarray) -> torch.Tensor:
    """``H x W [x C]`` any dtype -> ``(1, 3, H, W)`` float32 RGB in [0, 1] (alpha dropped)."""
    f = to_float(check_image(image))
    if f.ndim == 2:
        f = f[..., None]
    f = split_alpha(f)[0] if f.shape[2] == 4 else f[..., :1] if f.shape[2] == 2 else f
    if f.shape[2] == 1:
        f = np.repeat(f, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(f, dtype=np.float32)).permute(2, 0, 1)[None].contiguous()


def resize_tensor(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, C, height, width)``, bilinear with antialiasing, in [0, 1]."""
    if tuple(x.shape[-2:]) == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def wrap_resize(x: torch.Tensor, height: int, width: int, pad: int = 4) -> torch.Tensor:
    """Bilinear resize of a periodic ``(B, C, h, w)`` image (a tileable texture) to
    ``(B, C, height, width)``: its edges resample across the wrap-around seam (``pad`` px
    copied circularly first, then cropped away). Not clamped."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (pad, pad, pad, pad), mode="circular")
    ky, kx = height / h, width / w
    big = F.interpolate(padded, size=(round((h + 2 * pad) * ky), round((w + 2 * pad) * kx)), mode="bilinear",
                        align_corners=False, antialias=True)
    top, left = round(pad * ky), round(pad * kx)
    return big[..., top : top + height, left : left + width]


def fit_size(h: int, w: int, size: int) -> tuple[int, int]:
    """``(height, width)`` scaled so the longer side becomes ``size``."""
    k = size / max(h, w)
    return max(1, round(h * k)), max(1, round(w * k))


class StyleProblem:
    """The Gatys loss for one content and weighted styles, at one resolution.

    ``loss(x)`` for ``x`` of shape ``(1, 3, H, W)`` RGB in [0, 1]; the style images are
    resized to the content's pixel count (pastiche's default) before their Grams are taken.
    """

    def __init__(self, vgg, content: torch.Tensor, styles: Sequence[torch.Tensor], mix: Sequence[float],
                 *, content_weight: float, tv_weight: float) -> None:
        self.perceptual = PerceptualLoss({CONTENT_TAP: 0.01}, vgg=vgg)
        self.style = StyleLoss({t: 10.0 for t in STYLE_TAPS}, vgg=vgg)
        self.vgg = vgg
        self.content_weight, self.tv_weight = content_weight, tv_weight
        with torch.no_grad():
            self.content_target = self.perceptual.features(content)
        pixels = content.shape[-2] * content.shape[-1]
        sized = []
        for s in styles:
            k = math.sqrt(pixels / (s.shape[-2] * s.shape[-1]))
            k = max(k, MIN_SIDE / min(s.shape[-2:]))  # VGG19 pools 4 times before relu5_1
            sized.append(resize_tensor(s, max(1, round(s.shape[-2] * k)), max(1, round(s.shape[-1] * k))))
        self.style_target = self.style.target_grams(sized, mix)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        # one VGG19 pass for the content and style taps together (the loss modules would run two)
        feats = self.vgg(x, taps=(CONTENT_TAP, *STYLE_TAPS))
        content = 0.01 * F.mse_loss(feats[CONTENT_TAP], self.content_target[CONTENT_TAP])
        style = sum(10.0 * F.mse_loss(gram_matrix(feats[t]), self.style_target[t]) for t in STYLE_TAPS)
        loss = self.content_weight * content + style
        if self.tv_weight:
            loss = loss + 0.5 * self.tv_weight * total_variation(x)
        return loss


class _Pyramid:
    """The image as a base plus a sum of upsampled corrections at 1, 1/2, 1/4, ... of its size.

    L-BFGS on these corrections rather than on the pixels: a gradient step on the coarse
    terms moves whole regions at once (their gradients are sums over blocks), which
    preconditions the problem towards the low frequencies that the deep style layers and
    the content layer need. Measured on 128 px, 80 steps: 42-44k final loss against 63k on
    plain pixels, at the same cost per step.

    ``wrap``: the image is periodic (a tileable texture): the coarse terms are upsampled
    across the wrap-around seam too, so they are as smooth there as inside. (Upsampled with
    clamped edges, they would leave the seam the one place where neighbouring pixels move
    independently, and the position-blind texture loss would not close it.)
    """

    def __init__(self, base: torch.Tensor, levels: int, wrap: bool = False) -> None:
        self.base = base.detach()
        self.wrap = wrap
        h, w = base.shape[-2:]
        self.terms = [
            torch.zeros(*base.shape[:2], max(1, math.ceil(h / 2**k)), max(1, math.ceil(w / 2**k)),
                        device=base.device, requires_grad=True)
            for k in range(levels)
        ]

    def _upsample(self, term: torch.Tensor) -> torch.Tensor:
        h, w = self.base.shape[-2:]
        if not self.wrap:
            return F.interpolate(term, size=(h, w), mode="bilinear", align_corners=False)
        return wrap_resize(term, h, w, pad=1)

    def image(self) -> torch.Tensor:
        x = self.base + self.terms[0]
        for term in self.terms[1:]:
            x = x + self._upsample(term)
        return x


def _pyramid_levels(h: int, w: int) -> int:
    """Levels down to about 32 pixels on the shorter side, at most 5."""
    return max(1, min(5, int(math.log2(max(1, min(h, w) / 32))) + 1))


def optimise_image(problem: Any, x: torch.Tensor, steps: int, optimizer: str,
                   on_step: Callable[[float], None] | None, *, wrap: bool = False) -> tuple[torch.Tensor, float]:
    """Minimise ``problem.loss(image)`` from ``x`` (``(1, 3, H, W)`` in [0, 1]) for ``steps``
    steps of ``optimizer`` (``lbfgs``: on a Laplacian-like pyramid of corrections, see
    :class:`_Pyramid`; ``adam``: on the pixels), keeping the image in [0, 1]; returns the
    best image seen and its loss. ``on_step(loss)`` after each step. ``wrap``: the image is
    periodic (the pyramid's coarse terms wrap around)."""
    if optimizer == "lbfgs":
        pyramid = _Pyramid(x, _pyramid_levels(*x.shape[-2:]), wrap=wrap)
        params, image = pyramid.terms, pyramid.image
    else:
        pixels = x.clone(memory_format=torch.contiguous_format).requires_grad_(True)
        params, image = [pixels], (lambda: pixels)
    last = [math.nan]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = problem.loss(image())
        loss.backward()
        last[0] = float(loss.detach())
        return loss

    def make_optimizer() -> torch.optim.Optimizer:
        if optimizer == "lbfgs":
            # L-BFGS takes its step length from the curvature (units do not matter after the first step)
            return torch.optim.LBFGS(params, lr=1.0, max_iter=1, history_size=100)
        # Adam moves each pixel by about 2 grey levels per step (pastiche: 1, in 0-255 units)
        return torch.optim.Adam(params, lr=2.0 / 255.0)

    opt = make_optimizer()
    best_loss, best = math.inf, [p.detach().clone() for p in params]
    for _ in range(steps):
        before = [p.detach().clone() for p in params]
        opt.step(closure)  # evaluates the loss at ``before``, then moves
        if last[0] < best_loss:
            best_loss, best = last[0], before
        elif not last[0] < 10 * best_loss:
            # diverged (keeping the image in range below can hand L-BFGS a step it did not
            # take, and a bad curvature pair sends it far off): back to the best point, fresh history
            with torch.no_grad():
                for p, b in zip(params, best):
                    p.copy_(b)
            opt = make_optimizer()
        with torch.no_grad():
            # keep the image in [0, 1]: clamp the pixels, or move the finest pyramid term by
            # what lies outside (left alone, L-BFGS drifts out of range and the final clamp
            # costs about 70 % more loss)
            x = image()
            params[0].sub_(x - x.clamp(0, 1))
        if on_step is not None:
            on_step(last[0])
    with torch.no_grad():
        for p, b in zip(params, best):
            p.copy_(b)
        return image().clamp(0, 1), best_loss


def stylize(
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    *,
    style_weights: Sequence[float] | None = None,
    size: int | None = 512,
    steps: int = 300,
    content_weight: float = 1.0,
    tv_weight: float = 0.0,
    optimizer: Literal["lbfgs", "adam"] = "lbfgs",
    scales: int = 2,
    coarse_share: float = 0.6,
    preserve_color: bool = False,
    init: Literal["content", "noise"] = "content",
    seed: int = 0,
    pooling: Literal["max", "avg"] = "max",
    device: str = "cpu",
    on_step: Callable[[float], None] | None = None,
    return_loss: bool = False,
) -> np.ndarray | tuple[np.ndarray, float]:
    """Paint ``content`` in the style of ``styles`` by optimising its pixels (Gatys et al.).

    Parameters
    ----------
    content : ``H x W [x C]`` image (uint8, uint16 or float32 in [0, 1]); alpha is dropped.
    styles : one or more style images (any size; resized to the content's pixel count).
    style_weights : one weight per style (default equal); they are normalised to sum to 1.
    size : longer side of the result in pixels (None: the content's own size).
    steps : optimiser steps in all (L-BFGS: one iteration each; about 1.25 VGG passes).
    content_weight, tv_weight : the loss weights above (style weight is fixed at 1: scale
        ``content_weight`` instead).
    scales : coarse-to-fine levels, each half the size of the next; the coarser levels
        share ``coarse_share`` of the steps equally (2 levels, 0.6: 60 % of the steps at
        half size first, at a quarter of the cost each: about half the time of one level).
        Measured at 256 px, 150 steps: 1 level 7.0k final loss, 2 levels at 0.5 9.2k, at
        0.67 11.6k; plain-pixel L-BFGS (pastiche's) 12.7k.
    preserve_color : keep the content's colours (luminance-only transfer).
    init : start from the content (default) or from seeded noise.
    on_step : called with the loss after each step (progress).
    return_loss : also return the final loss (at full size).

    Returns
    -------
    ``H' x W' x 3`` of the content's dtype (``H'``, ``W'`` from ``size``), and the loss if asked.
    """
    from atelier.devices import resolve_device
    from atelier.nets.vgg19 import VGG19

    device = resolve_device(device)  # an unknown or missing device first, one line
    styles = list(styles)
    if not styles:
        raise InvalidArgument("give at least one style image")
    mix = [1.0] * len(styles) if style_weights is None else [float(w) for w in style_weights]
    if len(mix) != len(styles) or any(not w >= 0 for w in mix) or sum(mix) <= 0:
        raise InvalidArgument(f"give one style weight >= 0 per style ({len(styles)} styles), not all zero; got {mix}")
    if not 0 <= coarse_share < 1:
        raise InvalidArgument(f"coarse_share must be in [0, 1), got {coarse_share}")
    if steps < 1 or scales < 1 or (size is not None and size < 16):
        raise InvalidArgument(f"steps and scales must be >= 1 and size >= 16, got {steps}, {scales}, {size}")
    if optimizer not in ("lbfgs", "adam"):
        raise InvalidArgument(f"optimizer must be lbfgs or adam, got {optimizer!r}")
    if init not in ("content", "noise"):
        raise InvalidArgument(f"init must be content or noise, got {init!r}")
    if pooling not in ("max", "avg"):
        raise InvalidArgument(f"pooling must be max or avg, got {pooling!r}")
    if content_weight < 0 or tv_weight < 0:
        raise InvalidArgument("content_weight and tv_weight must be >= 0")
    dtype = check_image(content).dtype
    c = rgb_tensor(content)
    style_tensors = [rgb_tensor(s) for s in styles]
    h, w = fit_size(c.shape[-2], c.shape[-1], size) if size is not None else tuple(c.shape[-2:])
    if min(h, w) < MIN_SIDE:
        raise InvalidArgument(f"the result would be {w}x{h}; VGG19 needs at least {MIN_SIDE} px on each side")
    vgg = VGG19(taps=(CONTENT_TAP, *STYLE_TAPS), pooling=pooling).to(device)
    generator = torch.Generator().manual_seed(seed)
    levels = [(max(MIN_SIDE, round(h / 2**k)), max(MIN_SIDE, round(w / 2**k))) for k in range(scales - 1, -1, -1)]
    coarse = round(steps * coarse_share) if scales > 1 else 0
    per_level = [coarse // (scales - 1)] * (scales - 1) + [0] if scales > 1 else [0]
    per_level[-1] = steps - sum(per_level)
    x: torch.Tensor | None = None
    loss = math.nan
    for (lh, lw), n in zip(levels, per_level):
        target = resize_tensor(c, lh, lw).to(device)
        problem = StyleProblem(vgg, target, [s.to(device) for s in style_tensors], mix,
                               content_weight=content_weight, tv_weight=tv_weight)
        if x is None:
            x = target.clone() if init == "content" else torch.rand(target.shape, generator=generator).to(device)
        else:
            x = resize_tensor(x, lh, lw)
        if n:
            x, loss = optimise_image(problem, x, n, optimizer, on_step)
        else:
            with torch.no_grad():
                loss = float(problem.loss(x))
    assert x is not None
    out = x[0].permute(1, 2, 0).cpu().numpy()
    if preserve_color:
        from atelier.ops.color_spaces import rgb_to_ycbcr, ycbcr_to_rgb

        ref = resize_tensor(c, h, w)[0].permute(1, 2, 0).numpy()
        ycc = rgb_to_ycbcr(out.astype(np.float32))
        ycc[..., 1:] = rgb_to_ycbcr(ref.astype(np.float32))[..., 1:]
        out = ycbcr_to_rgb(ycc, np.float32)
    result = from_float(np.clip(out, 0, 1).astype(np.float32), dtype)
    return (result, loss) if return_loss else result


def load_style_model(source: Any, device: str = "cpu"):
    """A trained style network from a run folder, its ``model.safetensors``, a shipped name or
    a module; anything else is one ``InvalidArgument`` line."""
    from atelier.models.style_net import StyleNet
    from atelier.pretrained import load_restoration_model

    net = load_restoration_model(source, device=device)
    if not isinstance(net, StyleNet):
        raise InvalidArgument(f"model {source}: holds the model {getattr(net, 'model_name', type(net).__name__)}, not a style network")
    return net


def stylize_with_model(
    content: np.ndarray, model: Any, *, size: int | None = None, device: str = "cpu"
) -> np.ndarray:
    """Stylise ``content`` with a feed-forward style network (Johnson et al. 2016), in one pass.

    ``content``: ``H x W [x C]`` (grey, RGB or RGBA; uint8, uint16 or float32); ``size``:
    longer side of the result (None: the content's size). The whole image goes through the
    network at once (instance normalisation sees the whole image, so tiles would not match);
    alpha is kept (resized with the image). Returns RGB(A) of the content's dtype.
    """
    from atelier.arrays import merge_alpha
    from atelier.models.style_net import MIN_SIDE

    from atelier.devices import resolve_device

    device = resolve_device(device)  # an unknown or missing device first, one line
    net = load_style_model(model, device=device)
    image = check_image(content)
    dtype = image.dtype
    alpha = split_alpha(to_float(image))[1] if image.ndim == 3 and image.shape[2] == 4 else None
    x = rgb_tensor(image)
    h, w = fit_size(x.shape[-2], x.shape[-1], size) if size is not None else tuple(x.shape[-2:])
    if min(h, w) < MIN_SIDE:
        raise InvalidArgument(f"the result would be {w}x{h}; the style network needs at least {MIN_SIDE} px a side")
    param = next(net.parameters(), None)
    x = resize_tensor(x, h, w).to(param.device if param is not None else device)  # a module runs where it is
    with torch.no_grad():
        y = net.eval()(x)[0].permute(1, 2, 0).cpu().numpy()
    if alpha is not None:
        a = torch.from_numpy(np.ascontiguousarray(alpha))[None, None]
        y = merge_alpha(y, resize_tensor(a, h, w)[0, 0].numpy())
    return from_float(np.ascontiguousarray(y, dtype=np.float32), dtype)
