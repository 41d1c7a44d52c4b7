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

Perceptual super-resolution (``loss=perceptual``, ESRGAN: Wang et al. 2018, section 3.4 and
4.1). The generator fine-tunes a PSNR-trained model (ESRGAN starts from its PSNR-oriented
model "to obtain more pleasing results ... and avoid undesired local optima") with::

    loss = pixel_weight * L1(sr, hr)
         + perceptual_weight * L1(vgg_conv5_4(sr), vgg_conv5_4(hr))
         + adversarial_weight * RaGAN_G(D(hr), D(sr))

ESRGAN's weights are 1e-2, 1 and 5e-3, VGG19's ``conv5_4`` *before* its ReLU, Adam 1e-4 for
both networks. atelier's VGG19 reads Caffe's 0-255 input scale, whose features are about 58
times those of an ImageNet-normalised input (255 * 0.226), so ``perceptual_weight`` defaults
to 1/58. The critic is a spectral-norm PatchGAN (:mod:`atelier.models.patchgan`, width
``d_width``; ESRGAN's is a VGG-style classifier of 128 px crops) trained with the
relativistic average loss over its patch logits, one critic update per generator update,
both on the cosine of ``lr_gan``. It lives in the run's checkpoints (exact resume), not in
the exported model. Validation adds ``val_vgg``, the LPIPS-formula VGG distance
(:class:`~atelier.nets.feature_losses.FeatureDistance`) of the outputs to the held-out crops,
and picks the exported step by it (lower is better): PSNR falls as texture is added, so the
PSNR-best step would be the first.

Real-world degradations (``degradation=real``, :mod:`atelier.data.degradations`). In place of
the bicubic downscale (SR) or white Gaussian noise (denoising), the inputs are made in the
training step from ``ctx.generator`` (reproducible, exact on resume) by Real-ESRGAN's
second-order pipeline (Wang et al. 2021, section 3: two rounds of blur, resize, Gaussian or
Poisson noise and JPEG, then a sinc filter and JPEG, rounded to 8 bits), with its published
ranges (:data:`~atelier.data.degradations.REAL_ESRGAN`); the dataset's bicubic LR patch is
not used. ``degradation=real`` with ``loss=l1`` is Real-ESRNet's recipe, with
``loss=perceptual`` Real-ESRGAN's (less its sharpened targets). Denoising uses the milder
:data:`~atelier.data.degradations.DENOISING` preset: Real-ESRGAN's noise and JPEG, lighter
blur, never a resize, so the input keeps the clean patch's size; ``sigma`` and ``val_sigma``
belong to the Gaussian option and cannot be set with it. Once noise is blurred, resampled and
JPEG-compressed there is no single true sigma, so a noise-map denoiser (``noise_map=true``)
is given the level that ``atelier denoise`` estimates for ``sigma=auto`` from the degraded
input itself (:func:`estimate_sigmas`): it learns the map as it will meet it. A blind model
(``noise_map=false``) is the simpler choice for real photos and the one we recommend.
Validation degrades the held-out crops the same way, each from a fixed seed
(``[VALIDATION_SEED, crop index]``), so every validation sees the same inputs: ``val_psnr``
is the PSNR of the restored real-degraded crops (SR: Y channel, border cropped, as above) and
``val_bicubic`` / ``val_noisy`` the reference's on the same inputs. It measures how well the
model undoes these synthetic degradations, and is not comparable with the bicubic or
Gaussian ``val_psnr``. ``degradation`` cannot change when a run continues. Users set it with
``atelier train sr --data DIR --scale 4 --set degradation=real --out RUN`` (or ``atelier train
denoise ... --set degradation=real --set noise_map=false``).

The start: ``init_from`` when given (its architecture and scale must be this run's);
without one, the shipped ``sr-x<scale>`` (recorded in the run's ``config.json`` as its
``init_from``); when that is not installed either, ``InvalidArgument`` says to train the
PSNR model first. ``loss`` cannot change when a run continues (the critic comes and goes
with it).

Example
-------
>>> from atelier.models import build_model
>>> from atelier.train.objectives import make_objective
>>> obj = make_objective(build_model("edsr", {"scale": 2, "width": 8, "blocks": 1}))
>>> type(obj).__name__, obj.hyper.lr, obj.hyper.patch, obj.best_metric
('EDSRObjective', 0.0005, 48, 'val_psnr')
>>> edsr = build_model("edsr", {"scale": 2, "width": 8, "blocks": 1})
>>> gan = make_objective(edsr, {"loss": "perceptual", "d_width": 8})
>>> sorted(gan.modules()), gan.best_metric, gan.higher_is_better
(['discriminator', 'model'], 'val_vgg', False)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

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
    "estimate_sigmas",
    "parse_sigma_range",
]

#: Seed of the validation noise (denoising) and of the real degradations of the validation
#: crops (``degradation=real``, with the crop's index): the same inputs at every validation.
VALIDATION_SEED = 0


@dataclass
class SRHyper:
    """Super-resolution recipe: Adam ``lr``, ``betas``, ``weight_decay``; the cosine ends at
    ``min_lr_ratio * lr``; ``patch`` is the low-resolution patch side (HR = patch * scale).

    ``loss``: ``"l1"`` (the PSNR recipe) or ``"perceptual"`` (ESRGAN's, see the module
    docstring), which reads the rest: its rate ``lr_gan`` (generator and critic, in place of
    ``lr``), the loss weights, the VGG19 layer ``feature_layer`` and the critic's ``d_width``.

    ``degradation``: how the LR input is made, ``"bicubic"`` (the benchmark downscale) or
    ``"real"`` (Real-ESRGAN's blur, resize, noise and JPEG; see the module docstring).
    """

    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    min_lr_ratio: float = 0.01
    patch: int = 48
    degradation: Literal["bicubic", "real"] = "bicubic"
    loss: Literal["l1", "perceptual"] = "l1"
    lr_gan: float = 1e-4
    pixel_weight: float = 1e-2
    perceptual_weight: float = 1 / 58
    adversarial_weight: float = 5e-3
    feature_layer: str = "conv5_4"
    d_width: int = 64
    batch_size: int = 16
    steps: int = 6000
    validate_every: int = 250


@dataclass
class DenoiseHyper:
    """Denoising recipe: as :class:`SRHyper`, plus the training noise range ``sigma``
    (low, high in 0..255 units, drawn uniformly per patch) and the validation ``val_sigma``.

    ``degradation``: ``"gaussian"`` (white Gaussian noise of ``sigma``) or ``"real"``
    (Real-ESRGAN's noise, blur and JPEG without resizing; ``sigma`` and ``val_sigma`` then
    keep their defaults; see the module docstring)."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    min_lr_ratio: float = 0.01
    patch: int = 50
    degradation: Literal["gaussian", "real"] = "gaussian"
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


def estimate_sigmas(batch: torch.Tensor) -> torch.Tensor:
    """The noise level of each image of ``batch`` ``(B, C, H, W)`` in [0, 1], ``(B,)`` in
    0..255 units: scikit-image's wavelet estimator (``estimate_sigma``, Donoho & Johnstone's
    median absolute deviation) per channel, averaged, a flat channel counting 0. It is what
    ``atelier denoise`` computes for ``sigma="auto"``
    (:func:`atelier.tasks.restore.estimate_noise_sigma`, which ``train`` may not import).

    Example
    -------
    >>> g = torch.Generator().manual_seed(0)
    >>> noisy = 0.5 + torch.randn(2, 3, 64, 64, generator=g) * torch.tensor([10.0, 30.0]).view(2, 1, 1, 1) / 255
    >>> [round(v) for v in estimate_sigmas(noisy).tolist()]
    [10, 30]
    """
    import warnings

    from skimage.restoration import estimate_sigma

    planes = batch.detach().float().cpu().numpy()
    out = []
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a flat channel: NaN, counted as 0
        for image in planes:
            sigmas = [estimate_sigma(plane, channel_axis=None) for plane in image]
            out.append(float(np.mean(np.nan_to_num(sigmas, nan=0.0))) * 255.0)
    return torch.tensor(out, dtype=torch.float32)


def _real_inputs(clean: np.ndarray, index: int, scale: int) -> np.ndarray:
    """Validation crop ``index`` (``H x W x C`` uint8) through the real degradation of a fixed
    seed (``[VALIDATION_SEED, index]``), as a uint8 image (``scale`` 1: the denoising preset)."""
    from atelier.data.degradations import DENOISING, degrade_real
    from atelier.image import from_tensor, to_tensor

    out = degrade_real(
        to_tensor(clean),
        scale,
        generator=np.random.default_rng([VALIDATION_SEED, index]),
        config=DENOISING if scale == 1 else None,
    )
    return from_tensor(out, np.uint8).reshape(clean.shape[0] // scale, clean.shape[1] // scale, clean.shape[2])


def _check_unchanged(old: Mapping[str, Any], new: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """The hyper-parameters of ``defaults`` must keep their value when a run continues."""
    for key, default in defaults.items():
        before, after = old.get(key, default), new.get(key, default)
        if before != after:
            raise InvalidArgument(
                f"hyper.{key} cannot change when a run continues (it is {before!r} in the run); "
                "start a new run from this one's model (init_from)"
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
    data_fields = ("holdout", "per_image", "val", "val_crop", "max_side")
    #: Validation crop side (pixels of the clean image) unless ``data.val_crop`` says otherwise.
    VAL_CROP = 256

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h = self.hyper
        self.opt = torch.optim.Adam(
            self.params(model, name="model"), lr=self.lr(self.model_lr()), betas=h.betas, weight_decay=h.weight_decay
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

    def model_lr(self) -> float:
        """The model's base learning rate (before ``lr_scale``): ``hyper.lr``."""
        return self.hyper.lr

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

    # an optional PatchGAN critic (perceptual SR, adversarial inpainting: a PatchAdversary) and
    # its learning-rate schedule; None trains the restoration network alone
    adversary: Any = None
    d_sched: Any = None

    def modules(self) -> dict[str, torch.nn.Module]:
        out = super().modules()
        if self.adversary is not None:
            out["discriminator"] = self.adversary.discriminator
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        out = {"model": self.opt}
        if self.adversary is not None:
            out["discriminator"] = self.adversary.optimizer
        return out

    def schedulers(self) -> dict[str, Any]:
        out = {"lr": self.sched}
        if self.adversary is not None:
            out["lr_discriminator"] = self.d_sched
        return out

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
        from atelier.data.patches import PatchDataset, PatchTooLarge, center_crops, fit_within, read_photos

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
                max_side=options.get("max_side"),
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
            if options.get("max_side") is not None:
                held = [fit_within(photo, options["max_side"]) for photo in held]
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
    """Super-resolution: L1 between ``model(lr)`` and ``hr`` on ``(hr, lr)`` patch pairs, or
    ESRGAN's perceptual loss with a PatchGAN critic (``loss=perceptual``)."""

    Hyper = SRHyper
    reference_key = "val_bicubic"

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        self.adversary = None
        self._vgg = None
        self._distance = None
        if self.perceptual:
            from atelier.train.objectives.adversarial import PatchAdversary

            h = self.hyper
            self.adversary = PatchAdversary(
                "ragan", channels=int(model.config.channels), width=h.d_width, lr=self.lr(h.lr_gan), betas=h.betas
            )
            self.adversary.check_size(self.patch_size, f"the HR training patch (patch={h.patch} at x{self.scale})")
            self.d_sched = torch.optim.lr_scheduler.LambdaLR(
                self.adversary.optimizer, lambda step: self.lr_factor(step)
            )
            # PSNR falls as texture comes: pick the exported step by the perceptual distance
            self.best_metric, self.higher_is_better = "val_vgg", False

    @property
    def perceptual(self) -> bool:
        return self.hyper.loss == "perceptual"

    def model_lr(self) -> float:
        return self.hyper.lr_gan if self.perceptual else self.hyper.lr

    def check_hyper(self) -> None:
        super().check_hyper()
        from atelier.nets.vgg19 import LAYERS

        h = self.hyper
        if h.feature_layer not in LAYERS:
            raise InvalidArgument(
                f"feature_layer {h.feature_layer!r} is not a VGG19 layer; e.g. conv5_4 (ESRGAN), "
                "relu2_2, conv4_4"
            )
        if not 1 <= h.d_width <= 256:
            raise InvalidArgument(f"d_width must be an integer from 1 to 256, got {h.d_width}")

    @classmethod
    def check_resume_hyper(cls, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """``loss`` cannot change when a run continues (the critic comes and goes with it),
        nor ``degradation`` (the best ``val_psnr`` so far was measured on other inputs)."""
        _check_unchanged(old, new, {"loss": "l1", "degradation": "bicubic"})

    @classmethod
    def prepare_run(cls, spec: dict[str, Any], run: Any) -> None:
        """A perceptual run starts from a PSNR model: ``init_from``, else the shipped
        ``sr-x<scale>`` (written into ``spec["fine_tune"]``); its architecture must be the run's."""
        if (spec.get("hyper") or {}).get("loss", "l1") != "perceptual":
            return None
        from atelier.models.registry import CONFIG_FILE
        from atelier.pretrained import PRETRAINED, is_installed, pretrained_dir

        scale = spec["model_config"].get("scale")
        tune = dict(spec.get("fine_tune") or {})
        source = tune.get("init_from")
        if not source:
            source = f"sr-x{scale}"
            if source not in PRETRAINED or not is_installed(source):
                raise InvalidArgument(
                    f"loss=perceptual fine-tunes a PSNR-trained model (ESRGAN's recipe) and the shipped "
                    f"{source} is not in this install: train one first (loss=l1) and give it as init_from"
                )
            spec["fine_tune"] = {**tune, "init_from": source}
        folder = pretrained_dir(source) if source in PRETRAINED and not os.path.exists(source) else source
        try:
            import json

            theirs = json.loads((Path(folder) / CONFIG_FILE).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"init_from {source}: cannot read its {CONFIG_FILE} ({exc})") from None
        mine = {"model": spec["model"], "config": spec["model_config"]}
        if theirs.get("model") != mine["model"] or theirs.get("config") != mine["config"]:
            got = f"{theirs.get('model')} {theirs.get('config')}"
            raise InvalidArgument(
                f"loss=perceptual fine-tunes the PSNR model as it is: init_from {source} is a {got}, "
                f"this run a {mine['model']} {mine['config']}; drop the model settings or give a "
                f"x{scale} {mine['model']} of the same architecture"
            )
        return None

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
        if self.hyper.degradation == "real":
            from atelier.data.degradations import degrade_real

            lr = degrade_real(hr, s, generator=ctx.generator)
        with ctx.autocast():
            sr = self.model(lr)
        if self.adversary is None:
            return self._l1_step(sr, hr, ctx)
        return self._perceptual_step(sr.float(), hr, ctx)

    def _features(self, device: torch.device):
        from atelier.nets.vgg19 import VGG19

        if self._vgg is None:
            self._vgg = VGG19(taps=(self.hyper.feature_layer,))
        return self._vgg.to(device)

    def _perceptual_step(self, sr: torch.Tensor, hr: torch.Tensor, ctx: Any) -> dict[str, float]:
        h, layer = self.hyper, self.hyper.feature_layer
        vgg = self._features(sr.device)
        with torch.no_grad():
            target = vgg(hr)[layer]
        terms = {
            "pixel": h.pixel_weight * F.l1_loss(sr, hr),
            "perceptual": h.perceptual_weight * F.l1_loss(vgg(sr)[layer], target),
            "adversarial": h.adversarial_weight * self.adversary.generator_loss(hr, sr),
        }
        loss = sum(terms.values())
        ctx.optimize("model", loss)
        d_loss = self.adversary.critic_step(hr, sr, ctx)
        out = {k: float(v.detach()) for k, v in terms.items()}
        out.update(loss=float(loss.detach()), d_loss=d_loss)
        return out

    def validate(self, modules: dict[str, torch.nn.Module]) -> dict[str, float]:
        """``val_psnr`` and ``val_bicubic``; a perceptual run adds ``val_vgg`` (the
        LPIPS-formula distance of the uint8 outputs to the crops, lower is better)."""
        if self.adversary is None:
            return super().validate(modules)
        from atelier.image import to_tensor
        from atelier.metrics import psnr
        from atelier.nets.feature_losses import FeatureDistance

        pairs = self._pairs()
        if not pairs:
            return {}
        model = modules["model"]
        device = next(model.parameters()).device
        if self._distance is None:
            self._distance = FeatureDistance()
        distance = self._distance.to(device)
        psnrs, vggs = [], []
        for hr, lr, _ in pairs:
            out = _uint8(model(lr.to(device)), hr)
            psnrs.append(psnr(out, hr, channel="y", crop=self.scale))
            vggs.append(float(distance(to_tensor(out).to(device), to_tensor(hr).to(device))[0]))
        return {
            "val_psnr": float(np.mean(psnrs)),
            self.reference_key: float(np.mean([reference for _, _, reference in pairs])),
            "val_vgg": float(np.mean(vggs)),
        }

    def _pairs(self) -> list[Any]:
        from atelier.data.patches import degrade_bicubic
        from atelier.image import to_tensor
        from atelier.metrics import psnr
        from atelier.ops.geometry import resize

        if self._val_cache is None:
            s, cache = self.scale, []
            for index, hr in enumerate(self.validation):
                lr = _real_inputs(hr, index, s) if self.hyper.degradation == "real" else degrade_bicubic(hr, s)
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
    """DnCNN/FFDNet denoising: L1 between ``model(clean + noise, sigma)`` and ``clean``; with
    ``degradation=real``, between ``model(degraded, estimated sigma)`` and ``clean``."""

    Hyper = DenoiseHyper
    reference_key = "val_noisy"

    def check_hyper(self) -> None:
        super().check_hyper()
        _check_sigma_range(self.hyper.sigma, "hyper.sigma")
        if not 0 <= self.hyper.val_sigma <= 255:
            raise InvalidArgument(f"val_sigma must be in 0..255, got {self.hyper.val_sigma:g}")
        base = DenoiseHyper()
        if self.hyper.degradation == "real" and (
            tuple(self.hyper.sigma) != base.sigma or self.hyper.val_sigma != base.val_sigma
        ):
            raise InvalidArgument(
                "sigma and val_sigma set the Gaussian noise of degradation=gaussian; degradation=real "
                "draws Real-ESRGAN's noise levels and validates on them: drop --sigma and val_sigma"
            )

    @classmethod
    def check_resume_hyper(cls, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """``degradation`` cannot change when a run continues (the best ``val_psnr`` so far
        was measured on other inputs)."""
        _check_unchanged(old, new, {"degradation": "gaussian"})

    @property
    def real(self) -> bool:
        """Whether the inputs are Real-ESRGAN degradations (``degradation=real``)."""
        return self.hyper.degradation == "real"

    def _estimated_level(self, noisy: torch.Tensor) -> torch.Tensor | None:
        """The noise map's level for a real-degraded input: ``sigma=auto``'s estimate
        (:func:`estimate_sigmas`); None for a blind model (which takes none)."""
        return None if self.model.blind else estimate_sigmas(noisy).to(noisy.device)

    def _sigma_arg(self, sigma: torch.Tensor | float) -> Any:
        return None if self.model.blind else sigma

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        clean = batch[0] if isinstance(batch, (list, tuple)) else batch
        if self.real:
            from atelier.data.degradations import DENOISING, degrade_real

            noisy = degrade_real(clean, 1, generator=ctx.generator, config=DENOISING)
            with ctx.autocast():
                denoised = self.model(noisy, self._sigma_arg(self._estimated_level(noisy)))
            return self._l1_step(denoised, clean, ctx)
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
            for index, clean in enumerate(self.validation):
                x = to_tensor(clean)
                if self.real:
                    noisy = to_tensor(_real_inputs(clean, index, 1))
                else:
                    noisy = x + torch.randn(x.shape, generator=g) * (self.hyper.val_sigma / 255.0)
                cache.append((clean, noisy, psnr(_uint8(noisy, clean), clean)))
            self._val_cache = cache
        return self._val_cache

    def _score(self, model: torch.nn.Module, clean: np.ndarray, noisy: torch.Tensor) -> float:
        """RGB PSNR of the image denoised at ``val_sigma`` (real degradations: at the
        estimated level)."""
        from atelier.metrics import psnr

        level = self._estimated_level(noisy) if self.real else float(self.hyper.val_sigma)
        return psnr(_uint8(model(noisy, self._sigma_arg(level)), clean), clean)


@register_objective("drunet")
class DRUNetObjective(DenoiseObjective):
    """DRUNet denoising (Zhang et al. 2021): the DnCNN recipe (L1, Adam, cosine decay), with
    larger patches for the U-Net's field (96 px; KAIR uses 128) and a lower rate (4e-4; KAIR
    1e-4 over a million steps, too slow for CPU-hours)."""

    @classmethod
    def default_hyper(cls, config: Any) -> DenoiseHyper:
        return DenoiseHyper(lr=4e-4, patch=96)
