"""Training the AdaIN decoder (Huang & Belongie 2017): arbitrary style transfer.

The encoder ``f`` (VGG19 to ``relu4_1``, :mod:`atelier.models.adain`) is fixed; the decoder
``g`` learns to invert AdaIN'd features. For a batch of content crops ``c`` and style crops
``s``, ``t = AdaIN(f(c), f(s))`` and the output is ``g(t)``; the loss (the paper's eqs. 11-13,
squared distances averaged as in the authors' code)::

    loss = content_weight * mse(f(g(t)), t)
         + style_weight * sum_{l in relu1_1, relu2_1, relu3_1, relu4_1}
               mse(mu(phi_l(g(t))), mu(phi_l(s))) + mse(sigma(phi_l(g(t))), sigma(phi_l(s)))

on the normalised features (so the paper's weights 1 and 10 apply), plus, when
``identity_weight`` > 0, the pixel term of SANet's identity loss (Park & Lee 2019, eq. 7):
``identity_weight * mean|g(f(c)) - c|``. AdaIN of a content with itself is its own features,
so this asks the decoder to invert the encoder, which the style term alone learns slowly: at
1,000 steps of batch 8 a decoder trained without it drew the same worm texture for every
style and lost the scene. Adam at ``lr`` 1e-4 with
the authors' decay ``lr / (1 + decay * step)`` (``decay`` 5e-5), batch 8 (a train-section
default, as ``steps`` and ``validate_every``).

Data (``atelier train adain --data PHOTOS --set styles=PAINTINGS``): random crops of the
photos and of the style images (:class:`~atelier.data.style_pairs.StylePairDataset`: shorter
side ``2 * patch``, then a ``patch`` crop; Huang's 512 then 256; styles also rescaled at
random). ``data.styles`` is a folder of style images (or one file). Validation: content and
style loss of fixed pairs of the held-out photos (the last tenth, or ``data.val``) and the
styles (those of ``data.val_styles``, else the training ones), each resized so its shorter
side is ``data.val_crop`` (256) and centre-cropped: pair ``k`` is photo ``k % P`` with style
``k % S``, ``max(P, S)`` pairs. ``val_loss`` (lower is better) picks the exported step.

Example
-------
>>> from atelier.models import build_model
>>> from atelier.train.objectives import make_objective
>>> obj = make_objective(build_model("adain", {"width": 0.125}))
>>> type(obj).__name__, obj.hyper.lr, obj.hyper.style_weight, obj.best_metric, obj.higher_is_better
('AdaINObjective', 0.0001, 10.0, 'val_loss', False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument
from atelier.models.adain import (
    CONTENT_TAP,
    MIN_SIDE,
    MULTIPLE,
    STYLE_TAPS,
    adain,
    channel_stats,
)
from atelier.train.objectives import register_objective
from atelier.train.objectives.base import FamilyObjective

__all__ = ["AdaINHyper", "AdaINObjective", "adain_loss_terms"]


@dataclass
class AdaINHyper:
    """Huang & Belongie's recipe: Adam ``lr`` decayed as ``lr / (1 + decay * step)``;
    ``patch``: crop side (a multiple of 8; 128 is a quarter of the work for a CPU); the loss
    weights; batch 8. ``steps``: the authors trained 160,000; runs here are far shorter."""

    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    decay: float = 5e-5
    patch: int = 256
    content_weight: float = 1.0
    style_weight: float = 10.0
    identity_weight: float = 0.0
    batch_size: int = 8
    steps: int = 4000
    validate_every: int = 250


def adain_loss_terms(model: Any, content: torch.Tensor, style: torch.Tensor, *, content_weight: float = 1.0,
                     style_weight: float = 10.0, identity_weight: float = 0.0,
                     autocast: Any = None) -> dict[str, torch.Tensor]:
    """``content`` (weighted), ``style`` (weighted), ``identity`` (weighted; only when
    ``identity_weight`` > 0) and ``loss`` of ``model`` (an
    :class:`~atelier.models.adain.AdaIN`) on ``(B, 3, p, p)`` content and style batches
    (``p`` a multiple of 8). ``autocast``: a context for the decoder (the Trainer's)."""
    import contextlib

    with torch.no_grad():
        targets = model.encode(style, STYLE_TAPS)
        f_c = model.encode(content)[CONTENT_TAP]
        t = adain(f_c, targets[CONTENT_TAP])
    with autocast if autocast is not None else contextlib.nullcontext():
        out = model.decode(t)
    feats = model.encode(out.float(), STYLE_TAPS)
    content_loss = F.mse_loss(feats[CONTENT_TAP], t)
    style_loss = out.new_zeros(())
    for tap in STYLE_TAPS:
        mean, std = channel_stats(feats[tap])
        goal_mean, goal_std = channel_stats(targets[tap])
        style_loss = style_loss + F.mse_loss(mean, goal_mean) + F.mse_loss(std, goal_std)
    terms = {"content": content_weight * content_loss, "style": style_weight * style_loss}
    if identity_weight > 0:
        with autocast if autocast is not None else contextlib.nullcontext():
            again = model.decode(f_c)
        terms["identity"] = identity_weight * F.l1_loss(again.float(), content)
    terms["loss"] = sum(terms.values())
    return terms


def _square(image: np.ndarray, side: int) -> np.ndarray:
    """Shorter side resized to ``side``, then the central ``side x side`` (uint8 RGB)."""
    from atelier.data.transforms import center_crop, resize_shorter

    return np.ascontiguousarray(center_crop(resize_shorter(image, side), side))


@register_objective("adain")
class AdaINObjective(FamilyObjective):
    """Huang & Belongie's decoder training (see the module docstring)."""

    Hyper = AdaINHyper
    module_paths = {"model": ""}
    best_metric = "val_loss"
    higher_is_better = False
    #: Options of a run's ``data`` section (``--set styles=DIR``, ``--set data.holdout=8``, ``--val DIR``).
    data_fields = ("styles", "val_styles", "holdout", "per_image", "val", "val_crop")
    VAL_CROP = 256

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h = self.hyper
        self.opt = torch.optim.Adam(self.params(model, name="model"), lr=self.lr(h.lr), betas=h.betas)
        # a plain function, kept out of the scheduler's state: a resumed run reads the new decay
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda step: self.lr_factor(step))
        self.validation: list[tuple[torch.Tensor, torch.Tensor]] = []

    def check_hyper(self) -> None:
        super().check_hyper()
        h = self.hyper
        if h.patch < MIN_SIDE or h.patch % MULTIPLE:
            raise InvalidArgument(f"patch must be a multiple of {MULTIPLE} from {MIN_SIDE}, got {h.patch}")
        if not 0 <= h.decay < float("inf"):
            raise InvalidArgument(f"decay must be a number >= 0, got {h.decay}")
        if not 0 <= h.identity_weight < float("inf"):
            raise InvalidArgument(f"identity_weight must be a number >= 0, got {h.identity_weight}")

    def lr_factor(self, step: int) -> float:
        """Huang's decay: ``1 / (1 + decay * step)``.

        >>> from atelier.models import build_model
        >>> obj = AdaINObjective(build_model("adain", {"width": 0.125}))
        >>> obj.lr_factor(0), obj.lr_factor(20000)
        (1.0, 0.5)
        """
        return 1.0 / (1.0 + self.hyper.decay * step)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"lr": self.sched}

    # --- data -----------------------------------------------------------------------------
    def build_data(self, spec: Mapping[str, Any]):
        """Pairs of random crops of ``spec["data"]`` (photos) and ``data.styles``; sets the
        validation pairs (held-out photos, or ``data.val``'s, with ``data.val_styles`` or the
        training styles)."""
        from atelier.data.folder import list_images
        from atelier.data.patches import read_photos
        from atelier.data.style_pairs import StylePairDataset, read_styles

        options = dict(spec.get("data_options") or {})
        styles = options.get("styles")
        if not styles:
            raise InvalidArgument(
                "training adain needs style images: --set styles=DIR (a folder of paintings) or --style DIR"
            )
        for key in ("styles", "val_styles", "val"):
            if options.get(key) is not None and not isinstance(options[key], str):
                raise InvalidArgument(f"data.{key} must be a path, got {options[key]!r}")
        crop = options.get("val_crop", self.VAL_CROP)
        if isinstance(crop, bool) or not isinstance(crop, int) or crop < MIN_SIDE:
            raise InvalidArgument(f"val_crop must be an integer >= {MIN_SIDE}, got {crop!r}")
        val_dir, holdout = options.get("val"), options.get("holdout")
        if val_dir is not None and holdout:
            raise InvalidArgument("give data.val or data.holdout, not both")
        root = str(spec["data"]).removeprefix("folder:")
        dataset = StylePairDataset(
            root, styles, size=self.hyper.patch, seed=int(spec.get("train", {}).get("seed", 0)),
            per_image=options.get("per_image", 32), holdout=0 if val_dir is not None else holdout,
        )
        held = dataset.held_out
        if val_dir is not None:
            held, _, skipped = read_photos(list_images(val_dir), channels=3)
            if not held:
                raise InvalidArgument(f"data.val {val_dir}: no readable photos ({skipped[0]})")
        val_styles = read_styles(options["val_styles"])[0] if options.get("val_styles") else dataset.styles
        self.use_validation(held, val_styles, crop)
        return dataset

    def use_validation(self, photos: Sequence[np.ndarray], styles: Sequence[np.ndarray], side: int = VAL_CROP) -> None:
        """Validate on ``max(P, S)`` fixed pairs (photo ``k % P``, style ``k % S``) of these
        ``H x W x 3`` uint8 images, each resized and centre-cropped to ``side`` (a multiple of 8
        is taken below it). No photos: no validation."""
        from atelier.data.transforms import to_tensor

        side = max(MIN_SIDE, side // MULTIPLE * MULTIPLE)
        for image in [*photos, *styles]:
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise InvalidArgument("validation photos and styles must be H x W x 3 uint8 arrays")
        if not photos or not styles:
            self.validation = []
            return
        contents = [to_tensor(_square(p, side))[None] for p in photos]
        looks = [to_tensor(_square(s, side))[None] for s in styles]
        count = max(len(contents), len(looks))
        self.validation = [(contents[k % len(contents)], looks[k % len(looks)]) for k in range(count)]

    # --- training -------------------------------------------------------------------------
    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        if not isinstance(batch, (list, tuple)) or len(batch) != 2 or not all(isinstance(b, torch.Tensor) for b in batch):
            raise InvalidArgument("adain trains on (content, style) batches: use StylePairDataset")
        content, style = batch
        h = self.hyper
        terms = adain_loss_terms(self.model, content, style, content_weight=h.content_weight,
                                 style_weight=h.style_weight, identity_weight=h.identity_weight,
                                 autocast=ctx.autocast())
        ctx.optimize("model", terms["loss"])
        return {k: float(v.detach()) for k, v in terms.items()}

    def validate(self, modules: dict[str, torch.nn.Module]) -> dict[str, float]:
        """Mean ``val_loss`` (and its ``val_content``, ``val_style`` terms) of the validation pairs."""
        if not self.validation:
            return {}
        model, h = modules["model"], self.hyper
        device = model.device
        totals: dict[str, float] = {}
        for content, style in self.validation:
            terms = adain_loss_terms(model, content.to(device), style.to(device),
                                     content_weight=h.content_weight, style_weight=h.style_weight,
                                     identity_weight=h.identity_weight)
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + float(v) / len(self.validation)
        return {f"val_{k}": v for k, v in totals.items()}
