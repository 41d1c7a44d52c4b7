"""Text-conditional GAN (Reed et al. 2016, GAN-CLS / GAN-INT) on the conditional GAN's layers.

Reed, Akata, Yan, Logeswaran, Schiele & Lee (2016), "Generative Adversarial Text to Image
Synthesis". A caption's token ids (atelier's :class:`~atelier.text.CaptionTokenizer`) are read
by a :class:`~atelier.text.encoder.TextEncoder`; its pooled state is the text embedding.

Generator ``G(z, tokens)``: the pooled state goes through one linear layer to a compressed
``cond_dim`` embedding (128 in Reed et al.), optionally (``cond_augment``, off by default)
with the conditioning augmentation of StackGAN (Zhang et al. 2017, section 3.1: the layer
gives a mean and a log-variance and the embedding is drawn ``c = mu + sigma * eps``,
``eps ~ N(0, I)``, with a KL term towards ``N(0, I)`` in the generator's loss). StackGAN's
text encoder is pre-trained and fixed; here it trains with the GAN, and the KL term wins:
on ``scenes`` at 16 px (batch 32, 600 steps) the KL fell to 0.001 and the images did not
depend on the prompt at all (spread over prompts 1e-4), while without the augmentation every
row of the grid took its prompt's background colour (spread 0.40).
``concat(z, c)`` feeds the DCGAN generator, each of whose
BatchNorms takes its scale and shift from ``c`` (FiLM / conditional BatchNorm, Perez et al.
2018 and de Vries et al. 2017: the class embedding of :mod:`atelier.models.cgan` made a linear
map of the text embedding).

Discriminator ``D(x, tokens)``: the projection discriminator of :mod:`atelier.models.cgan`
(Miyato & Koyama 2018) with the class embedding replaced by a linear projection of D's own
text embedding ``e``: ``D(x, t) = linear(h) + <project(e), h>`` with ``h`` the conv features
summed over positions. Spectral norm wraps the conv stack, ``linear`` and ``project`` (not the
text encoder, whose LayerNorms already bound it). The matching-aware loss is the objective's
(:mod:`atelier.train.objectives.text_gan`).

Why two text encoders, one in G and one in D. Reed et al. used a text encoder pre-trained for
image-text matching and kept fixed; atelier has none, so the encoders train with the GAN.
A shared encoder would be pulled two ways by the two players' opposite losses (D's pushes it
to separate matching from mismatching captions, G's to whatever fools D), and the encoder
would live in D while sampling needs only G. With one encoder each, D's is trained by the
matching-aware loss (which is exactly a text-image matching objective, the role of Reed's
pre-trained embedding), G's by the generator loss, and the generator with its encoder is one
self-contained module: its EMA average (what is exported and sampled) covers the text path
too. The encoders are small (2 blocks of 128 by default, about 0.4 M parameters each).

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> gan = build_model("text-gan", {"resolution": 16, "width": 8, "vocab_size": 12, "text_dim": 16,
...                                "text_layers": 1, "text_heads": 2, "cond_dim": 8}).eval()
>>> tokens = torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])
>>> x = gan(torch.randn(2, gan.config.latent_dim), tokens)
>>> x.shape, gan.discriminator(x, tokens).shape
(torch.Size([2, 3, 16, 16]), torch.Size([2]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from atelier.models.dcgan import DCGANGenerator, discriminator_norm
from atelier.models.layers import DownStack, init_dcgan_, spectral_norm_, to_signed, to_unit
from atelier.models.projected_d import (
    DiscriminatorKind,
    ProjectedDiscriminator,
    check_projected_fields,
    projected_feature_size,
)
from atelier.models.registry import ModelConfig, check_range, register_model
from atelier.text.encoder import PAD_ID, TextEncoder

__all__ = ["TextGANConfig", "TextGAN", "FiLMBatchNorm2d", "TextGenerator", "TextProjectionDiscriminator",
           "TextProjectedDiscriminator"]


@dataclass
class TextGANConfig(ModelConfig):
    """Text-conditional GAN hyper-parameters.

    resolution : 16, 32, 64 or 128 (square images). channels : 1 or 3.
    latent_dim, width : the noise size and the widest conv stage, as the DCGAN's.
    cond_dim : size of the generator's compressed text embedding (128 in Reed et al.).
    cond_augment : StackGAN's conditioning augmentation (the embedding drawn from a Gaussian).
    loss : ``hinge`` (with spectral norm, the projection GAN's setting) or ``nonsaturating``.
    spectral_norm : spectral norm on D's conv stack and heads.
    vocab_size : ids of the tokenizer (a training run sets it from its tokenizer).
    text_dim, text_layers, text_heads, text_max_length : each text encoder's width, blocks,
        heads and the most tokens it reads.
    discriminator, projected_size, projected_width : the discriminator's kind, ``conv`` (the
        projection discriminator below) or ``projected`` (:class:`TextProjectedDiscriminator`).
    """

    resolution: int = 32
    channels: int = 3
    latent_dim: int = 100
    width: int = 64
    cond_dim: int = 128
    cond_augment: bool = False
    loss: Literal["hinge", "nonsaturating"] = "hinge"
    spectral_norm: bool = True
    vocab_size: int = 1000
    text_dim: int = 128
    text_layers: int = 2
    text_heads: int = 4
    text_max_length: int = 48
    discriminator: DiscriminatorKind = "conv"
    projected_size: int = 0
    projected_width: int = 16

    def check(self) -> None:
        self._check_image_fields()
        self._check_latent_fields()
        check_projected_fields(self)
        name = type(self).__name__
        check_range(f"{name}.cond_dim", self.cond_dim, 1, 4096)
        check_range(f"{name}.vocab_size", self.vocab_size, 5, 1_000_000)
        check_range(f"{name}.text_dim", self.text_dim, 8, 2048)
        check_range(f"{name}.text_layers", self.text_layers, 1, 24)
        check_range(f"{name}.text_heads", self.text_heads, 1, 64)
        self._require(self.text_dim % self.text_heads == 0, "text_dim", f"a multiple of text_heads ({self.text_heads})")
        check_range(f"{name}.text_max_length", self.text_max_length, 3, 512)


def _text_encoder(c: TextGANConfig) -> TextEncoder:
    return TextEncoder(c.vocab_size, c.text_dim, c.text_layers, c.text_heads, c.text_max_length)


def _mask(tokens: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return tokens != PAD_ID if mask is None else mask


class FiLMBatchNorm2d(nn.Module):
    """``(x (B, F, H, W), c (B, D)) -> (B, F, H, W)``: BatchNorm without its own affine, then
    ``(1 + gamma(c)) * x + beta(c)`` with ``gamma``, ``beta`` linear in ``c`` (zero at
    initialisation: the layer starts as a plain BatchNorm, as the cGAN's starts at scale 1)."""

    def __init__(self, features: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(features, affine=False)
        self.film = nn.Linear(cond_dim, 2 * features)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(c)[:, :, None, None].chunk(2, dim=1)
        return self.norm(x) * (1.0 + gamma) + beta


class TextGenerator(nn.Module):
    """``(z (B, latent_dim), tokens (B, L)) -> (B, C, R, R)`` in [0, 1], in three parts the
    objective also calls one by one: :meth:`embed` (tokens -> pooled text state), :meth:`condition`
    (pooled state -> compressed embedding ``c`` and its KL term) and :meth:`decode` (``z``, ``c``
    -> images)."""

    def __init__(self, c: TextGANConfig) -> None:
        super().__init__()
        self.cond_dim, self.augment = c.cond_dim, c.cond_augment
        self.encoder = _text_encoder(c)
        self.compress = nn.Linear(c.text_dim, c.cond_dim * (2 if c.cond_augment else 1))
        plain = init_dcgan_(DCGANGenerator(c.latent_dim + c.cond_dim, c.channels, c.resolution, c.width))
        self.layers = nn.ModuleList(
            FiLMBatchNorm2d(m.num_features, c.cond_dim) if isinstance(m, nn.BatchNorm2d) else m
            for m in [*plain.project, *plain.up.net]
        )

    def embed(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, text_dim)``: the encoder's pooled state of each caption."""
        return self.encoder(tokens, _mask(tokens, mask))[1]

    def condition(self, pooled: torch.Tensor, eps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(c (B, cond_dim), kl ())`` from pooled states. With conditioning augmentation ``c =
        mu + exp(logvar / 2) * eps`` (``eps`` None: ``c = mu``) and ``kl`` the batch mean of
        ``KL(N(mu, sigma^2) || N(0, I))``; without, ``c`` is the projection and ``kl`` 0."""
        h = F.leaky_relu(self.compress(pooled), 0.2)
        if not self.augment:
            return h, h.new_zeros(())
        mu, logvar = h.chunk(2, dim=1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()
        c = mu if eps is None else mu + (0.5 * logvar).exp() * eps
        return c, kl

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, c], dim=1).reshape(z.shape[0], -1, 1, 1)
        for layer in self.layers:
            h = layer(h, c) if isinstance(layer, FiLMBatchNorm2d) else layer(h)
        return to_unit(torch.tanh(h))

    def forward(self, z: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor | None = None,
                eps: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(z, self.condition(self.embed(tokens, mask), eps)[0])


class TextProjectionDiscriminator(nn.Module):
    """``(x (B, C, R, R) in [0, 1], tokens (B, L)) -> (B,)`` logits ``linear(h) + <project(e), h>``
    with ``e`` the pooled state of D's own text encoder."""

    def __init__(self, c: TextGANConfig) -> None:
        super().__init__()
        self.encoder = _text_encoder(c)
        self.body = DownStack(c.channels, c.resolution, c.width, discriminator_norm(c.loss, c.spectral_norm))
        f = self.body.out_channels
        self.linear = nn.Linear(f, 1, bias=c.loss == "nonsaturating")
        self.project = nn.Linear(c.text_dim, f, bias=False)
        for part in (self.body, self.linear, self.project):
            init_dcgan_(part)
            if c.spectral_norm:
                spectral_norm_(part)

    def embed(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, text_dim)``: D's text embedding of each caption."""
        return self.encoder(tokens, _mask(tokens, mask))[1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, F)``: the conv features summed over positions."""
        return self.body(to_signed(x)).sum(dim=(2, 3))

    def score(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """``(B,)`` logits from features ``h`` (B, F) and text embeddings ``e`` (B, text_dim)."""
        return self.linear(h).squeeze(1) + (self.project(e) * h).sum(dim=1)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(self.features(x), self.embed(tokens, mask))


class TextProjectedDiscriminator(ProjectedDiscriminator):
    """The projected discriminator conditioned on D's own text embedding: ``(x, tokens) ->
    (B, K)`` patch logits ``<D_k(x), P(e)>`` (:mod:`atelier.models.projected_d`)."""

    def __init__(self, c: TextGANConfig) -> None:
        super().__init__(c.projected_width, projected_feature_size(c), cond_dim=c.text_dim)
        self.encoder = _text_encoder(c)

    def embed(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, text_dim)``: D's text embedding of each caption."""
        return self.encoder(tokens, _mask(tokens, mask))[1]

    def forward(self, x: torch.Tensor, tokens: torch.Tensor,  # type: ignore[override]
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(self.features(x), self.embed(tokens, mask))


@register_model("text-gan", TextGANConfig)
class TextGAN(nn.Module):
    """Text-to-image GAN (Reed et al. 2016): ``generator(z, tokens)`` and
    ``discriminator(x, tokens)``; ``forward(z, tokens)`` runs the generator. Sample with
    :func:`atelier.tasks.text_gan.generate_text_gan` (prompts in, images out)."""

    def __init__(self, config: TextGANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = TextGenerator(config)
        projected = config.discriminator == "projected"
        self.discriminator = (TextProjectedDiscriminator if projected else TextProjectionDiscriminator)(config)

    def forward(self, z: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(B, C, R, R)`` in [0, 1] for noise ``(B, latent_dim)`` and token ids ``(B, L)``
        (the conditioning augmentation's mean embedding)."""
        return self.generator(z, tokens, mask)
