"""Classifier objective: cross-entropy with Adam, reporting loss and batch accuracy.

Recipe of the small CNN: Adam (Kingma & Ba 2015) lr 1e-3, betas (0.9, 0.999), no weight
decay, batch 64, no label smoothing, no augmentation. One Trainer step is one update;
``modules()`` is ``{"model": model}``; no EMA.

Recipe of a pretrained backbone (fine-tuning, as timm fine-tunes): the new head at lr 1e-3,
the backbone at ``lr_backbone`` 1e-4 (ten times lower: its ImageNet features are kept, not
re-learnt), label smoothing 0.1, batch 32, 300 steps, and random resized crops (area 35-100 %)
with horizontal flips (:func:`atelier.train.augment.random_resized_crop_flip`). Frozen
backbone stages (``freeze=("backbone",)`` for a linear probe, or the first stages for
"train the last N blocks") are left out of the optimizer, and the model keeps them in eval
mode. ``complete_model_config`` fills a new run's ``num_classes`` and ``class_names`` from
its data (the sub-folder names of a labelled folder), and for a backbone ``channels`` 3,
``resolution`` 128 and ``dropout`` 0.2 when they are unset.

Example
-------
>>> from atelier.models import build_model
>>> obj = ClassifierObjective(build_model("classifier", {"resolution": 16, "width": 8}), {"lr": 3e-4})
>>> obj.optimizers()["model"].param_groups[0]["lr"]
0.0003
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument
from atelier.train.augment import random_resized_crop_flip
from atelier.train.objectives import register_objective
from atelier.train.objectives.base import FamilyObjective, check_labels
from atelier.train.objectives.freeze import trainable
from atelier.train.objectives.gan import split_batch

__all__ = ["ClassifierHyper", "ClassifierObjective"]


@dataclass
class ClassifierHyper:
    """Adam ``lr`` (the head's, with a backbone), ``lr_backbone`` (a backbone's parameters),
    ``betas``, ``weight_decay``; ``label_smoothing`` of the cross-entropy; ``augment``: random
    resized crops and flips of each batch."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    batch_size: int = 64
    lr_backbone: float = 1e-4
    augment: bool = False
    steps: int = 1000


#: The fine-tuning recipe of a classifier on a pretrained backbone (module docstring).
BACKBONE_RECIPE = {"label_smoothing": 0.1, "batch_size": 32, "augment": True, "steps": 300}
#: What a backbone run leaves unset takes these model settings.
BACKBONE_MODEL_DEFAULTS = {"channels": 3, "resolution": 128, "dropout": 0.2}


@register_objective("classifier")
class ClassifierObjective(FamilyObjective):
    """Cross-entropy training of :class:`~atelier.models.Classifier` on labelled images."""

    Hyper = ClassifierHyper
    module_paths = {"model": ""}

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h = self.hyper
        params = self.params(model, name="model")
        groups: list[dict[str, Any]] = [{"params": params}]
        backbone = getattr(model, "backbone", None)
        if backbone is not None:
            slow = {id(p) for p in trainable(backbone)}
            groups = [{"params": [p for p in params if id(p) not in slow]}]
            if slow:
                groups.append({"params": [p for p in params if id(p) in slow], "lr": self.lr(h.lr_backbone)})
        self.opt = torch.optim.Adam(groups, lr=self.lr(h.lr), betas=h.betas, weight_decay=h.weight_decay)

    @classmethod
    def default_hyper(cls, config: Any) -> ClassifierHyper:
        """The small CNN's recipe, or the fine-tuning recipe for a pretrained backbone."""
        if getattr(config, "backbone", "none") != "none":
            return replace(ClassifierHyper(), **BACKBONE_RECIPE)
        return ClassifierHyper()

    @classmethod
    def complete_model_config(cls, data: str, options: Mapping[str, Any], model_config: dict[str, Any]) -> None:
        """Fill what a new run left unset (in place): ``num_classes`` and ``class_names`` from
        the labelled data, and a backbone's ``channels``, ``resolution`` and ``dropout``."""
        from atelier.data import make_dataset

        if model_config.get("backbone", "none") != "none":
            for key, value in BACKBONE_MODEL_DEFAULTS.items():
                model_config.setdefault(key, value)
        if "class_names" in model_config:
            return
        kwargs = {k: v for k, v in options.items() if k in ("split", "seed")}
        if isinstance(kwargs.get("split"), list):
            kwargs["split"] = tuple(kwargs["split"])
        probe = make_dataset(data, size=16, labels=True, **kwargs)
        if probe.num_classes < 2:
            found = f"one class ({probe.class_names[0]})" if probe.num_classes else "no classes"
            raise InvalidArgument(
                f"{data}: a classifier needs labelled data of at least 2 classes, found {found}; "
                "give a folder with one sub-folder of images per class"
            )
        model_config.setdefault("num_classes", probe.num_classes)
        if model_config["num_classes"] == probe.num_classes:
            model_config["class_names"] = list(probe.class_names)

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
        if self.hyper.augment:
            x = random_resized_crop_flip(x, ctx.generator)
        with ctx.autocast():
            logits = self.model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.hyper.label_smoothing)
        ctx.optimize("model", loss)
        accuracy = (logits.detach().argmax(1) == y).float().mean()
        return {"loss": loss.item(), "accuracy": accuracy.item()}
