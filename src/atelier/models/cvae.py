"""Conditional VAE: encoder and decoder both see a one-hot label.

The encoder concatenates ``one_hot(y)`` to its flattened conv features before the
``(mu, logvar)`` layer; the decoder concatenates it to ``z``. Sampling draws ``z`` from the
prior and decodes it with the requested labels.

Reference: Sohn, Lee & Yan (2015), "Learning Structured Output Representation using Deep
Conditional Generative Models".

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> cvae = build_model("cvae", {"resolution": 16, "width": 8, "latent_dim": 4, "num_classes": 3})
>>> cvae.sample(2, labels=2, generator=torch.Generator().manual_seed(0)).shape
torch.Size([2, 1, 16, 16])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from atelier.errors import InvalidArgument
from atelier.models.latent_prior import ClassLatentGMM
from atelier.models.layers import PriorSamplingMixin
from atelier.models.registry import ModelConfig, register_model
from atelier.models.vae import ReconName, VAEDecoder, VAEEncoder, posterior_means, reparameterize, vae_loss

__all__ = ["CVAEConfig", "CVAE"]


@dataclass
class CVAEConfig(ModelConfig):
    """As :class:`~atelier.models.vae.VAEConfig`, plus ``num_classes`` (labels 0 .. K-1);
    ``prior_components`` here counts the mixture components fitted per class."""

    resolution: int = 32
    channels: int = 1
    latent_dim: int = 32
    width: int = 32
    num_classes: int = 10
    beta: float = 1.0
    recon: ReconName = "bernoulli"
    recon_sigma: float = 0.1
    prior_components: int = 5

    def check(self) -> None:
        self._check_image_fields()
        self._check_latent_fields()
        self._require(self.num_classes >= 2, "num_classes", "an integer >= 2")
        self._require(self.beta >= 0, "beta", "a number >= 0")
        self._require(self.recon_sigma > 0, "recon_sigma", "a number > 0")
        self._require(0 <= self.prior_components <= 1000, "prior_components", "an integer from 0 to 1000")


@register_model("cvae", CVAEConfig)
class CVAE(PriorSamplingMixin, nn.Module):
    """Conditional VAE (Sohn et al. 2015): encoder and decoder conditioned on a one-hot label.

    ``sample(n, labels=...)``: one int, ``n`` ints, or ``None`` to cycle 0..K-1.
    """

    conditional = True

    def __init__(self, config: CVAEConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = VAEEncoder(c.channels, c.resolution, c.width, c.latent_dim, cond_dim=c.num_classes)
        self.decoder = VAEDecoder(c.channels, c.resolution, c.width, c.latent_dim, cond_dim=c.num_classes)
        k = c.prior_components
        self.latent_prior = ClassLatentGMM(c.num_classes, k, c.latent_dim) if k else None

    def one_hot(self, y: torch.Tensor) -> torch.Tensor:
        """``(B,)`` integer labels -> ``(B, num_classes)`` float one-hot."""
        k = self.config.num_classes
        if y.dtype.is_floating_point or y.ndim != 1:
            raise InvalidArgument(f"labels must be a (B,) integer tensor, got {tuple(y.shape)} of {y.dtype}")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= k):
            raise InvalidArgument(f"labels must be in 0..{k - 1}, got {int(y.min())}..{int(y.max())}")
        return F.one_hot(y.long(), k).float()

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` for images ``(B, C, R, R)`` and labels ``(B,)``."""
        return self.encoder(x, self.one_hot(y))

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, R, R)`` in [0, 1] for latents ``(B, latent_dim)`` and labels ``(B,)``."""
        return self.decoder(z, self.one_hot(y))

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(reconstruction in [0, 1], mu, logvar)``."""
        cond = self.one_hot(y)
        mu, logvar = self.encoder(x, cond)
        return self.decoder(reparameterize(mu, logvar, generator=generator), cond), mu, logvar

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """``{"recon", "kl", "total"}`` for images ``x`` in [0, 1] and labels ``y``."""
        cond = self.one_hot(y)
        mu, logvar = self.encoder(x, cond)
        logits = self.decoder.logits(reparameterize(mu, logvar, generator=generator), cond)
        c = self.config
        return vae_loss(x, logits, mu, logvar, beta=c.beta, recon=c.recon, recon_sigma=c.recon_sigma)

    def _decode_prior(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.decoder(z, self.one_hot(y))

    def draw_prior(
        self, n: int, *, generator: torch.Generator | None, device: torch.device | str, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.latent_prior is None or labels is None:
            return super().draw_prior(n, generator=generator, device=device)
        return self.latent_prior.sample(labels, generator=generator, device=device)

    def fit_prior(self, images: torch.Tensor, labels: torch.Tensor | None = None, *, batch_size: int = 500, seed: int = 0) -> None:
        """Fit each class's latent mixture to the posterior means of its ``images``
        ``(N, C, R, R)``; ``labels`` ``(N,)`` are required. Training runs call this on export."""
        if self.latent_prior is None:
            return
        if labels is None:
            raise InvalidArgument("a conditional VAE fits its per-class prior from labelled images")
        labels = torch.as_tensor(labels).long()
        self.latent_prior.fit(posterior_means(self, images, labels, batch_size=batch_size), labels, seed=seed)
