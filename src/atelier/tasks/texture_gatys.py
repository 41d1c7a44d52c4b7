"""Texture synthesis by Gram-matrix matching (Gatys, Ecker & Bethge 2015) on atelier's VGG19.

The texture is the image whose Gram matrices at ``relu1_1``, ``pool1``, ``pool2``, ``pool3``
and ``pool4`` (the paper's layers; here their ReLU outputs ``relu1_1`` .. ``relu5_1``, which
atelier's style losses use) match the sample's, found by L-BFGS from seeded noise. Grams are
normalised by ``C H W`` (:func:`~atelier.nets.feature_losses.gram_matrix`), so the output may
have any size: the statistics, not the layout, are matched::

    loss = sum_l 10 * mse(G_l(x), G_l(sample))

Coarse to fine: with ``scales=3`` the first steps run at a quarter of the size against the
sample at a quarter of its size (the same texture scale), then the upsampled result is refined
at half and at full size; the coarse levels lay out the large structures at a fraction of the
cost (Snelgrove 2017 makes the same argument for multi-scale Gram synthesis).

``tileable=True`` makes a texture that wraps around: every convolution of the VGG19 pads
circularly while the image is optimised, so the loss sees the texture as a torus, and the
coarse terms L-BFGS moves are upsampled across the wrap too (with clamped edges they left a
seam 3-6 times the interior step: the position-blind Gram loss does not close it).

Example
-------
>>> import numpy as np
>>> sample = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
>>> synthesize_gatys(sample, 40, 48, steps=2, scales=1).shape
(40, 48, 3)
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from atelier.arrays import check_image, from_float
from atelier.errors import InvalidArgument
from atelier.nets.feature_losses import gram_matrix
from atelier.tasks.stylize import MIN_SIDE, STYLE_TAPS, optimise_image, resize_tensor, rgb_tensor, wrap_resize

__all__ = ["synthesize_gatys", "TextureProblem", "texture_loss"]


class TextureProblem:
    """Gatys' texture loss against one sample at one resolution: ``loss(x)`` for ``(1, 3, H, W)``."""

    def __init__(self, vgg, sample: torch.Tensor) -> None:
        self.vgg = vgg
        with torch.no_grad():
            feats = vgg(sample, taps=STYLE_TAPS)
            self.targets = {t: gram_matrix(feats[t]) for t in STYLE_TAPS}

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.vgg(x, taps=STYLE_TAPS)
        return sum(10.0 * F.mse_loss(gram_matrix(feats[t]), self.targets[t]) for t in STYLE_TAPS)


@contextlib.contextmanager
def _circular(vgg) -> Iterator[None]:
    """Every convolution of ``vgg`` pads circularly inside the block (the image is a torus)."""
    convs = [m for m in vgg.modules() if isinstance(m, torch.nn.Conv2d)]
    before = [m.padding_mode for m in convs]
    for m in convs:
        m.padding_mode = "circular"
    try:
        yield
    finally:
        for m, mode in zip(convs, before):
            m.padding_mode = mode


def _resize(x: torch.Tensor, height: int, width: int, wrap: bool) -> torch.Tensor:
    """Bilinear resize; ``wrap``: the image is periodic (its edges resample across the seam)."""
    if tuple(x.shape[-2:]) == (height, width):
        return x
    if not wrap:
        return resize_tensor(x, height, width)
    return wrap_resize(x, height, width).clamp(0, 1)


def texture_loss(image: np.ndarray, sample: np.ndarray, *, device: str = "cpu") -> float:
    """Gatys' texture loss (the sum above) of ``image`` against ``sample``, both ``H x W [x C]``
    of any size: the measure the texture benchmark compares methods by."""
    from atelier.nets.vgg19 import VGG19

    vgg = VGG19(taps=STYLE_TAPS).to(device)
    with torch.no_grad():
        return float(TextureProblem(vgg, rgb_tensor(sample).to(device)).loss(rgb_tensor(image).to(device)))


def synthesize_gatys(
    sample: np.ndarray,
    height: int,
    width: int,
    *,
    steps: int = 300,
    scales: int = 3,
    coarse_share: float = 0.5,
    tileable: bool = False,
    seed: int = 0,
    device: str = "cpu",
    on_step: Callable[[float], None] | None = None,
    return_loss: bool = False,
) -> np.ndarray | tuple[np.ndarray, float]:
    """A ``height x width`` texture with the Gram statistics of ``sample`` (Gatys et al. 2015).

    Parameters
    ----------
    sample : ``H x W [x C]`` texture sample (uint8, uint16 or float32; alpha dropped); used at
        its own size, which sets the texture's scale (resize it first for coarser or finer).
    height, width : the output's size (any, at least 16 each).
    steps : L-BFGS steps in all, shared by the levels (about 1.25 VGG19 passes each).
    scales : coarse-to-fine levels, each half the size of the next; the coarser levels share
        ``coarse_share`` of the steps equally.
    tileable : wrap-around output (circular padding while optimising).
    seed : the noise start.
    on_step : called with the loss after each step.
    return_loss : also return the final loss (at full size).

    Returns
    -------
    ``height x width x 3`` of the sample's dtype (and the loss if asked).

    Reference
    ---------
    L. A. Gatys, A. S. Ecker and M. Bethge, "Texture Synthesis Using Convolutional Neural
    Networks", NeurIPS 2015.
    """
    from atelier.devices import resolve_device
    from atelier.nets.vgg19 import VGG19

    device = resolve_device(device)
    image = check_image(sample)
    if min(height, width) < MIN_SIDE:
        raise InvalidArgument(f"the texture must be at least {MIN_SIDE} px a side, got {width}x{height}")
    if steps < 1 or scales < 1:
        raise InvalidArgument(f"steps and scales must be >= 1, got {steps} and {scales}")
    if not 0 <= coarse_share < 1:
        raise InvalidArgument(f"coarse_share must be in [0, 1), got {coarse_share}")
    s = rgb_tensor(image)
    if min(s.shape[-2:]) < MIN_SIDE:
        raise InvalidArgument(f"the sample is {s.shape[-1]}x{s.shape[-2]}; VGG19 needs at least {MIN_SIDE} px a side")
    # no level smaller than VGG19 can see, in the output or in the sample
    scales = max(1, min(scales, 1 + int(math.log2(min(height, width, *s.shape[-2:]) / MIN_SIDE))))
    vgg = VGG19(taps=STYLE_TAPS).to(device)
    generator = torch.Generator().manual_seed(seed)
    coarse = round(steps * coarse_share) if scales > 1 else 0
    per_level = [coarse // (scales - 1)] * (scales - 1) + [0] if scales > 1 else [0]
    per_level[-1] = steps - sum(per_level)
    x: torch.Tensor | None = None
    loss = math.nan
    with _circular(vgg) if tileable else contextlib.nullcontext():
        for k, n in zip(range(scales - 1, -1, -1), per_level):
            lh, lw = max(MIN_SIDE, round(height / 2**k)), max(MIN_SIDE, round(width / 2**k))
            sh, sw = max(MIN_SIDE, round(s.shape[-2] / 2**k)), max(MIN_SIDE, round(s.shape[-1] / 2**k))
            problem = TextureProblem(vgg, _resize(s, sh, sw, wrap=False).to(device))
            if x is None:
                x = torch.rand(1, 3, lh, lw, generator=generator).to(device)
            else:
                x = _resize(x, lh, lw, wrap=tileable)
            if n:
                x, loss = optimise_image(problem, x, n, "lbfgs", on_step, wrap=tileable)
            else:
                with torch.no_grad():
                    loss = float(problem.loss(x))
    assert x is not None
    out = from_float(np.clip(x[0].permute(1, 2, 0).cpu().numpy(), 0, 1).astype(np.float32), image.dtype)
    return (out, loss) if return_loss else out
