"""VAE: a convolutional variational auto-encoder with a Gaussian latent and a beta weight.

``encode(x) -> (mu, logvar)``, ``reparameterize`` draws ``z = mu + sigma * eps``, ``decode(z)``
gives a [0, 1] image (sigmoid). ``loss(x)`` returns the negative ELBO terms per image
(summed over pixels and latent units, averaged over the batch):

- ``recon``: Bernoulli ``BCE(x_hat, x)`` or Gaussian ``||x - x_hat||^2 / (2 recon_sigma^2)``;
- ``kl``: ``KL(N(mu, sigma^2) || N(0, 1)) = -0.5 * sum(1 + logvar - mu^2 - exp(logvar))``;
- ``total = recon + beta * kl``.

References: Kingma & Welling (2014), "Auto-Encoding Variational Bayes", appendix B (the KL);
Higgins et al. (2017), "beta-VAE".

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> vae = build_model("vae", {"resolution": 16, "width": 8, "latent_dim": 4})
>>> x = torch.rand(2, 1, 16, 16)
>>> sorted(vae.loss(x, generator=torch.Generator().manual_seed(0)))
['kl', 'recon', 'total']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from atelier.models.latent_prior import LatentGMM
from atelier.models.layers import (
    DownStack,
    PriorSamplingMixin,
    UpStack,
    model_device,
    sampling_mode,
    stage_widths,
    to_signed,
)
from atelier.models.registry import ModelConfig, register_model

__all__ = [
    "BaseVAEConfig", "VAEConfig", "VAE", "VAEMixin", "VAEEncoder", "VAEDecoder", "vae_loss", "reparameterize",
    "posterior_means",
]

ReconName = Literal["bernoulli", "gaussian"]


@dataclass
class BaseVAEConfig(ModelConfig):
    """The fields and checks of the unconditional VAE-like configs (VAE, VAE-GAN)."""

    resolution: int = 32
    channels: int = 1
    latent_dim: int = 32
    width: int = 32
    beta: float = 1.0
    recon: ReconName = "bernoulli"
    recon_sigma: float = 0.1
    prior_components: int = 50

    def check(self) -> None:
        self._check_image_fields()
        self._check_latent_fields()
        self._require(self.beta >= 0, "beta", "a number >= 0")
        self._require(self.recon_sigma > 0, "recon_sigma", "a number > 0")
        self._require(0 <= self.prior_components <= 1000, "prior_components", "an integer from 0 to 1000")


@dataclass
class VAEConfig(BaseVAEConfig):
    """VAE hyper-parameters.

    resolution : 16, 32, 64 or 128.  channels : 1 or 3.
    latent_dim : size of z.
    width : channels of the widest-resolution conv stage (deeper ones double up to 8x).
    beta : weight of the KL term (1 = the plain ELBO).
    recon : ``bernoulli`` (binary cross-entropy) or ``gaussian`` (squared error).
    recon_sigma : the Gaussian decoder's fixed standard deviation (``gaussian`` only).
    prior_components : K > 0: after training, a K-Gaussian mixture is fitted to the posterior
        means of training images and ``sample`` draws from it (ex-post density estimation,
        :mod:`atelier.models.latent_prior`); 0: ``sample`` draws z from N(0, I).
    """


class VAEEncoder(nn.Module):
    """``(x (B, C, R, R), cond (B, K) | None) -> (mu, logvar)``, each ``(B, latent_dim)``.

    A BatchNorm :class:`DownStack` to 4x4, flattened, concatenated with ``cond`` (CVAE's
    one-hot label; ``cond_dim = 0`` for none) and a linear layer.
    """

    def __init__(self, channels: int, resolution: int, width: int, latent_dim: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.body = DownStack(channels, resolution, width, "batch")
        self.cond_dim = cond_dim
        self.head = nn.Linear(self.body.out_channels * 16 + cond_dim, 2 * latent_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(to_signed(x)).flatten(1)
        if self.cond_dim:
            h = torch.cat([h, cond], dim=1)
        mu, logvar = self.head(h).chunk(2, dim=1)
        return mu, logvar


class VAEDecoder(nn.Module):
    """``(z (B, latent_dim), cond (B, K) | None) -> (B, C, R, R)`` in [0, 1] (sigmoid)."""

    def __init__(self, channels: int, resolution: int, width: int, latent_dim: int, cond_dim: int = 0) -> None:
        super().__init__()
        c0 = stage_widths(resolution, width)[-1]
        self.cond_dim = cond_dim
        self.project = nn.Linear(latent_dim + cond_dim, c0 * 16, bias=False)
        self.norm = nn.Sequential(nn.BatchNorm2d(c0), nn.ReLU())
        self.up = UpStack(channels, resolution, width)

    def logits(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Pre-sigmoid outputs (for a numerically stable BCE)."""
        if self.cond_dim:
            z = torch.cat([z, cond], dim=1)
        h = self.project(z)
        return self.up(self.norm(h.reshape(z.shape[0], -1, 4, 4)))

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.logits(z, cond))


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``mu + exp(logvar / 2) * eps``, ``eps ~ N(0, 1)`` drawn with ``generator``."""
    where = generator.device if generator is not None else mu.device
    eps = torch.randn(mu.shape, generator=generator, device=where).to(mu.device, mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def vae_loss(
    x: torch.Tensor,
    recon_logits: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    beta: float = 1.0,
    recon: str = "bernoulli",
    recon_sigma: float = 0.1,
) -> dict[str, torch.Tensor]:
    """Negative ELBO terms per image, batch mean: ``{"recon", "kl", "total"}`` scalars.

    ``recon_logits`` are the decoder's pre-sigmoid outputs; ``x`` is in [0, 1].
    """
    b = x.shape[0]
    if recon == "bernoulli":
        rec = F.binary_cross_entropy_with_logits(recon_logits, x, reduction="sum") / b
    else:
        rec = ((torch.sigmoid(recon_logits) - x) ** 2).sum() / (2.0 * recon_sigma**2 * b)
    kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum() / b
    return {"recon": rec, "kl": kl, "total": rec + beta * kl}


class VAEMixin(PriorSamplingMixin):
    """``encode``, ``decode``, ``forward``, ``loss`` and ``sample`` of an unconditional VAE over
    ``self.encoder`` (:class:`VAEEncoder`) and ``self.decoder`` (:class:`VAEDecoder`), with
    ``self.config`` a :class:`BaseVAEConfig` (shared by VAE and VAE-GAN)."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``(B, latent_dim)``, for images ``(B, C, R, R)`` in [0, 1]."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, R, R)`` in [0, 1] for latents ``(B, latent_dim)``."""
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(reconstruction in [0, 1], mu, logvar)`` for images ``x``."""
        mu, logvar = self.encoder(x)
        return self.decoder(reparameterize(mu, logvar, generator=generator)), mu, logvar

    def loss(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Pixel-space ``{"recon", "kl", "total"}`` (see the module docstring) for a batch ``x`` in [0, 1]."""
        mu, logvar = self.encoder(x)
        logits = self.decoder.logits(reparameterize(mu, logvar, generator=generator))
        c = self.config
        return vae_loss(x, logits, mu, logvar, beta=c.beta, recon=c.recon, recon_sigma=c.recon_sigma)

    def _decode_prior(self, z: torch.Tensor, y: None) -> torch.Tensor:
        return self.decoder(z)

    def _init_latent_prior(self) -> None:
        k = self.config.prior_components
        self.latent_prior = LatentGMM(k, self.config.latent_dim) if k else None

    def draw_prior(
        self, n: int, *, generator: torch.Generator | None, device: torch.device | str, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.latent_prior is None:
            return super().draw_prior(n, generator=generator, device=device)
        return self.latent_prior.sample(n, generator=generator, device=device)

    @torch.no_grad()
    def fit_prior(self, images: torch.Tensor, labels: torch.Tensor | None = None, *, batch_size: int = 500, seed: int = 0) -> None:
        """Fit the latent mixture to the posterior means of ``images`` ``(N, C, R, R)`` in
        [0, 1] (a no-op when ``prior_components`` is 0; ``labels`` are not used by an
        unconditional VAE). Training runs call this on export."""
        if self.latent_prior is None:
            return
        self.latent_prior.fit(posterior_means(self, images, batch_size=batch_size), seed=seed)


@torch.no_grad()
def posterior_means(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None, *, batch_size: int = 500) -> torch.Tensor:
    """``(N, latent_dim)`` encoder means of ``images`` (and ``labels`` for a CVAE), in batches, on CPU."""
    device = model_device(model)
    out = []
    with sampling_mode(model):
        for i in range(0, len(images), batch_size):
            args = (images[i : i + batch_size].to(device),)
            if labels is not None:
                args += (labels[i : i + batch_size].to(device),)
            out.append(model.encode(*args)[0].cpu())
    return torch.cat(out)


@register_model("vae", VAEConfig)
class VAE(VAEMixin, nn.Module):
    """Convolutional VAE with a Gaussian latent and a beta-weighted KL term.

    Attributes ``encoder`` (:class:`VAEEncoder`) and ``decoder`` (:class:`VAEDecoder`).
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = VAEEncoder(c.channels, c.resolution, c.width, c.latent_dim)
        self.decoder = VAEDecoder(c.channels, c.resolution, c.width, c.latent_dim)
        self._init_latent_prior()

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return reparameterize(mu, logvar, generator=generator)
