"""DCGAN: an unconditional convolutional GAN for square images of 16 to 128 pixels.

Generator ``z (B, latent_dim) -> (B, C, R, R)`` in [0, 1] (tanh inside, mapped by
:func:`~atelier.models.layers.to_unit`); discriminator ``(B, C, R, R)`` in [0, 1] ->
``(B,)`` logits. Strided 4x4 convs, LeakyReLU 0.2 in D, ReLU and BatchNorm in G, weights
N(0, 0.02). The discriminator's normalisation follows the loss: BatchNorm, none with
spectral norm, LayerNorm for WGAN-GP (batch statistics would break the per-sample gradient
penalty, Gulrajani et al. 2017, section 4).

Reference: Radford, Metz & Chintala (2015), "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", arXiv:1511.06434.

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> gan = build_model("dcgan", {"resolution": 16, "channels": 3, "width": 8, "latent_dim": 16})
>>> images = gan.sample(4, generator=torch.Generator().manual_seed(0))
>>> images.shape, gan.discriminator(images).shape
(torch.Size([4, 3, 16, 16]), torch.Size([4]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from atelier.models.layers import (
    DownStack,
    Norm,
    PriorSamplingMixin,
    UpStack,
    init_dcgan_,
    spectral_norm_,
    stage_widths,
    to_signed,
    to_unit,
)
from atelier.models.projected_d import (
    ProjectedDiscriminator,
    check_projected_fields,
    projected_feature_size,
)
from atelier.models.registry import ModelConfig, register_model
from atelier.models.vision_aided_d import VisionAidedDiscriminator

__all__ = [
    "DCGANConfig",
    "DCGAN",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "discriminator_norm",
    "build_discriminator",
]

GANLossName = Literal["nonsaturating", "hinge", "wgan-gp"]
DCGANDiscriminatorKind = Literal["conv", "projected", "conv+projected"]


@dataclass
class DCGANConfig(ModelConfig):
    """DCGAN hyper-parameters.

    resolution : 16, 32, 64 or 128 (square images).
    channels : 1 (grey) or 3 (RGB).
    latent_dim : size of the noise vector z.
    width : channels of the widest-resolution stage; deeper stages double up to ``8 * width``.
    loss : ``nonsaturating``, ``hinge`` or ``wgan-gp`` (see :mod:`atelier.models.gan_losses`).
    spectral_norm : spectral norm on every discriminator layer (then no BatchNorm in D).
    discriminator, projected_size, projected_width : the discriminator's kind: ``conv``,
        ``projected`` (see :mod:`atelier.models.projected_d`) or ``conv+projected``, both
        judging together (:mod:`atelier.models.vision_aided_d`).
    """

    resolution: int = 32
    channels: int = 1
    latent_dim: int = 100
    width: int = 64
    loss: GANLossName = "nonsaturating"
    spectral_norm: bool = False
    discriminator: DCGANDiscriminatorKind = "conv"
    projected_size: int = 0
    projected_width: int = 16

    def check(self) -> None:
        self._check_image_fields()
        self._check_latent_fields()
        check_projected_fields(self)


def discriminator_norm(loss: str, spectral_norm: bool) -> Norm:
    """Normalisation of D's inner layers: none with spectral norm, layer for WGAN-GP, else batch."""
    if spectral_norm:
        return "none"
    return "layer" if loss == "wgan-gp" else "batch"


class DCGANGenerator(nn.Module):
    """``(B, in_dim) -> (B, C, R, R)`` in [0, 1]: a 4x4 projection then an :class:`UpStack`."""

    def __init__(self, in_dim: int, channels: int, resolution: int, width: int) -> None:
        super().__init__()
        c0 = stage_widths(resolution, width)[-1]
        self.project = nn.Sequential(
            nn.ConvTranspose2d(in_dim, c0, 4, 1, 0, bias=False), nn.BatchNorm2d(c0), nn.ReLU()
        )
        self.up = UpStack(channels, resolution, width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z.reshape(z.shape[0], -1, 1, 1))
        return to_unit(torch.tanh(self.up(h)))


class DCGANDiscriminator(nn.Module):
    """``(B, C, R, R)`` in [0, 1] -> ``(B,)`` logits: a :class:`DownStack` then a 4x4 conv.

    ``features(x)`` gives the ``(B, F, 4, 4)`` activations before the head (used by VAE-GAN's
    learned similarity). The head has no bias under WGAN-GP, where a bias cancels out of the
    loss and would receive no gradient.
    """

    def __init__(
        self, channels: int, resolution: int, width: int, *, norm: Norm = "batch", head_bias: bool = True
    ) -> None:
        super().__init__()
        self.body = DownStack(channels, resolution, width, norm)
        self.head = nn.Conv2d(self.body.out_channels, 1, 4, 1, 0, bias=head_bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(to_signed(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).reshape(x.shape[0])


def build_discriminator(config: ModelConfig) -> nn.Module:
    """DCGAN-initialised :class:`DCGANDiscriminator` for ``config``'s image size, ``width``,
    ``loss`` and ``spectral_norm`` (DCGAN and VAE-GAN configs), or with ``discriminator =
    "projected"`` a :class:`~atelier.models.projected_d.ProjectedDiscriminator` (with
    ``"conv+projected"`` both, in a :class:`~atelier.models.vision_aided_d.VisionAidedDiscriminator`)."""
    c = config
    kind = getattr(c, "discriminator", "conv")
    projected = ProjectedDiscriminator(c.projected_width, projected_feature_size(c)) if "projected" in kind else None
    if kind == "projected":
        return projected
    d = DCGANDiscriminator(
        c.channels,
        c.resolution,
        c.width,
        norm=discriminator_norm(c.loss, c.spectral_norm),
        head_bias=c.loss == "nonsaturating",
    )
    init_dcgan_(d)
    d = spectral_norm_(d) if c.spectral_norm else d
    if projected is not None:  # "conv+projected"
        return VisionAidedDiscriminator(d, projected, (c.channels, c.resolution, c.resolution))
    return d


@register_model("dcgan", DCGANConfig)
class DCGAN(PriorSamplingMixin, nn.Module):
    """Deep convolutional GAN (Radford et al. 2015), unconditional.

    Attributes ``generator`` (:class:`DCGANGenerator`) and ``discriminator``
    (:class:`DCGANDiscriminator`) are trained with separate optimizers; ``forward(z)`` runs
    the generator.
    """

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.generator = init_dcgan_(DCGANGenerator(c.latent_dim, c.channels, c.resolution, c.width))
        self.discriminator = build_discriminator(c)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, R, R)`` in [0, 1] from noise ``(B, latent_dim)``."""
        return self.generator(z)

    def _decode_prior(self, z: torch.Tensor, y: None) -> torch.Tensor:
        return self.generator(z)
