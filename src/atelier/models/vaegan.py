"""VAE-GAN: a VAE whose decoder doubles as a GAN generator against a DCGAN discriminator.

Three modules, trained jointly by the objective (Larsen et al. 2016, Algorithm 1):
``encoder`` and ``decoder`` are the VAE's (:mod:`atelier.models.vae`), ``discriminator`` is
DCGAN's (:mod:`atelier.models.dcgan`), whose ``features(x)`` provide the learned similarity
metric (:meth:`VAEGAN.feature_loss`). ``loss(x)`` gives the pixel VAE terms; adversarial
terms come from :mod:`atelier.models.gan_losses` on ``discriminator`` logits.

Reference: Larsen, Sønderby, Larochelle & Winther (2016), "Autoencoding beyond pixels using
a learned similarity metric", ICML.

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> m = build_model("vaegan", {"resolution": 16, "width": 8, "latent_dim": 4})
>>> x = torch.rand(2, 1, 16, 16)
>>> x_rec, mu, logvar = m(x)
>>> m.discriminator(x_rec).shape
torch.Size([2])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from atelier.models.dcgan import GANLossName, build_discriminator
from atelier.models.registry import register_model
from atelier.models.vae import BaseVAEConfig, VAEDecoder, VAEEncoder, VAEMixin

__all__ = ["VAEGANConfig", "VAEGAN"]


@dataclass
class VAEGANConfig(BaseVAEConfig):
    """VAE fields (:class:`~atelier.models.vae.VAEConfig`) plus DCGAN's ``loss`` and
    ``spectral_norm`` for the discriminator."""

    loss: GANLossName = "nonsaturating"
    spectral_norm: bool = False


@register_model("vaegan", VAEGANConfig)
class VAEGAN(VAEMixin, nn.Module):
    """VAE-GAN (Larsen et al. 2016): VAE encoder and decoder/generator plus a DCGAN discriminator.

    ``encode``, ``decode``, ``forward``, ``loss`` (pixel-space VAE terms) and ``sample`` are
    :class:`VAE`'s; ``feature_loss`` is the learned similarity.
    """

    def __init__(self, config: VAEGANConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = VAEEncoder(c.channels, c.resolution, c.width, c.latent_dim)
        self.decoder = VAEDecoder(c.channels, c.resolution, c.width, c.latent_dim)
        self._init_latent_prior()
        self.discriminator = build_discriminator(c)

    def feature_loss(self, x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
        """Learned-similarity reconstruction ``0.5 * ||Dis_l(x) - Dis_l(x_rec)||^2`` per image.

        ``Dis_l`` is the discriminator's last conv layer (:meth:`DCGANDiscriminator.features`);
        Larsen et al. 2016, eq. 8 (Gaussian with unit variance, constants dropped).
        """
        f_real = self.discriminator.features(x)
        f_rec = self.discriminator.features(x_rec)
        return 0.5 * (f_real - f_rec).pow(2).sum() / x.shape[0]
