"""Training the inpainting U-Net: random free-form holes in photos, L1 + VGG perceptual + style.

Each step takes ``batch_size`` windows of ``2 * resolution`` pixels from the photos
(:class:`~atelier.data.patches.PatchDataset`, flips and rotations), cuts from each a random
square of ``resolution * f`` pixels, ``f`` uniform in [1, 2], resized to ``resolution``
(scale augmentation: the model sees holes in scenes at several scales, as it does when
:func:`~atelier.tasks.inpaint_learned.inpaint_with_model` downscales a large region to its
working size), and a mask of :func:`~atelier.data.masks.random_mask` covering a uniform
3-45 % of it. The loss is Liu et al. (2018)'s, on atelier's VGG19::

    loss = valid * L1(out, gt | known) + hole * L1(out, gt | hole)
         + perceptual * sum_t mean|phi_t(comp) - phi_t(gt)|
         + style * sum_t mean|G(phi_t(comp)) - G(phi_t(gt))|

with ``comp`` the output pasted into the known pixels, taps ``relu1_1``, ``relu2_1``,
``relu3_1`` (Liu's pool1-3 of VGG16) and Liu's weights 1, 6, 0.05 rescaled to VGG19's
Caffe input range (features about 58 times those of an ImageNet-normalised input: 0.05 / 58),
with the style weight lowered from Liu's 120 to 5 (5 / 58 ** 2): at 120 the style term is
about 3 times the hole L1 on a Telea fill, and the texture it asks for costs PSNR and SSIM
inside the holes (the shipped run trained at 20, then at 5 from step 1,000 on). Adam 5e-4 with a cosine decay to 5 %. Validation: the held-out photos'
centre crops (``2 * resolution`` px, downscaled to ``resolution``) with fixed medium masks;
``val_psnr`` is the PSNR inside the holes (higher is better, picks the exported step) and
``val_telea`` OpenCV Telea's on the same holes.

Optional adversarial term (``adversarial=W``, default 0): a spectral-norm PatchGAN
(:mod:`atelier.models.patchgan`, width ``d_width``) judges the composited output ``comp``
against the ground truth with the hinge loss, as DeepFill v2's SN-PatchGAN does (Yu et al.
2019, section 3.2; Adam ``lr_d`` = 1e-4, their rate), one critic update per step; the
generator adds ``W * -mean D(comp)``. The critic is in the run's checkpoints (exact resume)
and not in the exported model. At 0 no critic is built: modules, optimizers, checkpoints and
every number are what they were without the option. Whether there is a critic cannot
change when a run continues (0 to > 0 or back); its weight can.

Example
-------
>>> from atelier.models import build_model
>>> from atelier.train.objectives import make_objective
>>> obj = make_objective(build_model("inpaint", {"width": 8, "levels": 2, "resolution": 32}))
>>> type(obj).__name__, obj.hyper.lr, obj.patch_size, obj.best_metric
('InpaintObjective', 0.0005, 64, 'val_psnr')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument
from atelier.nets.feature_losses import gram_matrix
from atelier.train.objectives import register_objective
from atelier.train.objectives.base import FamilyObjective
from atelier.train.objectives.restoration import RestorationObjective

__all__ = ["InpaintHyper", "InpaintObjective", "TAPS", "hole_psnr"]

TAPS = ("relu1_1", "relu2_1", "relu3_1")
#: VGG19 in Caffe's 0-255 scale against an ImageNet-normalised input (255 * 0.226).
_FEATURE_SCALE = 58.0


@dataclass
class InpaintHyper:
    """Adam ``lr`` with a cosine decay to ``min_lr_ratio``; the loss weights; the hole
    coverage range of the training masks; ``patch``: None = twice the model's resolution."""

    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    min_lr_ratio: float = 0.05
    valid_weight: float = 1.0
    hole_weight: float = 6.0
    perceptual_weight: float = 0.05 / _FEATURE_SCALE
    style_weight: float = 5.0 / _FEATURE_SCALE**2
    coverage: tuple[float, float] = (0.03, 0.45)
    adversarial: float = 0.0
    lr_d: float = 1e-4
    d_width: int = 64
    batch_size: int = 8
    steps: int = 4000
    validate_every: int = 250


def hole_psnr(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, 8-bit) over the pixels where ``mask`` (``H x W`` bool) is set, all channels."""
    diff = prediction.astype(np.float64)[mask] - target.astype(np.float64)[mask]
    mse = float(np.mean(diff**2))
    return 10 * math.log10(255.0**2 / mse) if mse > 0 else math.inf


@register_objective("inpaint")
class InpaintObjective(RestorationObjective):
    """Liu et al.'s hole/valid L1 + perceptual + style loss (see the module docstring)."""

    Hyper = InpaintHyper
    reference_key = "val_telea"
    VALIDATION_IMAGES = 8

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        self._vgg = None
        self.adversary = None
        if self.hyper.adversarial > 0:
            from atelier.train.objectives.adversarial import PatchAdversary

            h = self.hyper
            self.adversary = PatchAdversary("hinge", width=h.d_width, lr=self.lr(h.lr_d), betas=h.betas)
            self.adversary.check_size(self.resolution, "the model's resolution")
            self.d_sched = torch.optim.lr_scheduler.LambdaLR(
                self.adversary.optimizer, lambda step: self.lr_factor(step)
            )

    def check_hyper(self) -> None:
        FamilyObjective.check_hyper(self)  # the shared ranges (not the parent's patch check)
        h = self.hyper
        if not 0.0 <= h.min_lr_ratio <= 1.0:
            raise InvalidArgument(f"min_lr_ratio must be in [0, 1], got {h.min_lr_ratio}")
        for name in ("valid_weight", "hole_weight", "perceptual_weight", "style_weight", "weight_decay", "adversarial"):
            if not getattr(h, name) >= 0:
                raise InvalidArgument(f"{name} must be >= 0, got {getattr(h, name)}")
        if not 1 <= h.d_width <= 256:
            raise InvalidArgument(f"d_width must be an integer from 1 to 256, got {h.d_width}")
        low, high = h.coverage
        if not 0 < low <= high < 0.9:
            raise InvalidArgument(f"coverage must be low,high with 0 < low <= high < 0.9, got {low},{high}")

    @classmethod
    def check_resume_hyper(cls, old: Any, new: Any) -> None:
        """``adversarial`` may change when a run continues, but not from 0 to > 0 or back."""
        before, after = float(old.get("adversarial", 0.0)) > 0, float(new.get("adversarial", 0.0)) > 0
        if before != after:
            raise InvalidArgument(
                f"hyper.adversarial cannot turn {'on' if after else 'off'} when a run continues (it is "
                f"{old.get('adversarial', 0.0)} in the run: the critic comes and goes with it); change its "
                "weight, or start a new run from this one's model (init_from)"
            )

    @property
    def resolution(self) -> int:
        return int(self.model.config.resolution)

    @property
    def patch_size(self) -> int:
        return 2 * self.resolution

    # --- batches --------------------------------------------------------------------------
    def make_batch(self, windows: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 3, 2r, 2r)`` windows -> rescaled ``(B, 3, r, r)`` crops and ``(B, 1, r, r)`` masks."""
        from atelier.data.masks import random_mask

        r, big = self.resolution, windows.shape[-1]
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        rng = np.random.default_rng(seed)
        crops, masks = [], []
        low, high = self.hyper.coverage
        for window in windows:
            side = int(rng.integers(r, big + 1))
            top, left = (int(v) for v in rng.integers(0, big - side + 1, size=2))
            crop = window[None, :, top : top + side, left : left + side]
            if side != r:
                crop = F.interpolate(crop, size=(r, r), mode="bilinear", antialias=True, align_corners=False)
            crops.append(crop.clamp(0, 1))
            mask = random_mask(r, r, rng, coverage=float(rng.uniform(low, high)))
            masks.append(torch.from_numpy(mask)[None, None].float())
        return torch.cat(crops), torch.cat(masks).to(windows.device)

    # --- loss -----------------------------------------------------------------------------
    def _features(self, device: torch.device):
        from atelier.nets.vgg19 import VGG19

        if self._vgg is None:
            self._vgg = VGG19(taps=TAPS)
        return self._vgg.to(device)

    def loss_terms(self, out: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted ``valid``, ``hole``, ``perceptual``, ``style`` terms and their sum ``loss``."""
        h = self.hyper
        known = 1 - mask
        error = (out - gt).abs()
        valid = (error * known).sum() / (3 * known.sum()).clamp_min(1)
        hole = (error * mask).sum() / (3 * mask.sum()).clamp_min(1)
        comp = out * mask + gt * known
        vgg = self._features(out.device)
        mine = vgg(comp, taps=TAPS)
        with torch.no_grad():
            theirs = vgg(gt, taps=TAPS)
        perceptual = sum((mine[t] - theirs[t]).abs().mean() for t in TAPS)
        style = sum((gram_matrix(mine[t]) - gram_matrix(theirs[t])).abs().mean() for t in TAPS)
        terms = {
            "valid": h.valid_weight * valid,
            "hole": h.hole_weight * hole,
            "perceptual": h.perceptual_weight * perceptual,
            "style": h.style_weight * style,
        }
        terms["loss"] = sum(terms.values())
        return terms

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        windows = batch[0] if isinstance(batch, (list, tuple)) else batch
        gt, mask = self.make_batch(windows, ctx.generator)
        with ctx.autocast():
            out = self.model(gt, mask)
        out = out.float()
        terms = self.loss_terms(out, gt, mask)
        if self.adversary is None:
            ctx.optimize("model", terms["loss"])
            return {k: float(v.detach()) for k, v in terms.items()}
        comp = out * mask + gt * (1 - mask)
        terms["adversarial"] = self.hyper.adversarial * self.adversary.generator_loss(gt, comp)
        terms["loss"] = terms["loss"] + terms["adversarial"]
        ctx.optimize("model", terms["loss"])
        logged = {k: float(v.detach()) for k, v in terms.items()}
        logged["d_loss"] = self.adversary.critic_step(gt, comp, ctx)
        return logged

    # --- validation -----------------------------------------------------------------------
    def _pairs(self) -> list[Any]:
        """Per held-out crop: (uint8 target, (image, mask) tensors, Telea's hole PSNR)."""
        from atelier.data.masks import benchmark_mask
        from atelier.image import from_tensor, to_tensor
        from atelier.ops.inpaint import inpaint_classic

        if self._val_cache is None:
            r, cache = self.resolution, []
            for k, image in enumerate(self.validation[: self.VALIDATION_IMAGES]):
                x = F.interpolate(to_tensor(image), size=(r, r), mode="bilinear", antialias=True, align_corners=False)
                target = from_tensor(x.clamp(0, 1), np.uint8).reshape(r, r, -1)
                mask = benchmark_mask(r, r, "medium", seed=k)
                reference = hole_psnr(inpaint_classic(target, mask, "telea"), target, mask)
                m = torch.from_numpy(mask)[None, None].float()
                cache.append((target, (to_tensor(target), m), reference))
            self._val_cache = cache
        return self._val_cache

    def validate(self, modules: dict[str, torch.nn.Module]) -> dict[str, float]:
        from atelier.image import from_tensor

        pairs = self._pairs()
        if not pairs:
            return {}
        model = modules["model"]
        device = next(model.parameters()).device
        scores = []
        for target, (x, m), _ in pairs:
            y = model.composite(x.to(device), m.to(device))
            scores.append(hole_psnr(from_tensor(y.clamp(0, 1), np.uint8).reshape(target.shape), target, m[0, 0].bool().numpy()))
        return {"val_psnr": float(np.mean(scores)), self.reference_key: float(np.mean([p[2] for p in pairs]))}
