"""Restoration objectives: super-resolution (``espcn``, ``edsr``) and denoising (``dncnn``).

Both minimise the L1 distance to the clean high-resolution patch with Adam and a cosine
learning-rate schedule over the run's steps (a ``LambdaLR`` stepped and checkpointed by the
Trainer, so resume is exact; extending a finished run with more steps continues on the
stretched curve). They train on :class:`~atelier.data.patches.PatchDataset` patches of a
folder of photos (``build_data``) and validate on held-out photos (``validate``: the key
metric is ``val_psnr``, higher is better; the Trainer keeps the best checkpoint).

- **Super-resolution**: the low-resolution input is Pillow's antialiased bicubic downscale of
  the HR patch, rounded to ``uint8`` like a saved image (the benchmark degradation), made in
  the dataset item (DataLoader workers, no device round trip). Validation: PSNR on the Y
  channel of BT.601 YCbCr, ``scale`` pixels of border cropped (the SR protocol), of centre
  crops of the held-out photos; ``val_bicubic`` is Pillow's bicubic upscale on the same
  crops, for comparison.
- **Denoising**: additive white Gaussian noise of a ``sigma`` drawn uniformly from
  ``hyper.sigma`` (0..255 units) per patch, from ``ctx.generator`` (reproducible); the true
  sigma is given to the model when its ``noise_map`` is on (FFDNet's non-blind training),
  not clipped to [0, 1] (the benchmark convention). Validation: RGB PSNR at
  ``hyper.val_sigma`` (25) with noise of a fixed seed; ``val_noisy`` is the noisy input's.

Recipes (``Hyper`` defaults). EDSR (Lim et al. 2017) trained with L1, Adam lr 1e-4, betas
(0.9, 0.999), batch 16 of 48 x 48 LR patches, halving the rate every 2e5 of 3e5 updates.
Runs here are a few thousand updates on a CPU, so the recipe starts 5x higher (5e-4) and
decays along a cosine to 1 % of it: the zero-initialised last layer and bicubic skip of
:mod:`atelier.models.sr` keep the early updates stable at that rate, and the cosine brings it
down to EDSR's regime for the end of the run. ESPCN (Shi et al. 2016) is a three-layer net;
it takes 1e-3. DnCNN (Zhang et al. 2017) trained blind colour models on 50 x 50 patches with
sigma in [0, 55] by SGD; FFDNet (Zhang et al. 2018) used Adam at 1e-3 and a noise-level map:
here Adam 1e-3, cosine, 50 x 50 patches, sigma in [0, 50], batch 16 for CPU runs (the papers
used 128), and L1 (as for SR; it converges like L2 and is robust to the rare outlier patch).
Lengths (train-section defaults): 6,000 updates for SR, 4,000 for denoising, validating every
250; the shipped x2 and x3 models start from the x4 one (``--init-from``, as EDSR starts its
x3/x4 from x2) and take 2,000 (``--set steps=2000``).

Example
-------
>>> from atelier.models import build_model
>>> from atelier.train.objectives import make_objective
>>> obj = make_objective(build_model("edsr", {"scale": 2, "width": 8, "blocks": 1}))
>>> type(obj).__name__, obj.hyper.lr, obj.hyper.patch, obj.best_metric
('EDSRObjective', 0.0005, 48, 'val_psnr')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument
from atelier.train.objectives import register_objective
from atelier.train.objectives.base import FamilyObjective

__all__ = [
    "DenoiseHyper",
    "DenoiseObjective",
    "EDSRObjective",
    "ESPCNObjective",
    "RestorationObjective",
    "SRHyper",
    "SRObjective",
    "VALIDATION_SEED",
    "parse_sigma_range",
]

#: Seed of the validation noise (denoising): the same noisy images at every validation.
VALIDATION_SEED = 0


@dataclass
class SRHyper:
    """Super-resolution recipe: Adam ``lr``, ``betas``, ``weight_decay``; the cosine ends at
    ``min_lr_ratio * lr``; ``patch`` is the low-resolution patch side (HR = patch * scale)."""

    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    min_lr_ratio: float = 0.01
    patch: int = 48
    batch_size: int = 16
    steps: int = 6000
    validate_every: int = 250


@dataclass
class DenoiseHyper:
    """Denoising recipe: as :class:`SRHyper`, plus the training noise range ``sigma``
    (low, high in 0..255 units, drawn uniformly per patch) and the validation ``val_sigma``."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    min_lr_ratio: float = 0.01
    patch: int = 50
    sigma: tuple[float, float] = (0.0, 50.0)
    val_sigma: float = 25.0
    batch_size: int = 16
    steps: int = 4000
    validate_every: int = 250


def parse_sigma_range(text: str) -> list[float]:
    """``"0:50"`` -> ``[0.0, 50.0]``; ``"25"`` -> ``[25.0, 25.0]``; checked (0 <= low <= high <= 255).

    Example
    -------
    >>> parse_sigma_range("0:50"), parse_sigma_range("15")
    ([0.0, 50.0], [15.0, 15.0])
    """
    parts = str(text).split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise InvalidArgument(f"sigma {text}: give a noise level or a range low:high, e.g. 25 or 0:50")
    _check_sigma_range(values, f"sigma {text}")
    return values


def _check_sigma_range(values: Sequence[float], what: str) -> None:
    low, high = values
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high <= 255):
        raise InvalidArgument(
            f"{what}: the noise range must be low:high with 0 <= low <= high <= 255 "
            f"(0..255 units), e.g. 0:50; got {low:g}:{high:g}"
        )


def _uint8(tensor: torch.Tensor, like: np.ndarray) -> np.ndarray:
    """A ``(1, C, H, W)`` output clamped and rounded to ``uint8`` like a saved image, in
    ``like``'s layout (``H x W x C``)."""
    from atelier.image import from_tensor

    return from_tensor(tensor.clamp(0, 1), np.uint8).reshape(like.shape)


class RestorationObjective(FamilyObjective):
    """Shared by SR and denoising: Adam + cosine, patches, validation images, L1."""

    module_paths = {"model": ""}
    best_metric = "val_psnr"
    higher_is_better = True
    #: Options of a run's ``data`` section (``--set data.holdout=8``, ``--val DIR``).
    data_fields = ("holdout", "per_image", "val", "val_crop")
    #: Validation crop side (pixels of the clean image) unless ``data.val_crop`` says otherwise.
    VAL_CROP = 256

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h = self.hyper
        self.opt = torch.optim.Adam(
            self.params(model, name="model"), lr=self.lr(h.lr), betas=h.betas, weight_decay=h.weight_decay
        )
        self.total_steps: int | None = None
        # a plain function (not a bound method): LambdaLR then keeps it out of its state_dict,
        # so a resumed run with more steps follows the new horizon
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda step: self.lr_factor(step))
        self.validation: list[np.ndarray] = []
        self._val_cache: list[Any] | None = None

    def check_hyper(self) -> None:
        super().check_hyper()
        h = self.hyper
        if not 0.0 <= h.min_lr_ratio <= 1.0:
            raise InvalidArgument(f"min_lr_ratio must be in [0, 1], got {h.min_lr_ratio}")
        if h.patch < 8:
            raise InvalidArgument(f"patch must be at least 8 pixels, got {h.patch}")
        if h.weight_decay < 0:
            raise InvalidArgument(f"weight_decay must be >= 0, got {h.weight_decay}")

    # --- schedule -------------------------------------------------------------------------
    def setup(self, config: Any) -> None:
        self.total_steps = int(config.steps)

    def lr_factor(self, step: int) -> float:
        """Cosine from 1 at step 0 to ``min_lr_ratio`` at the run's last step (1 without a run)."""
        if not self.total_steps:
            return 1.0
        t = min(step, self.total_steps) / self.total_steps
        floor = self.hyper.min_lr_ratio
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"lr": self.sched}

    # --- data -----------------------------------------------------------------------------
    @property
    def scale(self) -> int | None:
        """The SR factor, None for denoising."""
        return None

    @property
    def patch_size(self) -> int:
        """Side of the clean training patch in pixels."""
        return self.hyper.patch * (self.scale or 1)

    def build_data(self, spec: Mapping[str, Any]):
        """The training patches of ``spec["data"]`` (a folder); sets the validation images
        (the held-out photos, or those of ``data.val``), centre-cropped to ``data.val_crop``."""
        from atelier.data.folder import list_images
        from atelier.data.patches import PatchDataset, PatchTooLarge, center_crops, read_photos

        options = dict(spec.get("data_options") or {})
        root = str(spec["data"])
        for prefix in ("patches:", "folder:"):
            if root.startswith(prefix):
                root = root[len(prefix) :]
        val_dir, holdout = options.get("val"), options.get("holdout")
        if val_dir is not None and holdout:
            raise InvalidArgument("give data.val or data.holdout, not both")
        crop = options.get("val_crop", self.VAL_CROP)
        if isinstance(crop, bool) or not isinstance(crop, int) or crop < 16:
            raise InvalidArgument(f"val_crop must be an integer >= 16, got {crop!r}")
        channels = getattr(self.model.config, "channels", 3)
        try:
            dataset = PatchDataset(
                root,
                size=self.patch_size,
                channels=channels,
                seed=int(spec.get("train", {}).get("seed", 0)),
                scale=self.scale,
                per_image=options.get("per_image", 32),
                holdout=0 if val_dir is not None else holdout,
            )
        except PatchTooLarge as error:
            what = f"{self.patch_size} px" + (
                f" ({self.hyper.patch} px at x{self.scale})" if self.scale else ""
            )
            raise InvalidArgument(
                f"{root}: the training patch of {what} is larger than every photo (the largest "
                f"shorter side is {error.largest} px); lower it: set patch=N"
            ) from None
        held = dataset.held_out
        if val_dir is not None:
            held, _, skipped = read_photos(list_images(val_dir), channels=channels)
            if not held:
                raise InvalidArgument(f"data.val {val_dir}: no readable photos ({skipped[0]})")
        self.use_validation(center_crops(held, crop, multiple=self.scale or 1))
        return dataset

    def use_validation(self, images: Sequence[np.ndarray]) -> None:
        """Validate on these clean ``H x W x C`` uint8 images (an empty list: no validation)."""
        for image in images:
            if image.dtype != np.uint8 or image.ndim != 3:
                raise InvalidArgument("validation images must be H x W x C uint8 arrays")
        self.validation = list(images)
        self._val_cache = None

    #: The classic method's PSNR on the same crops, logged beside ``val_psnr``.
    reference_key = "val_reference"

    def validate(self, modules: dict[str, torch.nn.Module]) -> dict[str, float]:
        """Mean ``val_psnr`` of the validation crops, and the reference's.

        A subclass gives ``_pairs()``: ``(target uint8 H x W x C, degraded (1, C, h, w), the
        reference's PSNR)`` per crop, computed once; and ``_score(model, target, degraded)``.
        """
        pairs = self._pairs()
        if not pairs:
            return {}
        model = modules["model"]
        device = next(model.parameters()).device
        scores = [self._score(model, target, degraded.to(device)) for target, degraded, _ in pairs]
        return {
            "val_psnr": float(np.mean(scores)),
            self.reference_key: float(np.mean([reference for _, _, reference in pairs])),
        }

    # --- training -------------------------------------------------------------------------
    def _l1_step(self, prediction: torch.Tensor, target: torch.Tensor, ctx: Any) -> dict[str, float]:
        loss = F.l1_loss(prediction.float(), target)
        ctx.optimize("model", loss)
        with torch.no_grad():
            mse = F.mse_loss(prediction.detach().float().clamp(0, 1), target).item()
        return {"l1": loss.item(), "psnr": 10 * math.log10(1 / mse) if mse > 0 else math.inf}


class SRObjective(RestorationObjective):
    """Super-resolution: L1 between ``model(lr)`` and ``hr`` on ``(hr, lr)`` patch pairs."""

    Hyper = SRHyper
    reference_key = "val_bicubic"

    @property
    def scale(self) -> int:
        return int(self.model.config.scale)

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        if (
            not isinstance(batch, (list, tuple))
            or len(batch) != 2
            or not isinstance(batch[1], torch.Tensor)
            or batch[1].ndim != 4
        ):
            raise InvalidArgument(
                "super-resolution trains on (HR, LR) pairs: use PatchDataset(..., scale=s)"
            )
        hr, lr = batch
        s = self.scale
        if tuple(hr.shape[-2:]) != (lr.shape[-2] * s, lr.shape[-1] * s):
            raise InvalidArgument(
                f"HR patches {tuple(hr.shape[-2:])} are not {s}x the LR ones {tuple(lr.shape[-2:])}: "
                f"the data was made for another scale than the model's x{s}"
            )
        with ctx.autocast():
            sr = self.model(lr)
        return self._l1_step(sr, hr, ctx)

    def _pairs(self) -> list[Any]:
        from atelier.data.patches import degrade_bicubic
        from atelier.image import to_tensor
        from atelier.metrics import psnr
        from atelier.ops.geometry import resize

        if self._val_cache is None:
            s, cache = self.scale, []
            for hr in self.validation:
                lr = degrade_bicubic(hr, s)
                plane = lr if lr.shape[2] > 1 else lr[..., 0]  # Pillow's own 8-bit modes
                up = resize(plane, width=hr.shape[1], height=hr.shape[0], method="bicubic", antialias=True)
                cache.append((hr, to_tensor(lr), psnr(up.reshape(hr.shape), hr, channel="y", crop=s)))
            self._val_cache = cache
        return self._val_cache

    def _score(self, model: torch.nn.Module, hr: np.ndarray, lr: torch.Tensor) -> float:
        """PSNR on the Y of BT.601 with ``scale`` pixels of border cropped (the SR protocol)."""
        from atelier.metrics import psnr

        return psnr(_uint8(model(lr), hr), hr, channel="y", crop=self.scale)


@register_objective("espcn")
class ESPCNObjective(SRObjective):
    """ESPCN (Shi et al. 2016): L1, Adam 1e-3 with a cosine decay."""

    @classmethod
    def default_hyper(cls, config: Any) -> SRHyper:
        return SRHyper(lr=1e-3)


@register_objective("edsr")
class EDSRObjective(SRObjective):
    """EDSR (Lim et al. 2017): L1, Adam (0.9, 0.999), batch 16 of 48 px LR patches; lr 5e-4
    with a cosine decay for short runs (see the module docstring)."""


@register_objective("dncnn")
class DenoiseObjective(RestorationObjective):
    """DnCNN/FFDNet denoising: L1 between ``model(clean + noise, sigma)`` and ``clean``."""

    Hyper = DenoiseHyper
    reference_key = "val_noisy"

    def check_hyper(self) -> None:
        super().check_hyper()
        _check_sigma_range(self.hyper.sigma, "hyper.sigma")
        if not 0 <= self.hyper.val_sigma <= 255:
            raise InvalidArgument(f"val_sigma must be in 0..255, got {self.hyper.val_sigma:g}")

    def _sigma_arg(self, sigma: torch.Tensor | float) -> Any:
        return sigma if self.model.config.noise_map else None

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        clean = batch[0] if isinstance(batch, (list, tuple)) else batch
        b = clean.shape[0]
        low, high = self.hyper.sigma
        sigma = low + (high - low) * torch.rand(b, generator=ctx.generator)
        noise = torch.randn(clean.shape, generator=ctx.generator) * (sigma / 255.0).view(b, 1, 1, 1)
        noisy = clean + noise.to(clean.device)
        with ctx.autocast():
            denoised = self.model(noisy, self._sigma_arg(sigma.to(clean.device)))
        return self._l1_step(denoised, clean, ctx)

    def _pairs(self) -> list[Any]:
        from atelier.image import to_tensor
        from atelier.metrics import psnr

        if self._val_cache is None:
            g = torch.Generator().manual_seed(VALIDATION_SEED)
            cache = []
            for clean in self.validation:
                x = to_tensor(clean)
                noisy = x + torch.randn(x.shape, generator=g) * (self.hyper.val_sigma / 255.0)
                cache.append((clean, noisy, psnr(_uint8(noisy, clean), clean)))
            self._val_cache = cache
        return self._val_cache

    def _score(self, model: torch.nn.Module, clean: np.ndarray, noisy: torch.Tensor) -> float:
        """RGB PSNR of the image denoised at ``val_sigma``."""
        from atelier.metrics import psnr

        return psnr(_uint8(model(noisy, self._sigma_arg(float(self.hyper.val_sigma))), clean), clean)

