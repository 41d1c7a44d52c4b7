"""VAE and conditional-VAE objectives: minimise the negative ELBO with Adam.

One Trainer step is one Adam update of the whole model on ``model.loss`` (``recon + beta *
kl``, see :mod:`atelier.models.vae`); the reparameterisation noise comes from
``ctx.generator``. ``modules()`` is ``{"model": model}`` (encoder and decoder move together
under one optimizer).

EMA: none. ``ema_modules()`` is empty: a VAE trained with Adam on the ELBO is a stable
maximum-likelihood fit, not a two-player game whose iterates oscillate, so averaging buys
little, and averaging the decoder alone would pair it with an encoder it was not trained
with. ``export(ema)`` still swaps in a ``"model"`` average if one is given.

Recipe: Adam (Kingma & Ba 2015) lr 1e-3, betas (0.9, 0.999), batch 64. Kingma & Welling
(2014) trained with Adagrad and minibatches of 100; Adam at 1e-3 is the now-standard choice
(e.g. the PyTorch VAE example) and converges faster.

Example
-------
>>> from atelier.models import build_model
>>> obj = VAEObjective(build_model("vae", {"resolution": 16, "width": 8}))
>>> obj.hyper
VAEHyper(lr=0.001, betas=(0.9, 0.999), weight_decay=0.0, batch_size=64)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from atelier.train.objectives import register_objective
from atelier.train.objectives.base import FamilyObjective, check_labels
from atelier.train.objectives.gan import split_batch

__all__ = ["VAEHyper", "VAEObjective", "CVAEObjective"]


@dataclass
class VAEHyper:
    """VAE training hyper-parameters: Adam ``lr``, ``betas``, ``weight_decay``; recipe batch size."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    batch_size: int = 64


@register_objective("vae")
class VAEObjective(FamilyObjective):
    """Negative-ELBO training of :class:`~atelier.models.VAE` (labels ignored)."""

    Hyper = VAEHyper
    module_paths = {"model": ""}
    conditional = False

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h = self.hyper
        self.opt = torch.optim.Adam(
            self.params(model, name="model"), lr=self.lr(h.lr), betas=h.betas, weight_decay=h.weight_decay
        )

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.opt}

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        x, y = split_batch(batch)
        args: tuple[torch.Tensor, ...] = (x,)
        if self.conditional:
            args += (check_labels(y, self.model.config.num_classes, self.model.model_name),)
        with ctx.autocast():
            terms = self.model.loss(*args, generator=ctx.generator)
        total = terms["total"].float()
        ctx.optimize("model", total)
        return {"recon": terms["recon"].item(), "kl": terms["kl"].item(), "total": total.item()}


@register_objective("cvae")
class CVAEObjective(VAEObjective):
    """Conditional VAE (Sohn et al. 2015): as :class:`VAEObjective`, labels from the batch."""

    conditional = True
