"""Captioner objective: token cross-entropy with a frozen-then-fine-tuned pretrained encoder.

One Trainer step is one AdamW update on a batch of ``CaptionedItem(images, labels, texts,
image_ids)`` (:mod:`atelier.data.captioned`): the captions are tokenized, the decoder reads
``[BOS] w1 .. wn`` and is trained to predict ``w1 .. wn [EOS]`` (teacher forcing) with
cross-entropy that ignores ``[PAD]`` (``label_smoothing`` optional); the LSTM decoder adds
Show, Attend and Tell's doubly stochastic attention regulariser times
``attention_weight``. Logged: ``loss`` (what is minimised), ``token_loss`` (the plain
cross-entropy), ``token_acc`` (next-token accuracy), ``cached`` (share of the batch whose
encoder features came from the cache), ``attention_reg`` (LSTM).

Recipe (``CaptionHyper`` defaults). AdamW with nanoGPT's split (weight decay on matrices,
not on biases and norms), lr 5e-4, betas (0.9, 0.98) as in Vaswani et al. 2017, weight
decay 0.01; a linear warm-up over ``warmup_steps`` and a cosine to ``min_lr_ratio`` of the
rate at the last step. Transfer learning in two phases: for the first
``freeze_encoder_steps`` the whole encoder trunk is frozen (only the projection, the
positional embeddings and the decoder learn); then its last ``model.finetune_blocks``
blocks unfreeze with ``encoder_lr_scale`` times the rate, warmed up again over
``warmup_steps`` so that Adam's first steps do not jolt the ImageNet weights. Batch 32,
4,000 steps, validation every 500.

Feature cache
-------------
The encoder is deterministic (eval-mode BatchNorm, :mod:`atelier.models.captioner`), so
while a prefix of it is frozen its output for an image never changes. The objective keeps
those outputs in memory, keyed by ``image_id``: the output of the whole trunk during the
frozen phase (each training image is encoded once; later steps cost only the projection
and the decoder), then the output of the still-frozen prefix once the last blocks unfreeze
(the cache is emptied at that moment: its features came from blocks that now train). It is
bounded by ``feature_cache_mb`` (float32 features, first come first kept: images met when
it is full are encoded every time; 0 turns it off) and lives in the training process only
(a DataLoader worker still loads the images, which also serve as a check: an image whose
pixels differ from the one cached under its id raises ``InvalidArgument``, e.g. a dataset
with random augmentation, which must run with ``feature_cache_mb=0``). At 192 px and
stride 32 one image takes 46 KB in the frozen phase and 28 KB after (block 13's output).

Tokenizer
---------
The objective needs the run's :class:`~atelier.text.CaptionTokenizer`, which also fixes the
model's ``vocab_size``, so it exists before the model: :meth:`CaptionObjective.prepare_run`
(called by the training task before it builds the model) builds the training and
validation datasets, takes the run's own ``tokenizer.json`` when the run has a checkpoint
(resume), else the ``--init-from`` model's, else trains one on the training captions
(``tokenizer``, ``min_frequency``; the model's ``vocab_size`` is its largest size), and
sets ``spec["model_config"]["vocab_size"]``. :meth:`use_setup` hands the result to the
objective; :meth:`save_files` writes ``tokenizer.json`` beside the run's ``model.json``.
From Python: ``use_tokenizer(tokenizer)`` and ``use_validation(dataset)``.

Validation (on up to ``val_images`` held-out images, the first ones of the validation
split): ``val_loss`` (teacher-forced cross-entropy over all their captions, no smoothing),
and greedy captions scored against every reference caption with
:func:`atelier.metrics.caption_scores`: ``val_bleu_4``, ``val_cider_d`` (picks the best
checkpoint) and ``val_exact``.

Example
-------
>>> from atelier.models import build_model
>>> from atelier.train.objectives import make_objective
>>> model = build_model("captioner", {"vocab_size": 20, "pretrained": False, "image_size": 64,
...                                   "d_model": 16, "layers": 1, "heads": 2})
>>> obj = make_objective(model, {"lr": 1e-3})
>>> type(obj).__name__, obj.hyper.lr, obj.best_metric, len(obj.opt.param_groups)
('CaptionObjective', 0.001, 'val_cider_d', 4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument
from atelier.models.captioner import PAD_ID, doubly_stochastic_penalty
from atelier.models.registry import check_range
from atelier.train.objectives import register_objective
from atelier.train.objectives.base import FamilyObjective, TextRun, hyper_from_dict, run_tokenizer, warmup_factor

__all__ = ["CaptionHyper", "CaptionObjective", "CaptionSetup", "FeatureCache"]


@dataclass
class CaptionHyper:
    """Captioning recipe (see the module docstring).

    lr, betas, weight_decay : AdamW (decay on weight matrices only).
    warmup_steps : linear warm-up of the rate (and again for the encoder when it unfreezes).
    min_lr_ratio : the cosine ends at ``min_lr_ratio * lr``.
    encoder_lr_scale : the fine-tuned encoder blocks' rate relative to ``lr``.
    freeze_encoder_steps : steps with the whole encoder frozen before its last blocks train.
    label_smoothing : of the token cross-entropy, in [0, 1).
    attention_weight : weight of the LSTM decoder's doubly stochastic regulariser.
    feature_cache_mb : memory for cached encoder features (0: no cache).
    tokenizer, min_frequency : how a new run's tokenizer is trained (``"word"`` or ``"bpe"``).
    val_images : held-out images captioned at each validation.
    """

    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.98)
    weight_decay: float = 0.01
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    encoder_lr_scale: float = 0.1
    freeze_encoder_steps: int = 1000
    label_smoothing: float = 0.1
    attention_weight: float = 1.0
    feature_cache_mb: int = 1024
    tokenizer: Literal["word", "bpe"] = "word"
    min_frequency: int = 1
    val_images: int = 250
    batch_size: int = 32
    steps: int = 4000
    validate_every: int = 500


class CaptionSetup(NamedTuple):
    """What :meth:`CaptionObjective.prepare_run` builds before the model exists."""

    train: Any  #: the training CaptionedDataset
    val: Any  #: the validation CaptionedDataset, or None
    tokenizer: Any  #: the run's CaptionTokenizer


def _fingerprint(images: torch.Tensor) -> torch.Tensor:
    """``(B, 2)`` float64 sums of the pixels and of their squares, per image (on the CPU)."""
    x = images.detach().flatten(1).double()
    return torch.stack([x.sum(1), (x * x).sum(1)], dim=1).cpu()


class FeatureCache:
    """Features of a frozen encoder prefix by ``image_id``, bounded by ``max_bytes``.

    ``get(image_ids, images, boundary, compute)`` returns ``compute(images)`` for the batch,
    taking the rows of ids it holds from memory and computing (and storing, while there is
    room) the others. ``boundary`` names the prefix (the number of frozen blocks): a new
    boundary empties the cache. A cached id whose image has other pixels raises
    ``InvalidArgument`` (the cache needs deterministic images).

    >>> cache = FeatureCache(max_bytes=10_000)
    >>> images, ids = torch.rand(3, 3, 4, 4), torch.tensor([7, 8, 7])
    >>> out = cache.get(ids, images[[0, 1, 0]], 16, lambda x: x.mean(1))
    >>> out.shape, len(cache), cache.misses
    (torch.Size([3, 4, 4]), 2, 3)
    >>> _ = cache.get(ids[:1], images[:1], 16, lambda x: x.mean(1)); cache.hits
    1
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.boundary: int | None = None
        self._store: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.bytes = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        self._store.clear()
        self.bytes = 0

    def get(
        self,
        image_ids: torch.Tensor,
        images: torch.Tensor,
        boundary: int,
        compute: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        if boundary != self.boundary:
            self.clear()
            self.boundary = boundary
        ids = [int(i) for i in image_ids.tolist()]
        prints = _fingerprint(images)
        rows: list[torch.Tensor | None] = [None] * len(ids)
        missing = []
        for j, key in enumerate(ids):
            held = self._store.get(key)
            if held is None:
                missing.append(j)
                continue
            if not torch.allclose(held[1], prints[j], rtol=1e-7, atol=1e-6):
                raise InvalidArgument(
                    f"image {key} came back with other pixels than when its features were "
                    "cached: the data is not deterministic (random augmentation?); train "
                    "with feature_cache_mb=0"
                )
            rows[j] = held[0]
        self.hits += len(ids) - len(missing)
        self.misses += len(missing)
        if missing:
            index = torch.tensor(missing, device=images.device)
            computed = compute(images.index_select(0, index))
            for j, feature in zip(missing, computed):
                rows[j] = feature
                size = feature.numel() * feature.element_size()
                if ids[j] not in self._store and self.bytes + size <= self.max_bytes:
                    self._store[ids[j]] = (feature.detach().clone(), prints[j])
                    self.bytes += size
        return torch.stack(rows)  # type: ignore[arg-type]


@register_objective("captioner")
class CaptionObjective(TextRun, FamilyObjective):
    """Teacher-forced token cross-entropy for :class:`~atelier.models.Captioner`."""

    Hyper = CaptionHyper
    module_paths = {"model": ""}
    no_tokenizer = "the captioner objective has no tokenizer"
    best_metric = "val_cider_d"
    higher_is_better = True
    #: Options of a run's ``data`` section, passed to the dataset (``size``: its image side).
    data_fields = (
        "size", "train_split", "val_split", "seed", "length", "group_by", "test_fraction", "val_fraction",
    )  # fmt: skip
    #: Image side of the datasets unless ``data.size`` says otherwise (the encoder resizes).
    DATA_SIZE = 128

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h = self.hyper
        named = [(n, p) for n, p in model.named_parameters() if not n.startswith("encoder.")]
        decoder = [(n, p) for n, p in named if p.requires_grad]  # ``freeze=`` may leave some out
        if not decoder:
            raise InvalidArgument("every decoder parameter is frozen: nothing left to train; freeze less")
        tuned = {id(p) for p in model.finetune_parameters()}  # trainable after freeze_encoder_steps
        encoder = [(n, p) for n, p in model.encoder.named_parameters() if id(p) in tuned]
        groups, self._group_kinds = [], []
        for kind, params, lr in (("decoder", decoder, h.lr), ("encoder", encoder, h.lr * h.encoder_lr_scale)):
            decay = [p for _, p in params if p.ndim >= 2]
            no_decay = [p for _, p in params if p.ndim < 2]
            for group, wd in ((decay, h.weight_decay), (no_decay, 0.0)):
                if group:
                    groups.append({"params": group, "lr": self.lr(lr), "weight_decay": wd})
                    self._group_kinds.append(kind)
        self.opt = torch.optim.AdamW(groups, betas=h.betas)
        self.total_steps: int | None = None
        # plain functions, so that LambdaLR keeps them out of its state_dict
        lambdas = [
            (lambda step: self.lr_factor(step)) if kind == "decoder" else (lambda step: self.encoder_lr_factor(step))
            for kind in self._group_kinds
        ]
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambdas)
        self.tokenizer = None
        self.val_dataset = None
        self._train_data = None
        self._val_images: list[tuple[torch.Tensor, list[str]]] | None = None
        self._trainable: int | None = None  # encoder blocks now trainable (set at each step)
        mb = h.feature_cache_mb
        self.cache = FeatureCache(mb * 2**20) if mb > 0 else None

    def check_hyper(self) -> None:
        super().check_hyper()
        h = self.hyper
        check_range("hyper.label_smoothing", h.label_smoothing, 0, 1, high_open=True)
        check_range("hyper.encoder_lr_scale", h.encoder_lr_scale, 0, None, low_open=True)
        check_range("hyper.warmup_steps", h.warmup_steps, 0, 10**9)
        check_range("hyper.freeze_encoder_steps", h.freeze_encoder_steps, 0, 10**9)
        check_range("hyper.feature_cache_mb", h.feature_cache_mb, 0, 2**30)
        check_range("hyper.min_frequency", h.min_frequency, 1, 10**9)
        check_range("hyper.val_images", h.val_images, 1, 10**7)

    # --- schedule -------------------------------------------------------------------------
    def setup(self, config: Any) -> None:
        self.total_steps = int(config.steps)

    def lr_factor(self, step: int) -> float:
        """Warm-up over ``warmup_steps``, then a cosine to ``min_lr_ratio`` at the last step."""
        h = self.hyper
        if step < h.warmup_steps:
            return warmup_factor(step, h.warmup_steps)
        if not self.total_steps or self.total_steps <= h.warmup_steps:
            return 1.0
        t = min(step - h.warmup_steps, self.total_steps - h.warmup_steps) / (self.total_steps - h.warmup_steps)
        floor = h.min_lr_ratio
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    def encoder_lr_factor(self, step: int) -> float:
        """The decoder's factor, 0 while the encoder is frozen and warmed up again after."""
        h = self.hyper
        since = step - h.freeze_encoder_steps
        if since < 0:
            return 0.0
        return warmup_factor(since, h.warmup_steps) * self.lr_factor(step)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"lr": self.sched}

    # --- tokenizer and data ---------------------------------------------------------------
    @classmethod
    def build_dataset(cls, data: str, options: Mapping[str, Any] | None, split: Any) -> Any:
        """The captioned dataset ``data`` as a run reads it: its ``data`` options (``size``,
        default ``DATA_SIZE``; ``train_split`` / ``val_split`` are left out) and ``split``.

        Raises ``InvalidArgument`` for an option the dataset does not take, for data without
        captions and for a bad split. Training and ``atelier.tasks.caption_eval`` build their
        data through this, so an evaluation sees the images at the size training saw them.

        >>> ds = CaptionObjective.build_dataset("scenes", {"length": 20, "size": 32}, "all")
        >>> ds.num_images, ds.size
        (20, 32)
        """
        from atelier.data import make_dataset

        options = {k: v for k, v in (options or {}).items() if k not in ("train_split", "val_split")}
        size = options.pop("size", cls.DATA_SIZE)

        def build(part: Any):
            try:
                return make_dataset(data, size=size, split=part, **options)
            except TypeError as exc:  # an option this dataset does not take
                if "unexpected keyword argument" not in str(exc):
                    raise
                name = str(exc).rsplit("argument", 1)[-1].strip(" '\"")
                raise InvalidArgument(f"data.{name} does not apply to the dataset {data}") from None

        no_captions = InvalidArgument(
            f"{data} has no captions: a captioner trains and is evaluated on captioned data "
            "(a folder with metadata.jsonl, coco:FILE.json, scenes, shapes-captions)"
        )
        try:
            dataset = build(split)
        except InvalidArgument:  # a part name given to data without parts, or a bad split
            if not hasattr(build(None), "all_captions"):
                raise no_captions from None
            raise
        if not hasattr(dataset, "all_captions"):
            raise no_captions
        return dataset

    @classmethod
    def prepare_run(cls, spec: dict[str, Any], run: str | Path | None = None) -> CaptionSetup:
        """Build the run's datasets and tokenizer before its model; set its ``vocab_size``.

        ``spec`` is a resolved run (``atelier.tasks.training.resolve_run``); its
        ``model_config["vocab_size"]`` is set to the tokenizer's size (in place). The
        tokenizer is ``run/tokenizer.json`` when ``run`` has a checkpoint (a resumed run),
        else ``tokenizer.json`` of ``fine_tune.init_from`` when it has one, else trained on
        the training split's captions.
        """
        options = dict(spec.get("data_options") or {})
        train_split = options.get("train_split", "train")
        val_split = options.get("val_split", "val")
        data = spec["data"]
        train = cls.build_dataset(data, options, train_split)
        val = cls.build_dataset(data, options, val_split) if val_split not in (None, "none") else None
        hyper = hyper_from_dict(cls.Hyper, spec.get("hyper") or {})
        tokenizer = run_tokenizer(
            spec, run, train.all_captions, kind=hyper.tokenizer, min_frequency=hyper.min_frequency
        )
        return CaptionSetup(train, val, tokenizer)

    def use_setup(self, setup: CaptionSetup) -> None:
        """Take :meth:`prepare_run`'s tokenizer, validation data and training data."""
        self.use_tokenizer(setup.tokenizer)
        self.use_validation(setup.val)
        self._train_data = setup.train

    def use_validation(self, dataset: Any) -> None:
        """Validate on the first ``val_images`` images of ``dataset`` (None: no validation)."""
        self.val_dataset = dataset
        self._val_images = None

    def save_files(self, folder: str | Path) -> None:
        """Write the tokenizer beside the model: ``folder/tokenizer.json``."""
        self._need_tokenizer().save(folder)

    # --- training -------------------------------------------------------------------------
    def _phase(self, step: int) -> int:
        """Encoder blocks trainable at ``step`` (0 while frozen); sets ``requires_grad``."""
        k = self.model.config.finetune_blocks if step >= self.hyper.freeze_encoder_steps else 0
        if k != self._trainable:
            self.model.encoder.set_trainable(k)
            self._trainable = k
        return k

    def grid(self, model: Any, images: torch.Tensor, image_ids: torch.Tensor | None, trainable: int) -> torch.Tensor:
        """Encoder grid of ``images`` with the last ``trainable`` blocks differentiable; the
        frozen prefix comes from the feature cache when there is one and ids are given."""
        encoder = model.encoder
        start = encoder.num_blocks - trainable

        def prefix(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return encoder.features(x, start)

        if self.cache is None or image_ids is None:
            h = prefix(images)
        else:
            h = self.cache.get(image_ids, images, start, prefix)
        return encoder.rest(h, start)

    def _tokens(self, texts: Sequence[str], device: torch.device) -> torch.Tensor:
        ids, lengths = self._need_tokenizer().encode_batch(list(texts), max_length=self.model.config.max_length)
        return ids[:, : int(lengths.max())].to(device)

    def _losses(self, model: Any, memory: torch.Tensor, ids: torch.Tensor, smoothing: float):
        inputs, targets = ids[:, :-1], ids[:, 1:]
        lstm = model.config.decoder == "lstm"
        logits, attention = model.decode(memory, inputs, need_attention=lstm)
        flat_logits, flat_targets = logits.float().flatten(0, 1), targets.flatten()
        loss = F.cross_entropy(flat_logits, flat_targets, ignore_index=PAD_ID, label_smoothing=smoothing)
        mask = targets != PAD_ID
        reg = doubly_stochastic_penalty(attention.float(), mask) if lstm else None
        return logits, targets, mask, loss, reg

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        if not (isinstance(batch, tuple) and len(batch) == 4 and isinstance(batch[2], (list, tuple))):
            raise InvalidArgument(
                "the captioner trains on captioned data: batches of CaptionedItem(images, labels, "
                "texts, image_ids) (atelier.data.captioned)"
            )
        images, _, texts, image_ids = batch
        h = self.hyper
        ids = self._tokens(texts, images.device)
        trainable = self._phase(step)
        hits = self.cache.hits if self.cache is not None else 0
        with ctx.autocast():
            memory = self.model.memory_from_grid(self.grid(self.model, images, image_ids, trainable))
            logits, targets, mask, loss, reg = self._losses(self.model, memory, ids, h.label_smoothing)
        total = loss if reg is None else loss + h.attention_weight * reg
        ctx.optimize("model", total)
        with torch.no_grad():
            token_loss = loss if h.label_smoothing == 0 else F.cross_entropy(
                logits.detach().float().flatten(0, 1), targets.flatten(), ignore_index=PAD_ID
            )
            acc = (logits.detach().argmax(-1) == targets)[mask].float().mean()
        out = {"loss": total.item(), "token_loss": token_loss.item(), "token_acc": acc.item()}
        if self.cache is not None:
            out["cached"] = (self.cache.hits - hits) / len(texts)
        if reg is not None:
            out["attention_reg"] = reg.item()
        return out

    # --- validation -----------------------------------------------------------------------
    def _validation_images(self) -> list[tuple[torch.Tensor, list[str]]]:
        if self._val_images is None:
            self._val_images = [  # a corrupt file is skipped, as in training
                (image, self.val_dataset.captions(image_id))
                for image_id, image in self.val_dataset.valid_images(self.hyper.val_images)
            ]
        return self._val_images

    def validate(self, modules: dict[str, torch.nn.Module], batch_size: int = 50) -> dict[str, float]:
        """``val_loss``, ``val_bleu_4``, ``val_cider_d``, ``val_exact`` on the held-out images."""
        if self.val_dataset is None or self.tokenizer is None:
            return {}
        from atelier.metrics import caption_scores
        from atelier.models.caption_decode import greedy

        items = self._validation_images()
        if not items:
            return {}
        model = modules["model"]
        device = next(model.parameters()).device
        loss_sum, token_count, hypotheses, references = 0.0, 0, [], []
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            memory = model.encode(torch.stack([image for image, _ in chunk]).to(device))
            rows = [i for i, (_, refs) in enumerate(chunk) for _ in refs]
            ids = self._tokens([r for _, refs in chunk for r in refs], device)
            logits, targets, mask, _, _ = self._losses(model, memory[rows], ids, 0.0)
            loss_sum += F.cross_entropy(
                logits.float().flatten(0, 1), targets.flatten(), ignore_index=PAD_ID, reduction="sum"
            ).item()
            token_count += int(mask.sum())
            for hyp in greedy(model, memory):
                hypotheses.append(self.tokenizer.decode(hyp[0].tokens))
            references += [refs for _, refs in chunk]
        scores = caption_scores(hypotheses, references, metrics=("bleu", "cider", "exact"))
        return {
            "val_loss": loss_sum / max(token_count, 1),
            "val_bleu_4": scores["bleu_4"],
            "val_cider_d": scores["cider_d"],
            "val_exact": scores["exact"],
        }
