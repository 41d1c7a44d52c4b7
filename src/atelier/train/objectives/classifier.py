"""Classifier objective: cross-entropy with Adam, reporting loss and batch accuracy.

Recipe: Adam (Kingma & Ba 2015) lr 1e-3, betas (0.9, 0.999), no weight decay, batch 64, no
label smoothing. One Trainer step is one update; ``modules()`` is ``{"model": model}``; no EMA.

Example
-------
>>> from atelier.models import build_model
>>> obj = ClassifierObjective(build_model("classifier", {"resolution": 16, "width": 8}), {"lr": 3e-4})
>>> obj.optimizers()["model"].param_groups[0]["lr"]
0.0003
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from atelier.train.objectives import register_objective
from atelier.train.objectives.base import FamilyObjective, check_labels
from atelier.train.objectives.gan import split_batch

__all__ = ["ClassifierHyper", "ClassifierObjective"]


@dataclass
class ClassifierHyper:
    """Adam ``lr``, ``betas``, ``weight_decay``; ``label_smoothing`` of the cross-entropy."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    batch_size: int = 64


@register_objective("classifier")
class ClassifierObjective(FamilyObjective):
    """Cross-entropy training of :class:`~atelier.models.Classifier` on labelled images."""

    Hyper = ClassifierHyper
    module_paths = {"model": ""}

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h = self.hyper
        self.opt = torch.optim.Adam(
            self.params(model, name="model"), lr=self.lr(h.lr), betas=h.betas, weight_decay=h.weight_decay
        )

    def check_hyper(self) -> None:
        super().check_hyper()
        from atelier.errors import InvalidArgument

        if not 0.0 <= self.hyper.label_smoothing < 1.0:
            raise InvalidArgument(f"label_smoothing must be in [0, 1), got {self.hyper.label_smoothing}")

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.opt}

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        x, y = split_batch(batch)
        y = check_labels(y, self.model.config.num_classes, "classifier")
        with ctx.autocast():
            logits = self.model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.hyper.label_smoothing)
        ctx.optimize("model", loss)
        accuracy = (logits.detach().argmax(1) == y).float().mean()
        return {"loss": loss.item(), "accuracy": accuracy.item()}
