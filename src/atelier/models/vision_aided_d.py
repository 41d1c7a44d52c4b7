"""A convolutional discriminator and a projected one judging together ("vision-aided" GAN).

Kumari, Zhang, Shechtman & Zhu (2022), "Ensembling Off-the-shelf Models for GAN Training"
(CVPR, arXiv:2112.09130): keep the GAN's own discriminator, which learns its features from
the data, and add one that judges frozen pretrained features; the generator answers to both.
Here the second is :class:`~atelier.models.projected_d.ProjectedDiscriminator` (EfficientNet-
Lite0 with the Projected GAN's mixing, Sauer et al. 2021).

The logits are ``(B, 2K)``: the convolutional discriminator's one logit repeated ``K`` times
beside the projected one's ``K`` patch logits, so that the GAN losses, which average over
logits, weigh the two discriminators equally.

``features(x)`` is the image itself (flattened) beside the projected features: both are fixed
functions of ``x``, so the objective may reuse one pass over the fakes for the
discriminator's and the generator's steps (``frozen_features``), as it does for the projected
discriminator alone; ``score(h)`` runs the trainable parts.

Example
-------
>>> import torch
>>> from atelier.models.dcgan import DCGANDiscriminator
>>> d = VisionAidedDiscriminator(DCGANDiscriminator(1, 32, 8), ProjectedDiscriminator(8, 32), (1, 32, 32))
>>> d(torch.rand(2, 1, 32, 32)).shape
torch.Size([2, 104])
"""

from __future__ import annotations

import torch
from torch import nn

from atelier.models.projected_d import ProjectedDiscriminator

__all__ = ["VisionAidedDiscriminator"]


class VisionAidedDiscriminator(nn.Module):
    """``(B, C, R, R)`` in [0, 1] -> ``(B, 2K)`` logits of ``conv`` (repeated) and ``projected``.

    Parameters
    ----------
    conv : nn.Module
        ``(B, C, R, R) -> (B,)`` logits (the family's own discriminator).
    projected : ProjectedDiscriminator
        The discriminator on pretrained features, ``(B, C, R, R) -> (B, K)``.
    image_shape : (C, R, R)
        The images' shape, to unflatten them in :meth:`score`.
    """

    frozen_features = True

    def __init__(self, conv: nn.Module, projected: ProjectedDiscriminator, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.conv = conv
        self.projected = projected
        self.image_shape = tuple(image_shape)
        self._pixels = image_shape[0] * image_shape[1] * image_shape[2]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C*R*R + F)``: the image, flattened, then the projected features."""
        return torch.cat([x.flatten(1), self.projected.features(x)], dim=1)

    def score(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, 2K)`` logits from :meth:`features`' output."""
        image = h[:, : self._pixels].reshape(h.shape[0], *self.image_shape)
        patches = self.projected.score(h[:, self._pixels:])
        own = self.conv(image).reshape(h.shape[0], 1).expand_as(patches)
        return torch.cat([own, patches], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(x))
