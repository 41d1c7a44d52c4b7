"""An adversarial term any image-to-image objective can add: a PatchGAN critic and its step.

:class:`PatchAdversary` owns a spectral-norm :class:`~atelier.models.patchgan.PatchGAN` and
its Adam optimizer. The objective that uses it lists ``adversary.discriminator`` among its
``modules()`` and ``adversary.optimizer`` among its ``optimizers()`` (so both are in the
checkpoints and resume exactly) and never exports it: the shipped model is the generator
alone. Per training step the objective calls, in this order (BasicSR's ESRGAN order):

1. :meth:`generator_loss` ``(real, fake)`` inside the generator's loss, with the critic's
   parameters frozen (gradients flow to ``fake`` only);
2. :meth:`critic_step` ``(real, fake, ctx)`` after the generator's update: one update of the
   critic on ``fake.detach()``, through ``ctx.optimize`` (clipping, scaling: the Trainer's).

Losses: ``"ragan"`` (relativistic average, ESRGAN: Wang et al. 2018, eq. 1-2) or
``"hinge"`` (Lim & Ye 2017; Miyato et al. 2018), both over every patch logit.

Example
-------
>>> import torch
>>> adv = PatchAdversary("hinge", width=8, lr=1e-4)
>>> real, fake = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32, requires_grad=True)
>>> loss = adv.generator_loss(real, fake)
>>> loss.backward()
>>> fake.grad is not None, all(p.grad is None for p in adv.discriminator.parameters())
(True, True)
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from atelier.errors import InvalidArgument
from atelier.models.gan_losses import hinge_d_loss, hinge_g_loss, relativistic_d_loss, relativistic_g_loss
from atelier.models.patchgan import PatchGAN, PatchGANConfig
from atelier.train.objectives.base import frozen_grads

__all__ = ["PatchAdversary", "ADVERSARIAL_LOSSES"]

ADVERSARIAL_LOSSES = ("ragan", "hinge")


class PatchAdversary:
    """A PatchGAN critic, its Adam optimizer and the two halves of one adversarial step.

    Parameters
    ----------
    loss : "ragan" or "hinge".
    channels, width, layers : the :class:`PatchGANConfig`.
    lr, betas : the critic's Adam.
    """

    def __init__(
        self,
        loss: Literal["ragan", "hinge"],
        *,
        channels: int = 3,
        width: int = 64,
        layers: int = 3,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.999),
    ) -> None:
        if loss not in ADVERSARIAL_LOSSES:
            raise InvalidArgument(f"adversarial loss must be one of {', '.join(ADVERSARIAL_LOSSES)}, got {loss!r}")
        self.loss = loss
        self.discriminator = PatchGAN(PatchGANConfig(channels=channels, width=width, layers=layers))
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas)

    def check_size(self, side: int, what: str) -> None:
        """``InvalidArgument`` when images of ``side`` pixels are too small for the critic."""
        need = self.discriminator.min_size
        if side < need:
            raise InvalidArgument(f"{what} is {side} px; the PatchGAN critic needs at least {need} px")

    def generator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """The generator's adversarial loss for ``fake`` (``(B, C, H, W)``, with its graph)."""
        d = self.discriminator
        with frozen_grads(d):
            fake_logits = d(fake)
            if self.loss == "hinge":
                return hinge_g_loss(fake_logits)
            with torch.no_grad():
                real_logits = d(real)
            return relativistic_g_loss(real_logits, fake_logits)

    def critic_step(self, real: torch.Tensor, fake: torch.Tensor, ctx: Any, name: str = "discriminator") -> float:
        """One update of the critic (optimizer ``name`` of the objective) on real and
        detached fake batches; returns its loss."""
        d = self.discriminator
        real_logits, fake_logits = d(real), d(fake.detach())
        if self.loss == "hinge":
            loss = hinge_d_loss(real_logits, fake_logits)
        else:
            loss = relativistic_d_loss(real_logits, fake_logits)
        ctx.optimize(name, loss)
        return float(loss.detach())
