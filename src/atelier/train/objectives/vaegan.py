"""VAE-GAN objective (Larsen et al. 2016, Algorithm 1).

Per Trainer step, with ``z ~ Enc(x)``, ``x_rec = Dec(z)`` and ``x_p = Dec(z_p)``, ``z_p`` from
the prior (noise from ``ctx.generator``):

1. discriminator update on ``L_GAN``: real ``x`` against fakes ``x_rec`` and ``x_p`` (detached);
2. one update of encoder and decoder (optimizer ``"vae"``) where, as in the paper,
   - the encoder gets the gradient of ``beta * L_prior + L_llike`` (KL plus the feature-space
     reconstruction ``0.5 ||Dis_l(x) - Dis_l(x_rec)||^2``, :meth:`VAEGAN.feature_loss`),
   - the decoder gets the gradient of ``gamma * L_llike + L_GAN_G`` (the generator loss on
     ``x_rec`` and ``x_p``); ``pixel_weight`` optionally adds the pixel reconstruction term
     to both (0 in the paper).

   Both come from one backward pass: the adversarial terms see ``z`` detached (no GAN signal
   into the encoder) and the feature term is weighted ``gamma`` with its gradient into ``z``
   scaled by ``1 / gamma``, so the encoder receives it with weight 1.

Recipe: RMSProp lr 3e-4, batch 64 (Larsen et al. 2016, section 4). ``gamma`` (the paper's
gamma, section 2.3) is not fixed by the paper; 1.0 weighs content and style equally.
EMA: the decoder (the generator) — ``ema_modules() == ("decoder",)``.

Example
-------
>>> from atelier.models import build_model
>>> obj = VAEGANObjective(build_model("vaegan", {"resolution": 16, "width": 8}))
>>> sorted(obj.modules()), sorted(obj.optimizers()), obj.ema_modules()
(['decoder', 'discriminator', 'encoder'], ['discriminator', 'vae'], ('decoder',))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from atelier.errors import InvalidArgument
from atelier.models.gan_losses import get_gan_loss, gradient_penalty
from atelier.models.layers import draw_latent
from atelier.models.vae import reparameterize, vae_loss
from atelier.train.objectives import register_objective
from atelier.train.objectives.base import FamilyObjective, frozen_grads
from atelier.train.objectives.gan import split_batch

__all__ = ["VAEGANHyper", "VAEGANObjective"]


@dataclass
class VAEGANHyper:
    """VAE-GAN hyper-parameters (Larsen et al. 2016).

    lr_vae, lr_d : RMSProp learning rates of encoder+decoder and of the discriminator.
    gamma : weight of the feature reconstruction in the decoder's loss (paper's gamma, > 0).
    pixel_weight : weight of the pixel-space reconstruction term (0 = the paper).
    gp_weight : gradient-penalty weight when the model's loss is ``wgan-gp``.
    batch_size : the recipe's batch size.
    """

    lr_vae: float = 3e-4
    lr_d: float = 3e-4
    gamma: float = 1.0
    pixel_weight: float = 0.0
    gp_weight: float = 10.0
    batch_size: int = 64


def _scale_grad(t: torch.Tensor, scale: float) -> torch.Tensor:
    """``t`` in the forward pass; the gradient flowing back through it multiplied by ``scale``."""
    return t * scale + t.detach() * (1.0 - scale)


@register_objective("vaegan")
class VAEGANObjective(FamilyObjective):
    """Joint VAE-GAN training; see the module docstring for the update."""

    Hyper = VAEGANHyper
    module_paths = {"encoder": "encoder", "decoder": "decoder", "discriminator": "discriminator"}
    has_discriminator = True

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h = self.hyper
        self.loss = get_gan_loss(model.config.loss)
        self.opt_vae = torch.optim.RMSprop(
            self.params(model.encoder, model.decoder, name="encoder and decoder"), lr=self.lr(h.lr_vae)
        )
        self.opt_d = torch.optim.RMSprop(
            self.params(model.discriminator, name="discriminator"), lr=self.lr(h.lr_d)
        )

    def check_hyper(self) -> None:
        super().check_hyper()
        if not self.hyper.gamma > 0:
            raise InvalidArgument(f"gamma must be > 0, got {self.hyper.gamma}")
        if self.hyper.pixel_weight < 0:
            raise InvalidArgument(f"pixel_weight must be >= 0, got {self.hyper.pixel_weight}")

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": self.opt_vae, "discriminator": self.opt_d}

    def ema_modules(self) -> tuple[str, ...]:
        return ("decoder",)

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        x, _ = split_batch(batch)
        m, h, c = self.model, self.hyper, self.model.config
        b = x.shape[0]
        z_p = draw_latent(b, c.latent_dim, generator=ctx.generator, device=x.device)
        with ctx.autocast():
            mu, logvar = m.encoder(x)
            z = reparameterize(mu, logvar, generator=ctx.generator)
            rec_logits = m.decoder.logits(z)
            x_rec = torch.sigmoid(rec_logits)
            x_p = m.decoder(z_p)
            fakes = torch.cat([x_rec, x_p]).detach()
            d_loss = self.loss.d_loss(m.discriminator(x).float(), m.discriminator(fakes).float())
        out: dict[str, float] = {}
        if c.loss == "wgan-gp":
            real2 = torch.cat([x, x]).float()
            gp = gradient_penalty(lambda t: m.discriminator(t).float(), real2, fakes.float(), generator=ctx.generator)
            d_loss = d_loss + h.gp_weight * gp
            out["gp"] = gp.item()
        ctx.optimize("discriminator", d_loss)

        with frozen_grads(m.discriminator), ctx.autocast():
            # Feature term: decoder weight gamma, encoder weight 1 (gradient into z scaled 1/gamma).
            x_feat = m.decoder(_scale_grad(z, 1.0 / h.gamma))
            feat = m.feature_loss(x, x_feat).float()
            # Adversarial term: decoder only (z detached).
            x_adv = torch.cat([m.decoder(z.detach()), x_p])
            g_adv = self.loss.g_loss(m.discriminator(x_adv).float())
            terms = vae_loss(x, rec_logits.float(), mu.float(), logvar.float(), beta=c.beta,
                             recon=c.recon, recon_sigma=c.recon_sigma)
        loss = c.beta * terms["kl"] + h.gamma * feat + g_adv
        if h.pixel_weight:
            loss = loss + h.pixel_weight * terms["recon"]
        ctx.optimize("vae", loss)
        return {
            "d_loss": d_loss.item(),
            "g_loss": g_adv.item(),
            "feature": feat.item(),
            "kl": terms["kl"].item(),
            "recon": terms["recon"].item(),
            **out,
        }
