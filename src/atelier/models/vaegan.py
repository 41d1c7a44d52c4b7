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

from atelier.models.dcgan import DCGANDiscriminator, GANLossName, discriminator_norm
from atelier.models.layers import (
    check_no_labels,
    draw_latent,
    init_dcgan_,
    model_device,
    sampling_mode,
    spectral_norm_,
)
from atelier.models.registry import ModelConfig, register_model
from atelier.models.vae import ReconName, VAEDecoder, VAEEncoder, reparameterize, vae_loss

__all__ = ["VAEGANConfig", "VAEGAN"]


@dataclass
class VAEGANConfig(ModelConfig):
    """VAE fields (:class:`~atelier.models.vae.VAEConfig`) plus DCGAN's ``loss`` and
    ``spectral_norm`` for the discriminator."""

    resolution: int = 32
    channels: int = 1
    latent_dim: int = 32
    width: int = 32
    beta: float = 1.0
    recon: ReconName = "bernoulli"
    recon_sigma: float = 0.1
    loss: GANLossName = "nonsaturating"
    spectral_norm: bool = False

    def check(self) -> None:
        self._check_image_fields()
        self._require(self.latent_dim >= 1, "latent_dim", "a positive integer")
        self._require(1 <= self.width <= 1024, "width", "an integer from 1 to 1024")
        self._require(self.beta >= 0, "beta", "a number >= 0")
        self._require(self.recon_sigma > 0, "recon_sigma", "a number > 0")


@register_model("vaegan", VAEGANConfig)
class VAEGAN(nn.Module):
    """VAE-GAN (Larsen et al. 2016): VAE encoder and decoder/generator plus a DCGAN discriminator."""

    def __init__(self, config: VAEGANConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = VAEEncoder(c.channels, c.resolution, c.width, c.latent_dim)
        self.decoder = VAEDecoder(c.channels, c.resolution, c.width, c.latent_dim)
        self.discriminator = init_dcgan_(
            DCGANDiscriminator(
                c.channels,
                c.resolution,
                c.width,
                norm=discriminator_norm(c.loss, c.spectral_norm),
                head_bias=c.loss == "nonsaturating",
            )
        )
        if c.spectral_norm:
            spectral_norm_(self.discriminator)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``(B, latent_dim)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, R, R)`` in [0, 1]."""
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(reconstruction in [0, 1], mu, logvar)``."""
        mu, logvar = self.encoder(x)
        return self.decoder(reparameterize(mu, logvar, generator=generator)), mu, logvar

    def loss(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Pixel-space VAE terms ``{"recon", "kl", "total"}`` (as :meth:`VAE.loss`)."""
        mu, logvar = self.encoder(x)
        logits = self.decoder.logits(reparameterize(mu, logvar, generator=generator))
        c = self.config
        return vae_loss(x, logits, mu, logvar, beta=c.beta, recon=c.recon, recon_sigma=c.recon_sigma)

    def feature_loss(self, x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
        """Learned-similarity reconstruction ``0.5 * ||Dis_l(x) - Dis_l(x_rec)||^2`` per image.

        ``Dis_l`` is the discriminator's last conv layer (:meth:`DCGANDiscriminator.features`);
        Larsen et al. 2016, eq. 8 (Gaussian with unit variance, constants dropped).
        """
        f_real = self.discriminator.features(x)
        f_rec = self.discriminator.features(x_rec)
        return 0.5 * (f_real - f_rec).pow(2).sum() / x.shape[0]

    def sample(
        self,
        n: int,
        *,
        labels: None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """``n`` images ``(n, C, R, R)`` in [0, 1] decoded from prior noise drawn with ``generator``."""
        check_no_labels(labels, "vaegan")
        device = device or model_device(self)
        z = draw_latent(n, self.config.latent_dim, generator=generator, device=device)
        with sampling_mode(self):
            return self.decoder(z)
