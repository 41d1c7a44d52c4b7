"""Feed-forward style transfer (Johnson et al. 2016): one network per style image.

The :class:`~atelier.models.style_net.StyleNet` learns to map any content photo ``x`` to
``y`` whose VGG19 features keep ``x``'s content at ``relu2_2`` and whose Gram matrices match
the style image's at ``relu1_2``, ``relu2_2``, ``relu3_3`` and ``relu4_3`` (Johnson's
layers), with an optional total-variation term::

    loss = content_weight * 0.01 * mse(phi_2_2(y), phi_2_2(x))
         + style_weight * sum_l 10 * mse(G_l(y), G_l(style)) + tv_weight * TV(255 y)

(the units of :mod:`atelier.tasks.stylize`: VGG19 in Caffe's 0-255 scale, Grams divided by
C H W). Data: random crops of a folder of photos (``--data``), the style image from
``--style`` resized so its longer side is ``style_size``. Adam with the restoration
objectives' cosine schedule; the last photos are held out and the validation loss on their
centre crops (lower is better) picks the exported step.

Example
-------
>>> from atelier.models import build_model
>>> from atelier.train.objectives import make_objective
>>> obj = make_objective(build_model("style", {"width": 8, "blocks": 1}))
>>> type(obj).__name__, obj.hyper.lr, obj.best_metric, obj.higher_is_better
('StyleObjective', 0.001, 'val_loss', False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument
from atelier.nets.feature_losses import gram_matrix, total_variation
from atelier.train.objectives import register_objective
from atelier.train.objectives.restoration import RestorationObjective

__all__ = ["StyleHyper", "StyleObjective", "CONTENT_TAP", "STYLE_TAPS"]

CONTENT_TAP = "relu2_2"
STYLE_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


@dataclass
class StyleHyper:
    """Adam ``lr`` with a cosine decay to ``min_lr_ratio``; ``patch``: content crop side;
    loss weights; ``style_size``: the style image's longer side when its Grams are taken."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    min_lr_ratio: float = 0.1
    patch: int = 128
    content_weight: float = 150.0
    style_weight: float = 1.0
    tv_weight: float = 0.0
    style_size: int = 256
    batch_size: int = 4
    steps: int = 2000
    validate_every: int = 250


@register_objective("style")
class StyleObjective(RestorationObjective):
    """Johnson et al.'s perceptual training of a style network (see the module docstring)."""

    Hyper = StyleHyper
    best_metric = "val_loss"
    higher_is_better = False
    data_fields = (*RestorationObjective.data_fields, "style")
    VAL_CROP = 128

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        self.style_image: np.ndarray | None = None
        self._vgg = None
        self._targets: dict[str, torch.Tensor] | None = None

    def check_hyper(self) -> None:
        super().check_hyper()
        h = self.hyper
        for name in ("content_weight", "style_weight", "tv_weight"):
            if not getattr(h, name) >= 0:
                raise InvalidArgument(f"{name} must be >= 0, got {getattr(h, name)}")
        if h.style_size < 16:
            raise InvalidArgument(f"style_size must be at least 16 pixels, got {h.style_size}")

    # --- data -----------------------------------------------------------------------------
    def build_data(self, spec: Mapping[str, Any]):
        """Content crops of ``spec["data"]``; the style image from ``data.style`` (``--style``)."""
        from atelier.image import load_image

        path = (spec.get("data_options") or {}).get("style")
        if not path:
            raise InvalidArgument("training a style network needs a style image (data.style)")
        self.use_style(load_image(path, mode="rgb"))
        return super().build_data(spec)

    def use_style(self, image: np.ndarray) -> None:
        """The style image, ``H x W x 3`` uint8 (resized to ``style_size`` at first use)."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InvalidArgument("the style image must be H x W x 3 uint8")
        self.style_image = image
        self._targets = None

    def _losses(self, device: torch.device):
        """The VGG19-based losses and the style's Gram targets, built once on ``device``."""
        from atelier.image import to_tensor
        from atelier.nets.feature_losses import PerceptualLoss, StyleLoss
        from atelier.nets.vgg19 import VGG19

        if self._vgg is None or self._targets is None:
            if self.style_image is None:
                raise InvalidArgument("no style image: call use_style() or set data.style")
            vgg = VGG19(taps=(CONTENT_TAP, *STYLE_TAPS)).to(device)
            self._vgg = (PerceptualLoss({CONTENT_TAP: 0.01}, vgg=vgg), StyleLoss({t: 10.0 for t in STYLE_TAPS}, vgg=vgg))
            style = to_tensor(self.style_image).to(device)
            k = self.hyper.style_size / max(style.shape[-2:])
            size = (max(16, round(style.shape[-2] * k)), max(16, round(style.shape[-1] * k)))
            style = F.interpolate(style, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
            self._targets = self._vgg[1].target_grams(style)
        return self._vgg, self._targets

    def loss_terms(self, y: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``content``, ``style``, ``tv`` (weighted) and ``loss`` for outputs ``y`` of inputs ``x``."""
        (perceptual, style), targets = self._losses(y.device)
        h = self.hyper
        feats = perceptual.vgg(y, taps=(CONTENT_TAP, *STYLE_TAPS))
        with torch.no_grad():
            content_target = perceptual.vgg(x, taps=(CONTENT_TAP,))
        content = 0.01 * F.mse_loss(feats[CONTENT_TAP], content_target[CONTENT_TAP])
        grams = sum(10.0 * F.mse_loss(gram_matrix(feats[t]), targets[t].expand(y.shape[0], -1, -1)) for t in STYLE_TAPS)
        tv = total_variation(y)
        terms = {"content": h.content_weight * content, "style": h.style_weight * grams, "tv": h.tv_weight * 0.5 * tv}
        terms["loss"] = terms["content"] + terms["style"] + terms["tv"]
        return terms

    # --- training -------------------------------------------------------------------------
    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        with ctx.autocast():
            y = self.model(x)
        terms = self.loss_terms(y.float(), x)
        ctx.optimize("model", terms["loss"])
        return {k: float(v.detach()) for k, v in terms.items()}

    def validate(self, modules: dict[str, torch.nn.Module]) -> dict[str, float]:
        """Mean loss (and its terms) of the held-out centre crops."""
        from atelier.image import to_tensor

        if not self.validation:
            return {}
        model = modules["model"]
        device = next(model.parameters()).device
        totals: dict[str, float] = {}
        for image in self.validation:
            x = to_tensor(image).to(device)
            for k, v in self.loss_terms(model(x), x).items():
                totals[k] = totals.get(k, 0.0) + float(v) / len(self.validation)
        return {f"val_{k}": v for k, v in totals.items()}
