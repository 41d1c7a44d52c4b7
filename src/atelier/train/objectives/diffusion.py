"""Diffusion objective: denoising regression of the U-Net with condition dropout (CFG).

One Trainer step is one AdamW update on a batch (Ho et al. 2020, Algorithm 1): the images
``x0`` scaled to [-1, 1] (:func:`~atelier.models.layers.to_signed`), standard normal
``noise`` and timesteps ``t`` uniform in ``[0, T)`` drawn from ``ctx.generator``,
``x_t = add_noise(x0, noise, t)``, and the mean squared error between the model's output and
``training_target(x0, noise, t)`` (the noise for ``epsilon``, the velocity for
``v_prediction``), per image, weighted by Min-SNR-gamma when ``loss_weighting="min-snr"``
(Hang et al. 2023, gamma 5), averaged over the batch. Each image's condition is dropped
with probability ``cond_drop`` (labels become ``model.null_label``, a text becomes the
learned null text through ``drop``), so that one network learns the conditional and the
unconditional model that classifier-free guidance mixes at sampling time (Ho & Salimans
2022, who train with a drop probability of 0.1 or 0.2). Logged: ``loss``, ``mse`` (the
unweighted error) and ``dropped`` (share of the batch without its condition).

Recipe (``DiffusionHyper``)
---------------------------
AdamW, lr 2e-4 for models up to 48 px and 1e-4 from 64 px (Ho et al. 2020 used 2e-4 at
32 px and lower rates for larger images; improved DDPM 1e-4), betas (0.9, 0.999), no weight
decay, a linear warm-up over ``warmup_steps`` then a constant rate (DDPM's schedule),
EMA of the weights with decay 0.999 (the model that validates, samples and is exported; the
Trainer's EMA warms its decay up, so short runs are not stuck near the initialisation).
Batch 64: about what two CPU cores keep busy for a 32-48 px U-Net; larger on a GPU.

Noise schedule: ``cosine`` (Nichol & Dhariwal 2021) with ``v_prediction`` (Salimans & Ho
2022) by default. At 16-64 px an image keeps little information once noised, and the linear
schedule of DDPM makes the last quarter of its timesteps almost pure noise (Nichol &
Dhariwal 2021, section 3.2 and figure 3); the cosine schedule spreads the information loss
evenly. With it, ``a_t`` goes to ~0 at the last steps, where an epsilon-predicting model's
``x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)`` divides its error by ~0; the velocity target
stays well conditioned at both ends (Salimans & Ho 2022, section 4; the choice of Imagen
Video and of Hoogeboom et al. 2023, "simple diffusion", for cosine schedules). The schedule
(``num_train_timesteps``, ``beta_schedule``, ``prediction_type``) is written as the run's
``scheduler.json`` (a DDPM scheduler, :func:`atelier.schedulers.save_scheduler`) when the run
starts, so sampling uses the schedule the model learnt; it cannot change on ``--resume`` or
against an ``--init-from`` model.

Conditioning (the model's ``cond``)
-----------------------------------
- ``none``: labels and captions are ignored.
- ``label``: the dataset's labels (``idx:../shared/data/mnist10k``, ``digits``, ``shapes``;
  ``scenes`` with ``data.labels=true``); ``num_classes`` must match the data.
- ``text``: the captions of a captioned dataset (``scenes``, ``captions:FOLDER``, a folder
  with ``metadata.jsonl`` such as ``../shared/data/emoji72``, ``coco:FILE.json``), tokenised
  by a word-level :class:`~atelier.text.CaptionTokenizer` trained on the training captions
  in :meth:`DiffusionObjective.prepare_run` (saved as the run's ``tokenizer.json``; its size
  becomes the model's ``vocab_size``). A captioned dataset is read one item per image, and
  each step takes one of the image's captions at random (``ctx.generator``), so an image
  with five captions is not seen five times as often.

A new run that does not set ``cond`` takes it from its data
(:meth:`DiffusionObjective.complete_model_config`): ``text`` when the data has captions,
``label`` when it is labelled, else ``none``; ``channels`` (1 for MNIST) and ``num_classes``
follow the data too unless set. ``config.json`` records what was chosen. Images are read at
the model's ``resolution`` (16, 32, 48, 64 or 128 px) with its ``channels``; transparent
images (emoji) are composited on white by the captioned-folder dataset.

Validation (every ``validate_every`` steps, on the EMA weights)
--------------------------------------------------------------
``val_loss`` (the training loss, condition kept) and ``val_x0_mse`` (error of the predicted
clean image in [-1, 1], comparable across prediction types) on up to ``val_images`` held-out
images at fixed, evenly spread timesteps with fixed noise (so two validations of the same
weights agree exactly): the ``val`` part of a captioned dataset (``data.val_split``), or the
last ``val_images`` items (at most a tenth) of any other dataset, which are then kept out of
training. Then a grid of ``sample_images`` images (DDIM, ``sample_steps`` steps, guidance
``sample_guidance`` for conditional models; fixed noise; the first held-out captions as
prompts, listed in ``samples/prompts.txt``, or labels 0, 1, 2, ...) that the training run
writes as ``samples/step-N.png``.
``val_loss`` is logged, not used to pick a checkpoint: the exported model is the last EMA.

Example
-------
>>> from atelier.models import build_model
>>> from atelier.train.objectives import make_objective
>>> model = build_model("diffusion", {"resolution": 16, "channels": 1, "width": 16,
...                                   "channel_mults": [1, 2], "attention_resolutions": []})
>>> obj = make_objective(model, {"loss_weighting": "min-snr"})
>>> type(obj).__name__, obj.hyper.lr, obj.scheduler.config.prediction_type, obj.ema_modules()
('DiffusionObjective', 0.0002, 'v_prediction', ('model',))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, NamedTuple, Sequence

import numpy as np
import torch

from atelier.errors import InvalidArgument
from atelier.models.layers import to_signed, to_unit
from atelier.models.registry import check_range
from atelier.train.objectives import register_objective
from atelier.train.objectives.base import (
    FamilyObjective,
    TextRun,
    check_labels,
    hyper_from_dict,
    run_tokenizer,
    warmup_factor,
)

__all__ = ["DiffusionHyper", "DiffusionObjective", "DiffusionSetup", "PerImage", "SCHEDULE_FIELDS"]

#: The hyper-parameters that make the run's noise schedule (its ``scheduler.json``).
SCHEDULE_FIELDS = ("num_train_timesteps", "beta_schedule", "prediction_type")
#: Seeds of the validation noise and of the sample grid's noise (fixed: every validation of
#: a run, resumed or not, sees the same draws).
VAL_SEED, SAMPLE_SEED = 1234, 4321


@dataclass
class DiffusionHyper:
    """Diffusion recipe (see the module docstring).

    lr, betas, weight_decay : AdamW.
    warmup_steps : linear warm-up of the rate, constant after.
    cond_drop : probability that an image trains without its condition (classifier-free
        guidance), in [0, 1); ignored by unconditional models.
    loss_weighting : ``"none"`` (plain MSE) or ``"min-snr"`` (Min-SNR-gamma weights).
    snr_gamma : gamma of Min-SNR (5 in Hang et al. 2023).
    layout_weight : weight of the text layout head's regression loss (models with
        ``text_layout``): MSE of the head's picture against the clean image average-pooled
        to its side, over the rows that keep their prompt.
    num_train_timesteps, beta_schedule, prediction_type : the noise schedule (scheduler.json).
    val_images : held-out images of the validation loss (0: no validation loss).
    sample_images, sample_steps, sample_guidance : the validation grid (0 images: none),
        DDIM steps and guidance scale (1: none, 0: unconditional).
    batch_size, ema_decay, steps, validate_every : suggestions for the Trainer's settings.
    """

    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 200
    cond_drop: float = 0.1
    loss_weighting: Literal["none", "min-snr"] = "none"
    snr_gamma: float = 5.0
    layout_weight: float = 1.0
    num_train_timesteps: int = 1000
    beta_schedule: Literal["linear", "scaled_linear", "cosine"] = "cosine"
    prediction_type: Literal["epsilon", "v_prediction"] = "v_prediction"
    val_images: int = 64
    sample_images: int = 8
    sample_steps: int = 25
    sample_guidance: float = 3.0
    batch_size: int = 64
    ema_decay: float = 0.999
    steps: int = 5000
    validate_every: int = 500


class DiffusionSetup(NamedTuple):
    """What :meth:`DiffusionObjective.prepare_run` builds before the model exists."""

    train: Any  #: the training dataset (one item per image for captioned data)
    val: Any  #: the held-out dataset of the validation, or None
    tokenizer: Any  #: the run's CaptionTokenizer (cond="text"), or None


class LossTerms(NamedTuple):
    """One training pass: per-image MSE ``(B,)`` and weight ``(B,)``, the model output and
    ``x_t`` ``(B, C, H, W)``, and the text layout head's picture ``(B, C, s, s)`` (None for
    models without ``text_layout``)."""

    mse: torch.Tensor
    weight: torch.Tensor
    out: torch.Tensor
    x_t: torch.Tensor
    layout: torch.Tensor | None = None


class PerImage(torch.utils.data.Dataset):
    """A captioned dataset read one item per image: item ``i`` is the first (image, caption)
    pair of the ``i``-th image of its split (corrupt images are skipped as the dataset
    skips them). ``captions(image_id)`` gives all of an image's captions.

    >>> from atelier.data.scenes import ScenesDataset
    >>> ds = PerImage(ScenesDataset(size=16, length=20, split="train"))
    >>> len(ds) == len(ds.base.image_ids), ds[0].image_id == int(ds.base.image_ids[0])
    (True, True)
    """

    def __init__(self, base: Any) -> None:
        self.base = base
        counts = np.array([len(base.captions(int(i))) for i in base.image_ids], dtype=np.int64)
        self._first = np.cumsum(counts) - counts
        self.size, self.channels, self.num_classes = base.size, base.channels, base.num_classes

    def __len__(self) -> int:
        return int(self._first.size)

    def __getitem__(self, i: int) -> Any:
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} images")
        return self.base[int(self._first[int(i)])]

    def captions(self, image_id: int) -> list[str]:
        return self.base.captions(int(image_id))


def open_dataset(data: str, options: Mapping[str, Any], *, size: int, channels: int | None,
                 labels: bool | None, split: Any) -> Any:
    """``data`` at ``size`` px (any diffusion resolution) with the run's dataset options.

    The run-level options (``split``, ``train_split``, ``val_split``, ``labels``) are the
    caller's; an option the dataset does not take is one ``InvalidArgument`` line.
    """
    from atelier.data import make_dataset
    from atelier.models.unet import DIFFUSION_RESOLUTIONS

    kwargs = {k: v for k, v in options.items() if k not in ("split", "train_split", "val_split", "labels")}
    if isinstance(split, list):
        split = tuple(split)
    try:
        return make_dataset(data, size=size, channels=channels, split=split, labels=labels,
                            sizes=DIFFUSION_RESOLUTIONS, **kwargs)
    except TypeError as exc:  # an option this dataset does not take (length= for a folder)
        if "unexpected keyword argument" not in str(exc):
            raise
        name = str(exc).rsplit("argument", 1)[-1].strip(" '\"")
        raise InvalidArgument(f"data.{name} does not apply to the dataset {data}") from None


def _captioned(dataset: Any) -> bool:
    return hasattr(dataset, "all_captions")


class _Items(torch.utils.data.Dataset):
    """Items ``indices`` of ``base`` (the held-out tail or the training head of plain data)."""

    def __init__(self, base: Any, indices: range) -> None:
        self.base, self.indices = base, indices
        self.size, self.channels, self.num_classes = base.size, base.channels, base.num_classes

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.base[self.indices[int(i)]]

    def set_epoch(self, epoch: int) -> None:  # random crops of a folder follow the epoch
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)


@register_objective("diffusion")
class DiffusionObjective(TextRun, FamilyObjective):
    """Denoising MSE with condition dropout for :class:`~atelier.models.unet.DiffusionUNet`."""

    Hyper = DiffusionHyper
    module_paths = {"model": ""}
    no_tokenizer = "this diffusion model reads text but the objective has no tokenizer"
    best_metric = None  # val_loss is logged; the export is the last EMA model
    #: Options of a run's ``data`` section (the image size is the model's ``resolution``).
    data_fields = (
        "split", "train_split", "val_split", "labels", "seed", "crop", "length", "group_by",
        "test_fraction", "val_fraction", "held_out",
    )  # fmt: skip

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        from atelier.schedulers import get_scheduler

        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h, c = self.hyper, model.config
        if c.cond != "none" and h.cond_drop == 0 and h.sample_guidance != 1:
            raise InvalidArgument(
                f"hyper.sample_guidance={h.sample_guidance} needs the null condition, which "
                "hyper.cond_drop=0 never trains: set cond_drop > 0 (0.1) or sample_guidance=1"
            )
        self.scheduler = get_scheduler("ddpm", {k: getattr(h, k) for k in SCHEDULE_FIELDS})
        self.opt = torch.optim.AdamW(
            self.params(model, name="model"), lr=self.lr(h.lr), betas=h.betas, weight_decay=h.weight_decay
        )
        # a plain function, so that LambdaLR keeps it out of its state_dict
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda step: self.lr_factor(step))
        self.tokenizer = None
        self._train_data = None
        self._captions_of = None  # image_id -> its captions (a random one per step)
        self.val_dataset = None
        self._val = None  # the fixed validation batch, built at the first validation
        self._sample_cond: Any = None
        self._samples: torch.Tensor | None = None

    @classmethod
    def default_hyper(cls, config: Any) -> DiffusionHyper:
        return DiffusionHyper(lr=1e-4 if config.resolution >= 64 else 2e-4)

    def check_hyper(self) -> None:
        super().check_hyper()
        h = self.hyper
        check_range("hyper.warmup_steps", h.warmup_steps, 0, 10**9)
        check_range("hyper.cond_drop", h.cond_drop, 0, 1, high_open=True)
        check_range("hyper.snr_gamma", h.snr_gamma, 0, 1e6, low_open=True)
        check_range("hyper.layout_weight", h.layout_weight, 0, 1e6)
        check_range("hyper.num_train_timesteps", h.num_train_timesteps, 2, 100_000)
        check_range("hyper.val_images", h.val_images, 0, 100_000)
        check_range("hyper.sample_images", h.sample_images, 0, 256)
        check_range("hyper.sample_steps", h.sample_steps, 1, h.num_train_timesteps)
        check_range("hyper.sample_guidance", h.sample_guidance, 0, 100)

    # --- schedule -------------------------------------------------------------------------
    def lr_factor(self, step: int) -> float:
        """Linear warm-up over ``warmup_steps``, then 1."""
        return warmup_factor(step, self.hyper.warmup_steps)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"lr": self.sched}

    def ema_modules(self) -> tuple[str, ...]:
        return ("model",)

    # --- the run: data, tokenizer, files ----------------------------------------------------
    @classmethod
    def complete_model_config(cls, data: str, options: Mapping[str, Any], model_config: dict[str, Any]) -> None:
        """Fill what a new run left unset from its data (in place): ``cond`` (``text`` for
        captioned data, ``label`` for labelled data, else ``none``), ``channels`` (the
        data's own) and, for ``cond="label"``, ``num_classes``."""
        cond = model_config.get("cond")
        if "cond" in model_config and "channels" in model_config and (cond != "label" or "num_classes" in model_config):
            return
        labels = options.get("labels") if cond in (None, "label") else False
        probe = open_dataset(data, options, size=16, channels=None, labels=labels, split=None)
        if cond is None:
            cond = "text" if _captioned(probe) else "label" if probe.num_classes > 0 else "none"
            model_config["cond"] = cond
        model_config.setdefault("channels", probe.channels)
        if cond == "label" and probe.num_classes > 0:
            model_config.setdefault("num_classes", probe.num_classes)

    @classmethod
    def prepare_run(cls, spec: dict[str, Any], run: str | Path | None = None) -> DiffusionSetup:
        """Build the run's datasets (and tokenizer, for ``cond="text"``) before its model.

        Raises ``InvalidArgument`` for a condition the data cannot give (captions, labels),
        a ``num_classes`` other than the data's, and a noise schedule other than the one in
        the ``scheduler.json`` of the run being resumed or of the ``--init-from`` model. Sets
        ``spec["model_config"]["vocab_size"]`` to the tokenizer's size (in place).
        """
        from atelier.models.unet import DiffusionConfig
        from atelier.schedulers import SCHEDULER_FILE, load_scheduler
        from atelier.train.checkpoint import latest_checkpoint

        config = DiffusionConfig(**spec["model_config"])
        hyper = hyper_from_dict(cls.Hyper, spec.get("hyper") or {}, base=cls.default_hyper(config))
        sources = []
        if run is not None and latest_checkpoint(Path(run) / "checkpoints") is not None:
            sources.append(("the run", Path(run)))
        init_from = (spec.get("fine_tune") or {}).get("init_from")
        if init_from:
            sources.append((f"init_from {init_from}", Path(init_from)))
        for what, folder in sources:
            if (folder / SCHEDULER_FILE).is_file():
                saved = load_scheduler(folder).config
                for key in SCHEDULE_FIELDS:
                    old, new = getattr(saved, key), getattr(hyper, key)
                    if old != new:
                        raise InvalidArgument(
                            f"hyper.{key} is {new!r} but {what} was trained with {old!r}: the noise "
                            f"schedule cannot change; set {key}={old}"
                        )

        data, cond = spec["data"], config.cond
        options = dict(spec.get("data_options") or {})
        labels = options.get("labels") if cond == "label" else False
        kw = dict(size=config.resolution, channels=config.channels, labels=labels)
        whole = open_dataset(data, options, split=None, **kw)
        if cond == "text" and not _captioned(whole):
            raise InvalidArgument(
                f"cond=text trains on captions, but {data} has none: use captioned data (scenes, "
                "a folder with metadata.jsonl, captions:FOLDER, coco:FILE.json) or cond=label/none"
            )
        if cond == "label":
            if whole.num_classes == 0:
                raise InvalidArgument(
                    f"cond=label trains on class labels, but {data} has none: use labelled data "
                    "(idx:mnist, digits, shapes; scenes with data.labels=true) or cond=text/none"
                )
            if whole.num_classes != config.num_classes:
                raise InvalidArgument(
                    f"the model is set for num_classes={config.num_classes} but {data} has "
                    f"{whole.num_classes} classes; set num_classes={whole.num_classes}"
                )
        if _captioned(whole):
            split = options.get("split") or options.get("train_split", "train")
            train = PerImage(open_dataset(data, options, split=split, **kw))
            val_split = options.get("val_split", "val")
            val = None
            if hyper.val_images > 0 and val_split not in (None, "none"):
                val = PerImage(open_dataset(data, options, split=val_split, **kw))
        else:
            if options.get("train_split") is not None or options.get("val_split") is not None:
                raise InvalidArgument(
                    f"data.train_split and data.val_split name parts of captioned data; {data} has "
                    "none: select items with data.split=START:STOP"
                )
            chosen = open_dataset(data, options, split=options.get("split"), **kw)
            held = min(hyper.val_images, len(chosen) // 10)
            train = _Items(chosen, range(len(chosen) - held))
            val = _Items(chosen, range(len(chosen) - held, len(chosen))) if held else None
        tokenizer = None
        if cond == "text":
            tokenizer = run_tokenizer(spec, run, train.base.all_captions)
        return DiffusionSetup(train, val, tokenizer)

    def use_setup(self, setup: DiffusionSetup) -> None:
        """Take :meth:`prepare_run`'s datasets and tokenizer."""
        if setup.tokenizer is not None:
            self.use_tokenizer(setup.tokenizer)
        self._train_data = setup.train
        self._captions_of = getattr(setup.train, "captions", None)
        self.use_validation(setup.val)

    def use_validation(self, dataset: Any) -> None:
        """Validate on the first ``val_images`` items of ``dataset`` (None: no val loss; the
        grid then takes its prompts from the training data)."""
        self.val_dataset = dataset
        self._val = None
        self._sample_cond = None

    def save_files(self, folder: str | Path) -> None:
        """Write ``scheduler.json`` (and ``tokenizer.json`` for a text model) beside the model,
        and for a text model with a sample grid the grid's prompts, one per line in grid
        order, as ``samples/prompts.txt``."""
        from atelier.image import write_atomic
        from atelier.schedulers import save_scheduler

        save_scheduler(self.scheduler, folder)
        if self.model.config.cond == "text":
            self._need_tokenizer().save(folder)
            if self.hyper.sample_images > 0 and (self._train_data is not None or self.val_dataset is not None):
                prompts = self.sample_conditions()["prompts"]
                write_atomic(Path(folder) / "samples" / "prompts.txt", ("\n".join(prompts) + "\n").encode("utf-8"))

    # --- training -------------------------------------------------------------------------
    def _tokens(self, texts: Sequence[str], device: torch.device) -> torch.Tensor:
        ids, lengths = self._need_tokenizer().encode_batch(
            list(texts), max_length=self.model.config.text_max_length
        )
        return ids[:, : int(lengths.max())].to(device)

    def _condition(self, batch: Any, n: int, device: torch.device, generator: torch.Generator | None) -> dict:
        """The model's condition keywords for a batch (``labels`` or ``tokens``), or {}."""
        cond = self.model.config.cond
        if cond == "none":
            return {}
        parts = (batch,) if isinstance(batch, torch.Tensor) else tuple(batch)
        if cond == "label":
            labels = parts[1] if len(parts) > 1 else None
            return {"labels": check_labels(labels, self.model.config.num_classes, "this diffusion model").to(device)}
        if len(parts) < 3 or not isinstance(parts[2], (list, tuple)):
            raise InvalidArgument(
                "a text-conditional diffusion model trains on captioned data: batches of "
                "CaptionedItem(images, labels, texts, image_ids) (atelier.data.captioned)"
            )
        texts = list(parts[2])
        if self._captions_of is not None and len(parts) > 3 and generator is not None:
            u = torch.rand(n, generator=generator).tolist()  # one caption of each image, at random
            texts = []
            for image_id, draw in zip(parts[3].tolist(), u):
                options = self._captions_of(int(image_id))
                texts.append(options[min(int(draw * len(options)), len(options) - 1)])
        return {"tokens": self._tokens(texts, device)}

    def loss_terms(self, model: Any, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
                   cond: dict, drop: torch.Tensor | None, autocast: Any = None) -> LossTerms:
        """The :class:`LossTerms` of one pass for clean ``x0`` in [-1, 1], ``noise`` and
        timesteps ``t`` (with the text layout head's picture for ``text_layout`` models)."""
        import contextlib

        x_t = self.scheduler.add_noise(x0, noise, t)
        target = self.scheduler.training_target(x0, noise, t)
        layout = None
        with autocast if autocast is not None else contextlib.nullcontext():
            if getattr(model.config, "text_layout", 0):
                out, layout = model(x_t, t, drop=drop, return_layout=True, **cond)
            else:
                out = model(x_t, t, drop=drop, **cond)
        mse = (out.float() - target.float()).pow(2).flatten(1).mean(1)
        if self.hyper.loss_weighting == "min-snr":
            weight = self.scheduler.min_snr_weight(t, self.hyper.snr_gamma).to(mse.device)
        else:
            weight = torch.ones_like(mse)
        return LossTerms(mse, weight, out, x_t, layout)

    @staticmethod
    def layout_loss(layout: torch.Tensor, x0: torch.Tensor, drop: torch.Tensor | None) -> torch.Tensor:
        """MSE of a text layout picture ``(B, C, s, s)`` against ``x0`` ``(B, C, H, W)`` in
        [-1, 1] average-pooled to ``s``, over the rows not in ``drop`` (0 when all are)."""
        target = torch.nn.functional.adaptive_avg_pool2d(x0, layout.shape[-2:])
        per_image = (layout.float() - target.float()).pow(2).flatten(1).mean(1)
        keep = torch.ones_like(per_image) if drop is None else (~drop).to(per_image.dtype)
        return (per_image * keep).sum() / keep.sum().clamp(min=1.0)

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        images = batch if isinstance(batch, torch.Tensor) else batch[0]
        device, g, h = images.device, ctx.generator, self.hyper
        n = images.shape[0]
        x0 = to_signed(images)
        noise = torch.randn(x0.shape, generator=g, dtype=x0.dtype).to(device)
        t = torch.randint(0, h.num_train_timesteps, (n,), generator=g).to(device)
        drop = None
        if self.model.config.cond != "none":
            drop = (torch.rand(n, generator=g) < h.cond_drop).to(device)
        cond = self._condition(batch, n, device, g)
        terms = self.loss_terms(self.model, x0, noise, t, cond, drop, ctx.autocast())
        loss = (terms.weight * terms.mse).mean()
        out = {"mse": terms.mse.detach().mean().item()}
        if terms.layout is not None and h.layout_weight > 0:
            layout_mse = self.layout_loss(terms.layout, x0, drop)
            loss = loss + h.layout_weight * layout_mse
            out["layout_mse"] = layout_mse.item()
        ctx.optimize("model", loss)
        out["loss"] = loss.item()
        if drop is not None:
            out["dropped"] = drop.float().mean().item()
        return out

    # --- validation -----------------------------------------------------------------------
    def _validation_batch(self) -> dict[str, Any] | None:
        """The fixed held-out batch: images, labels, first captions, noise and timesteps."""
        if self._val is None:
            items = []
            if self.val_dataset is not None:
                for i in range(min(self.hyper.val_images, len(self.val_dataset))):
                    items.append(self.val_dataset[i])
            if not items:
                self._val = {}
                return None
            images = torch.stack([item[0] for item in items])
            g = torch.Generator().manual_seed(VAL_SEED)
            m, T = len(items), self.hyper.num_train_timesteps
            self._val = {
                "images": images,
                "labels": torch.tensor([int(item[1]) for item in items]),
                "texts": [item[2] for item in items] if len(items[0]) > 2 else None,
                "noise": torch.randn(images.shape, generator=g),
                # evenly spread over [0, T): every noise level is measured, the same each time
                "t": torch.tensor([min(int((i + 0.5) * T / m), T - 1) for i in range(m)]),
            }
        return self._val or None

    def validate(self, modules: dict[str, torch.nn.Module], batch_size: int = 32) -> dict[str, float]:
        """``val_loss`` and ``val_x0_mse`` on the held-out batch; draws the sample grid."""
        model = modules["model"]
        device = next(model.parameters()).device
        metrics: dict[str, float] = {}
        val = self._validation_batch()
        if val is not None:
            loss_sum = x0_sum = 0.0
            m = len(val["images"])
            for start in range(0, m, batch_size):
                part = slice(start, start + batch_size)
                x0 = to_signed(val["images"][part]).to(device)
                noise, t = val["noise"][part].to(device), val["t"][part].to(device)
                batch = (val["images"][part], val["labels"][part], val["texts"][part] if val["texts"] else None)
                cond = self._condition(batch, len(x0), device, None)
                terms = self.loss_terms(model, x0, noise, t, cond, None)
                loss_sum += float((terms.weight * terms.mse).sum())
                x0_hat = self._predict_x0(terms.out.float(), terms.x_t, t)
                x0_sum += float((x0_hat - x0).pow(2).flatten(1).mean(1).sum())
            metrics = {"val_loss": loss_sum / m, "val_x0_mse": x0_sum / m}
        if self.hyper.sample_images > 0:
            self._samples = self.sample_grid(model).cpu()
        return metrics

    def _predict_x0(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # float32 before the move: MPS has no float64
        a = self.scheduler.alphas_cumprod.to(torch.float32).to(out.device)[t].to(out.dtype).view(-1, 1, 1, 1)
        kind = self.hyper.prediction_type
        if kind == "epsilon":
            return (x_t - (1 - a).sqrt() * out) / a.sqrt()
        return a.sqrt() * x_t - (1 - a).sqrt() * out  # v_prediction

    def sample_conditions(self) -> dict[str, Any]:
        """The grid's fixed conditions: ``{"labels": (n,)}`` (labels 0, 1, 2, ... cycled),
        ``{"prompts": [n str]}`` (the first held-out captions, else the first training ones,
        cycled) or {} for an unconditional model."""
        if self._sample_cond is None:
            n, c = self.hyper.sample_images, self.model.config
            if c.cond == "label":
                self._sample_cond = {"labels": torch.arange(n) % c.num_classes}
            elif c.cond == "text":
                source = self.val_dataset if self.val_dataset is not None and len(self.val_dataset) else self._train_data
                if source is None:
                    raise InvalidArgument("a text model's sample grid needs prompts: call use_setup or use_validation")
                first = [source[i][2] for i in range(min(n, len(source)))]
                self._sample_cond = {"prompts": [first[i % len(first)] for i in range(n)]}
            else:
                self._sample_cond = {}
        return self._sample_cond

    @torch.no_grad()
    def sample_grid(self, model: Any) -> torch.Tensor:
        """``sample_images`` images ``(n, C, H, W)`` in [0, 1] from ``model``: DDIM with
        ``sample_steps`` steps from fixed noise, classifier-free guidance ``sample_guidance``
        for conditional models (``uncond + w (cond - uncond)`` on the model's output)."""
        from atelier.schedulers import get_scheduler

        h, c = self.hyper, self.model.config
        device = next(model.parameters()).device
        n = h.sample_images
        sampler = get_scheduler("ddim", {k: getattr(h, k) for k in SCHEDULE_FIELDS})
        sampler.set_timesteps(h.sample_steps)
        x = torch.randn((n, c.channels, c.resolution, c.resolution), generator=torch.Generator().manual_seed(SAMPLE_SEED))
        x = x.to(device)
        conds = self.sample_conditions()
        guided = c.cond != "none" and h.sample_guidance != 1
        rows = 2 * n if guided else n
        drop = torch.zeros(rows, dtype=torch.bool, device=device)
        if guided:
            drop[n:] = True
        kwargs: dict[str, Any] = {}
        if c.cond == "label":
            labels = conds["labels"].to(device)
            kwargs = {"labels": labels.repeat(2) if guided else labels, "drop": drop}
        elif c.cond == "text":
            tokens = self._tokens(conds["prompts"], device)
            kwargs = {"text": model.encode_text(tokens.repeat(2, 1) if guided else tokens, drop=drop)}
        for t in sampler.timesteps:
            out = model(x.repeat(2, 1, 1, 1) if guided else x, int(t), **kwargs)
            if guided:
                cond_out, uncond_out = out.chunk(2)
                out = uncond_out + h.sample_guidance * (cond_out - uncond_out)
            x = sampler.step(out, t, x).prev_sample
        return to_unit(x).clamp(0, 1)

    def take_samples(self) -> torch.Tensor | None:
        """The grid drawn at the last validation (once; None when there is none)."""
        samples, self._samples = self._samples, None
        return samples
