"""GAN objectives: DCGAN (unconditional) and the class-conditional projection GAN.

One Trainer step is one discriminator update and, every ``n_critic``-th step, one generator
update: D is updated on every step (each critic iteration sees a fresh real batch, as in
Gulrajani et al. 2017, Algorithm 1) and G on steps where ``step % n_critic == 0`` (so the
first step updates both). With ``n_critic = 1`` (DCGAN, hinge) both networks move every step.
The generator step reuses the step's fake batch (the PyTorch DCGAN recipe), scored by the
freshly updated D. Noise comes from ``ctx.generator``, so runs are reproducible.

The default recipe follows the model's ``loss`` (:data:`GAN_RECIPES`); ``hyper`` overrides it.

- ``nonsaturating``: Adam lr 2e-4 for both nets, betas (0.5, 0.999), batch 64 (Radford et al.
  2015, section 4);
- ``hinge`` (with spectral norm): Adam lr 2e-4 for both nets, betas (0.5, 0.999), one D step
  per G step: setting C of Miyato et al. 2018 ("Spectral Normalization for GANs", Table 1),
  their choice for DCGAN-sized networks. (SAGAN's TTUR, lr_g 1e-4 / lr_d 4e-4 with beta1 0,
  reached 13 % label accuracy where this reached 88 % after 1,500 cGAN steps on MNIST.)
- ``wgan-gp``: Adam lr 1e-4, betas (0.0, 0.9), n_critic 5, gp_weight 10 (Gulrajani et al.
  2017, Algorithm 1).

The conditional GAN draws its fakes with the real batch's labels (so fake labels follow the
data's class frequencies) and scores real and fake with those labels; unconditional models
ignore labels.

Example
-------
>>> from atelier.models import build_model
>>> gan = build_model("dcgan", {"resolution": 16, "width": 8, "loss": "wgan-gp"})
>>> obj = DCGANObjective(gan, {"n_critic": 2}, lr_scale=0.1)
>>> obj.hyper.n_critic, obj.optimizers()["generator"].param_groups[0]["lr"]
(2, 1e-05)
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from atelier.models.gan_losses import get_gan_loss, gradient_penalty
from atelier.models.layers import draw_latent
from atelier.train.diffaugment import check_policy, diff_augment
from atelier.train.objectives import register_objective
from atelier.train.objectives.base import FamilyObjective, check_labels, frozen_grads

__all__ = ["GANHyper", "GAN_RECIPES", "PROJECTED_RECIPE", "DCGANObjective", "CGANObjective", "mode_seeking_ratio", "split_batch"]


@dataclass
class GANHyper:
    """GAN training hyper-parameters (defaults: the DCGAN recipe, Radford et al. 2015).

    lr_g, lr_d : Adam learning rates of the generator and the discriminator.
    betas : Adam (beta1, beta2), shared.
    batch_size : the recipe's batch size (a suggestion for the Trainer's ``batch_size``).
    ema_decay : the suggested EMA decay of the generator weights for the Trainer (sampling
        from a weight average gives markedly better GAN samples, Yazici et al. 2019).
    n_critic : discriminator steps per generator step (G steps when ``step % n_critic == 0``).
    gp_weight : lambda of the WGAN-GP gradient penalty (``wgan-gp`` only).
    mode_seeking : lambda of the mode-seeking term (Mao et al. 2019, "Mode Seeking GANs"),
        ``lambda / (mean|G(z1) - G(z2)| / mean|z1 - z2| + 1e-5)`` added to the generator loss
        for pairs of noise vectors with the same label; 0 turns it off. Without it the
        conditional GAN's generator learnt to ignore z (samples of one digit differed by 4 of
        255 after 500 MNIST steps, real digits by 30-39); see :class:`CGANObjective`.
    augment : the DiffAugment policy (Zhao et al. 2020, :mod:`atelier.train.diffaugment`)
        applied to every image D sees, real and fake, in both steps: comma-separated
        ``color``, ``translation``, ``cutout``; empty for none. The projected discriminator's
        recipe turns all three on, as Sauer et al. do.
    class_weight : lambda of the auxiliary-classifier term (AC-GAN, Odena et al. 2017), for
        discriminators with a class head (the conditional GAN's): the head learns the labels
        of real images (cross-entropy added to D's loss) and the generator is pushed to make
        fakes the head assigns to their label (cross-entropy added to G's loss). The head is
        trained on real images only, so a collapsed or blurry fake is not a class of its own
        (the fix of later AC-GAN work, e.g. Gong et al. 2019). 0 turns it off.
    """

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    ema_decay: float = 0.999
    n_critic: int = 1
    gp_weight: float = 10.0
    mode_seeking: float = 0.0
    class_weight: float = 0.0
    augment: str = ""


#: The projected discriminator's recipe (Sauer et al. 2021, their ``train.py``): Adam lr 2e-4
#: for both nets, batch 64, DiffAugment colour + translation + cutout; but the DCGAN's betas
#: (0.5, 0.999): with the paper's (0, 0.99) atelier's DCGAN generator collapsed on MNIST (718
#: steps: classifier IS 2.10, one digit 67 %), with (0.5, 0.999) it did not (1,125 steps: 4.64).
PROJECTED_RECIPE = {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "augment": "color,translation,cutout"}

GAN_RECIPES: dict[str, GANHyper] = {
    "nonsaturating": GANHyper(),
    "hinge": GANHyper(lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)),
    "wgan-gp": GANHyper(lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9), n_critic=5, gp_weight=10.0),
}


def split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(images, labels or None)`` from a Trainer batch (a tensor or an (images, labels) pair)."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    return batch[0], (batch[1] if len(batch) > 1 else None)


class _GANObjective(FamilyObjective):
    Hyper = GANHyper
    module_paths = {"generator": "generator", "discriminator": "discriminator"}
    has_discriminator = True
    conditional = False

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h = self.hyper
        self.loss = get_gan_loss(model.config.loss)
        self.wgan = model.config.loss == "wgan-gp"
        self.opt_g = torch.optim.Adam(
            self.params(model.generator, name="generator"), lr=self.lr(h.lr_g), betas=h.betas
        )
        self.opt_d = torch.optim.Adam(
            self.params(model.discriminator, name="discriminator"), lr=self.lr(h.lr_d), betas=h.betas
        )
        # the generator's figures of its last step (None until it has stepped: a resume at a
        # critic-only step reports none rather than a made-up number)
        self._last_g: float | None = None
        self._last_ms: float | None = None
        self._last_cls: float | None = None

    @classmethod
    def default_hyper(cls, config) -> GANHyper:
        hyper = copy.deepcopy(GAN_RECIPES[config.loss])
        if "projected" in getattr(config, "discriminator", "conv"):  # "projected", "conv+projected"
            hyper = dataclasses.replace(hyper, **PROJECTED_RECIPE)
        return hyper

    def check_hyper(self) -> None:
        super().check_hyper()
        check_policy(self.hyper.augment)

    def augment(self, x: torch.Tensor, ctx: Any) -> torch.Tensor:
        """``x`` through the recipe's DiffAugment (a fresh draw on every call)."""
        return diff_augment(x, self.hyper.augment, generator=ctx.generator)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def ema_modules(self) -> tuple[str, ...]:
        return ("generator",)

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        x, y = split_batch(batch)
        cond: tuple[torch.Tensor, ...] = ()
        if self.conditional:
            cond = (check_labels(y, self.model.config.num_classes, self.model.model_name),)
        G, D = self.model.generator, self.model.discriminator
        n = x.shape[0]
        g_step = step % self.hyper.n_critic == 0
        pairs = n // 2 if g_step and self.hyper.mode_seeking > 0 else 0
        # the mode-seeking pairs' second halves ride in the same generator batch (one pass,
        # one set of BatchNorm statistics): z[n + i] pairs with z[i], with the same label
        z = draw_latent(n + pairs, self.model.config.latent_dim, generator=ctx.generator, device=x.device)
        g_cond = tuple(torch.cat([c, c[:pairs]]) for c in cond)
        aux = self.hyper.class_weight > 0 and self.conditional
        out: dict[str, float] = {}
        with ctx.autocast():
            with torch.set_grad_enabled(g_step):
                fake_all = G(z, *g_cond)
            fake = fake_all[:n]
            real_logits, real_classes = self._judge(D, self.augment(x, ctx), cond, aux)
            h_fake = None
            if getattr(D, "frozen_features", False):
                # D's features are a fixed function (the projected discriminator's pretrained
                # network): one pass over the fakes serves D's step (detached) and G's (through
                # the graph), which saves a third of the step
                with torch.set_grad_enabled(g_step):
                    h_fake = D.features(self.augment(fake, ctx))
                fake_logits = D.score(h_fake.detach(), *cond)
            else:
                fake_logits = D(self.augment(fake.detach(), ctx), *cond)
        d_loss = self.loss.d_loss(real_logits.float(), fake_logits.float())
        if aux:
            d_cls = F.cross_entropy(real_classes.float(), cond[0])
            out["d_cls"] = d_cls.item()
            d_loss = d_loss + self.hyper.class_weight * d_cls
        if self.wgan:
            gp = gradient_penalty(
                lambda t: D(t, *cond).float(), x.float(), fake.detach().float(), generator=ctx.generator
            )
            out["gp"] = gp.item()
            d_loss = d_loss + self.hyper.gp_weight * gp
        ctx.optimize("discriminator", d_loss)
        if g_step:
            with frozen_grads(D), ctx.autocast():
                if h_fake is not None:
                    g_logits = D.score(h_fake, *cond)
                    fake_classes = D.classify(h_fake) if aux else None
                else:
                    g_logits, fake_classes = self._judge(D, self.augment(fake, ctx), cond, aux)
            g_loss = self.loss.g_loss(g_logits.float())
            total = g_loss
            if aux:
                g_cls = F.cross_entropy(fake_classes.float(), cond[0])
                total = total + self.hyper.class_weight * g_cls
                self._last_cls = g_cls.item()
            if pairs:
                ratio = mode_seeking_ratio(fake_all[:pairs], fake_all[n:], z[:pairs], z[n:])
                total = total + self.hyper.mode_seeking / (ratio + 1e-5)
                self._last_ms = ratio.item()
            ctx.optimize("generator", total)
            self._last_g = g_loss.item()
        if self._last_ms is not None:
            out["ms_ratio"] = self._last_ms
        if self._last_cls is not None:
            out["g_cls"] = self._last_cls
        g = {} if self._last_g is None else {"g_loss": self._last_g}
        return {"d_loss": d_loss.item(), **g, **out}


    @staticmethod
    def _judge(D, x: torch.Tensor, cond: tuple, aux: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logits ``(B,)`` and, with ``aux``, its class head's logits ``(B, classes)`` from
        one pass of its features."""
        if not aux:
            return D(x, *cond), None
        h = D.features(x)
        return D.score(h, *cond), D.classify(h)


def mode_seeking_ratio(a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
    """``mean|a - b| / mean|za - zb|`` for image pairs ``(P, C, H, W)`` in [0, 1], measured in
    [-1, 1] units as in Mao et al.'s code, from their noise pairs ``(P, latent_dim)``.

    >>> z = torch.zeros(2, 4); x = torch.zeros(2, 1, 2, 2)
    >>> float(mode_seeking_ratio(x, x + 0.5, z, z + 1.0))
    1.0
    """
    return (2.0 * (a.float() - b.float())).abs().mean() / (za - zb).abs().mean()


@register_objective("dcgan")
class DCGANObjective(_GANObjective):
    """DCGAN training (Radford et al. 2015); recipe by the model's ``loss`` (see module doc)."""


@register_objective("cgan")
class CGANObjective(_GANObjective):
    """Conditional GAN training (Miyato & Koyama 2018); labels come from the batch.

    The model defaults to hinge loss + spectral norm, hence the hinge recipe, plus the
    mode-seeking term (the generator uses its noise) and the auxiliary-classifier term (its
    digits are the requested ones).
    """

    conditional = True

    @classmethod
    def default_hyper(cls, config) -> GANHyper:
        hyper = super().default_hyper(config)
        # benchmarks/generative.py (2,500 MNIST steps): mode seeking 1.0 alone gave 87.6 % label
        # accuracy, 0.3 alone 93.9 %; 0.3 with the class term at 1.0 98.9 % at a worst-digit
        # diversity ratio of 1.03 and recall 0.76 of the real floor
        hyper.mode_seeking = 0.3
        hyper.class_weight = 1.0
        return hyper
