"""Projected GAN discriminators: small discriminators on frozen pretrained features.

Sauer et al. (2021), "Projected GANs Converge Faster" (arXiv:2111.01007). The image goes
through :class:`~atelier.nets.projected.ProjectedFeatures` (frozen ImageNet EfficientNet-Lite0
stages and fixed random cross-channel / cross-scale mixing) and one small discriminator per
feature scale judges each map; their patch logits are concatenated, ``(B, K)``, and the GAN
losses average over all of them (the authors' ``MultiScaleD``). Each small discriminator is
their ``SingleDisc``: strided 4x4 convolutions with BatchNorm and LeakyReLU 0.2 down to 8x8,
then a 4x4 convolution to one logit per patch (5x5 patches from an 8x8 map, one from 4x4),
spectral norm on every convolution. Widths follow their table (512 channels at 4-8 px, 256 at
16, 128 at 32) times ``width / 64``.

Conditioning (their ``SingleDiscCond``): the last convolution gives ``cmap_dim`` channels and
the logit is their dot product with a projection of the condition vector, ``<D_k(x), P(c)> /
sqrt(cmap_dim)`` per patch (the projection discriminator of Miyato & Koyama 2018, patch by
patch). The condition is a label embedding (:class:`ProjectedClassDiscriminator`, with an
auxiliary class head for AC-GAN's term) or a text embedding (the text-GAN's discriminator
gives it).

The interface matches the convolutional discriminators the objectives already use:
``features(x)`` (here all four maps flattened and concatenated, ``(B, F)``, so that batches of
features index and concatenate like tensors), ``score(h, ...)`` and ``forward``.

Example
-------
>>> import torch
>>> d = ProjectedDiscriminator(width=16, feature_size=64)
>>> d(torch.rand(2, 1, 32, 32)).shape
torch.Size([2, 76])
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from atelier.models.layers import init_dcgan_, spectral_norm_
from atelier.nets.projected import MIXED_CHANNELS, ProjectedFeatures

__all__ = [
    "CMAP_DIM", "DiscriminatorKind", "ProjectedDiscriminator",
    "ProjectedClassDiscriminator", "ScaleDiscriminator", "check_projected_fields", "projected_feature_size",
]

CMAP_DIM = 64  # the conditional discriminators' projection size (the authors' cmap_dim)
DiscriminatorKind = Literal["conv", "projected"]
# The three config fields every GAN family with a projected option has:
#   discriminator : "conv" (the family's own) or "projected" (this module; spectral norm always,
#       whatever the config's spectral_norm says);
#   projected_size : side the images are resized to for the pretrained features (a multiple of
#       32); 0: max(32, resolution);
#   projected_width : width of the small discriminators (64: the paper's sizes).


def projected_feature_size(config) -> int:
    """The pretrained network's input side for a config with the projected fields."""
    return config.projected_size or max(32, config.resolution)


def check_projected_fields(config) -> None:
    """Range checks of ``projected_size`` and ``projected_width`` (``config._require``)."""
    size = config.projected_size
    config._require(size == 0 or (32 <= size <= 512 and size % 32 == 0), "projected_size",
                    "0 (auto) or a multiple of 32 from 32 to 512")
    config._require(1 <= config.projected_width <= 256, "projected_width", "an integer from 1 to 256")


def _width_at(side: int, width: int) -> int:
    """Channels at a map of ``side`` pixels: the authors' table {4: 512, 8: 512, 16: 256, 32:
    128, 64: 64} at ``width = 64``, scaled linearly."""
    return max(1, min(8 * width, 64 * width // side))


class ScaleDiscriminator(nn.Module):
    """``(B, C, S, S)`` feature map [, condition ``(B, cond_dim)``] -> ``(B, P)`` patch logits."""

    def __init__(self, channels: int, side: int, width: int, cond_dim: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        while side > 8:
            out = _width_at(side // 2, width)
            layers += [nn.Conv2d(c, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
            c, side = out, side // 2
        self.body = nn.Sequential(*layers)
        self.cond_dim = cond_dim
        # 5x5 patches from an 8x8 map, one from 4x4; a 2x2 map (32-pixel features) gets a 2x2 head
        self.head = nn.Conv2d(c, CMAP_DIM if cond_dim else 1, min(4, side), 1, 0, bias=False)
        if cond_dim:
            self.project = nn.Sequential(nn.Linear(cond_dim, CMAP_DIM), nn.LeakyReLU(0.2))

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        out = self.head(self.body(h))
        if self.cond_dim:
            cmap = self.project(cond)[:, :, None, None]
            out = (out * cmap).sum(dim=1) / math.sqrt(CMAP_DIM)
        return out.reshape(h.shape[0], -1)


class ProjectedDiscriminator(nn.Module):
    """``(B, C, R, R)`` in [0, 1] [, condition ``(B, cond_dim)``] -> ``(B, K)`` patch logits.

    Parameters
    ----------
    width : int
        Scales the small discriminators' widths (64: the authors' sizes).
    feature_size : int
        Side the image is resized to before the pretrained network (a multiple of 32); the
        four maps are at a half, a quarter, an eighth and a sixteenth of it.
    cond_dim : int
        Size of the condition vector ``score`` takes; 0 for an unconditional discriminator.
    """

    #: ``features`` is a fixed function (no trainable parameter): an objective may reuse one
    #: pass over a batch for the discriminator's and the generator's steps.
    frozen_features = True

    def __init__(self, width: int = 64, feature_size: int = 64, cond_dim: int = 0) -> None:
        super().__init__()
        from atelier.errors import InvalidArgument

        if feature_size < 32 or feature_size % 32:
            raise InvalidArgument(f"projected_size must be a multiple of 32, at least 32; got {feature_size}")
        self.features_net = ProjectedFeatures(feature_size)
        self.sides = [feature_size // 2 ** (k + 1) for k in range(len(MIXED_CHANNELS))]
        discs = [ScaleDiscriminator(c, s, width, cond_dim) for c, s in zip(MIXED_CHANNELS, self.sides)]
        self.discs = nn.ModuleList(spectral_norm_(init_dcgan_(d)) for d in discs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, F)``: the four mixed feature maps, flattened and concatenated."""
        return torch.cat([f.flatten(1) for f in self.features_net(x)], dim=1)

    def maps(self, h: torch.Tensor) -> list[torch.Tensor]:
        """The four ``(B, C_k, S_k, S_k)`` maps back from flattened features ``h``."""
        sizes = [c * s * s for c, s in zip(MIXED_CHANNELS, self.sides)]
        return [part.reshape(h.shape[0], c, s, s)
                for part, c, s in zip(h.split(sizes, dim=1), MIXED_CHANNELS, self.sides)]

    def score(self, h: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, K)`` patch logits of every scale from features ``h`` (and the condition)."""
        return torch.cat([d(m, cond) for d, m in zip(self.discs, self.maps(h))], dim=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(self.features(x), cond)


class ProjectedClassDiscriminator(ProjectedDiscriminator):
    """The class-conditional projected discriminator ``(x, y (B,)) -> (B, K)`` for the cGAN,
    with the auxiliary class head ``classify(h) -> (B, num_classes)`` (a linear layer on the
    coarsest map averaged over positions) that the cGAN objective's AC-GAN term uses."""

    def __init__(self, num_classes: int, width: int = 64, feature_size: int = 64, embed_dim: int = 128) -> None:
        super().__init__(width, feature_size, cond_dim=embed_dim)
        self.embed = nn.Embedding(num_classes, embed_dim)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)
        self.classify_head = nn.Linear(MIXED_CHANNELS[-1], num_classes)

    def score(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().score(h, self.embed(y))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.score(self.features(x), y)

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, num_classes)`` class logits from flattened features ``h``."""
        return self.classify_head(self.maps(h)[-1].mean(dim=(2, 3)))
