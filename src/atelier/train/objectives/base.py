"""What every family's objective shares: hyper-parameters from dicts, freezing, lr scaling, export.

A family objective subclasses :class:`FamilyObjective`, declares a ``Hyper`` dataclass whose
defaults are the family's published recipe, and implements ``step``. The constructor takes
``(model, hyper, *, freeze_d=0, freeze=(), lr_scale=1.0)`` (the fine-tuning knobs, see
:mod:`atelier.train.objectives.freeze`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import typing
from typing import Any, Iterator, Mapping

import torch
from torch import nn

from atelier.errors import InvalidArgument
from atelier.models.registry import check_range, check_setting
from atelier.train.objective import Objective
from atelier.train.objectives.freeze import apply_freeze, freeze_discriminator_blocks, trainable

__all__ = [
    "FamilyObjective", "TextRun", "hyper_from_dict", "check_labels", "frozen_grads", "run_tokenizer", "warmup_factor",
]  # fmt: skip


def hyper_from_dict(cls: type, data: Mapping[str, Any] | Any = None, *, base: Any = None) -> Any:
    """A ``cls`` (a ``Hyper`` dataclass) from ``base`` (default: ``cls()``) updated by ``data``.

    ``data`` may be a dict, an instance of ``cls`` (returned as is) or None. Each value is
    checked against its declared type (:func:`atelier.models.registry.check_setting`):
    lists become tuples (JSON has no tuples), ints are accepted for floats, NaN and infinity
    are not. Unknown keys raise ``InvalidArgument`` naming the known ones. Ranges are the
    objective's (``FamilyObjective.check_hyper``).

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class H:
    ...     lr: float = 1e-3
    ...     betas: tuple[float, float] = (0.9, 0.999)
    >>> hyper_from_dict(H, {"lr": 1, "betas": [0.5, 0.9]})
    H(lr=1.0, betas=(0.5, 0.9))
    """
    if isinstance(data, cls):
        return data
    out = copy.deepcopy(base) if base is not None else cls()
    if data is None:
        return out
    if not isinstance(data, Mapping):
        raise InvalidArgument(f"hyper-parameters must be a dict, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidArgument(
            f"unknown training hyper-parameter(s) {', '.join(map(repr, unknown))} for "
            f"{cls.__qualname__}; known: {', '.join(sorted(known))}"
        )
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        setattr(out, key, check_setting(f"hyper.{key}", value, hints[key]))
    return out


def check_labels(y: Any, num_classes: int, model: str) -> torch.Tensor:
    """The batch's labels as a ``(B,)`` long tensor; clear errors for unlabelled data."""
    if not isinstance(y, torch.Tensor):
        raise InvalidArgument(f"{model} is conditional: its training data must yield (image, label) pairs")
    y = y.long()
    if y.numel() and int(y.min()) < 0:
        raise InvalidArgument(
            f"{model} is conditional but the data has unlabelled images (label -1); "
            "use a labelled dataset or an unconditional model"
        )
    if y.numel() and int(y.max()) >= num_classes:
        raise InvalidArgument(
            f"{model} has num_classes={num_classes} but the data has label {int(y.max())}; "
            "set num_classes to the number of classes in the data"
        )
    return y


def run_tokenizer(
    spec: dict[str, Any],
    run: Any,
    captions: Any,
    *,
    kind: str = "word",
    min_frequency: int = 1,
) -> Any:
    """The tokenizer of a text-reading run, found or trained before its model is built.

    ``run/tokenizer.json`` when ``run`` has a checkpoint (a resumed run keeps its ids), else
    the ``tokenizer.json`` of ``spec["fine_tune"]["init_from"]`` when it has one, else a new
    :class:`~atelier.text.CaptionTokenizer` trained on ``captions()`` (a callable returning
    the training captions, called only then) of at most ``model_config["vocab_size"]`` ids
    (default 8000). Sets ``spec["model_config"]["vocab_size"]`` to the tokenizer's size (in
    place): the captioner and the text-conditional diffusion model share this rule.
    """
    from pathlib import Path

    from atelier.text import TOKENIZER_FILE, CaptionTokenizer
    from atelier.train.checkpoint import latest_checkpoint

    init_from = (spec.get("fine_tune") or {}).get("init_from")
    sources = []
    if run is not None and latest_checkpoint(Path(run) / "checkpoints") is not None:
        sources.append(Path(run))
    if init_from:
        sources.append(Path(init_from))
    found = [s for s in sources if (s / TOKENIZER_FILE).is_file()]
    if found:
        tokenizer = CaptionTokenizer.load(found[0])
    else:
        tokenizer = CaptionTokenizer.train(
            captions(),
            kind=kind,
            vocab_size=int(spec["model_config"].get("vocab_size", 8000)),
            min_frequency=min_frequency,
        )
    spec["model_config"]["vocab_size"] = tokenizer.vocab_size
    return tokenizer


def warmup_factor(step: int, warmup_steps: int) -> float:
    """The rate factor of a linear warm-up: ``(step + 1) / warmup_steps`` over the first
    ``warmup_steps`` steps, then 1 (at once for ``warmup_steps`` 0).

    >>> [warmup_factor(step, 4) for step in range(5)], warmup_factor(0, 0)
    ([0.25, 0.5, 0.75, 1.0, 1.0], 1.0)
    """
    return 1.0 if step >= warmup_steps else (step + 1) / warmup_steps


@contextlib.contextmanager
def frozen_grads(module: nn.Module) -> Iterator[None]:
    """Stop gradients into ``module``'s parameters for the block (the generator step does not
    need the discriminator's); each parameter's own ``requires_grad`` is restored after."""
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


class FamilyObjective(Objective):
    """Base of the family objectives: holds ``model`` and ``hyper``, applies the freezing.

    Subclasses set ``Hyper`` and ``module_paths`` (module name -> attribute path in the model,
    ``""`` for the model itself), may override ``default_hyper`` (a recipe that depends on the
    model's config), and build their optimizers with :meth:`params` and :meth:`lr`.
    """

    Hyper: type = type(None)
    module_paths: dict[str, str] = {}
    has_discriminator: bool = False

    def __init__(
        self,
        model: nn.Module,
        hyper: Mapping[str, Any] | Any = None,
        *,
        freeze_d: int = 0,
        freeze: tuple[str, ...] = (),
        lr_scale: float = 1.0,
    ) -> None:
        if isinstance(lr_scale, bool) or not isinstance(lr_scale, (int, float)) or not 0 < lr_scale < float("inf"):
            raise InvalidArgument(f"lr_scale must be a number > 0, got {lr_scale!r}")
        self.model = model
        self.hyper = hyper_from_dict(self.Hyper, hyper, base=self.default_hyper(model.config))
        self.check_hyper()
        self.lr_scale = float(lr_scale)
        self.freeze_d, self.freeze = int(freeze_d), tuple(freeze)
        if freeze_d:
            if not self.has_discriminator:
                raise InvalidArgument(
                    f"freeze_d applies to GAN discriminators; {model.model_name} has none (use freeze=)"
                )
            freeze_discriminator_blocks(model.discriminator, freeze_d)
        if freeze:
            apply_freeze(model, freeze)

    @classmethod
    def default_hyper(cls, config: Any) -> Any:
        """The family's recipe for a model of this ``config`` (the ``Hyper`` defaults here)."""
        return cls.Hyper()

    def check_hyper(self) -> None:
        """The ranges of the hyper-parameters every family shares, by name (a subclass adds
        its own and calls this): learning rates ``lr*`` > 0, ``betas`` in [0, 1),
        ``weight_decay`` and every ``*_weight`` >= 0, ``batch_size``, ``n_critic``,
        ``steps``, ``validate_every`` >= 1, ``ema_decay`` in (0, 1), ``patch`` and
        ``style_size`` at most 4096 pixels, ``min_lr_ratio`` in [0, 1]."""
        h = self.hyper
        for f in dataclasses.fields(h):
            name, value = f.name, getattr(h, f.name)
            where = f"hyper.{name}"
            if name.startswith("lr"):
                check_range(where, value, 0, None, low_open=True)
            elif name == "betas":
                for i, beta in enumerate(value):
                    check_range(f"{where}[{i}]", beta, 0, 1, high_open=True)
            elif name == "weight_decay" or name.endswith("_weight"):
                check_range(where, value, 0, None)
            elif name == "batch_size":
                check_range(where, value, 1, 65536)
            elif name == "n_critic":
                check_range(where, value, 1, 100)
            elif name in ("steps", "validate_every"):
                check_range(where, value, 1, 10**9)
            elif name == "ema_decay":
                check_range(where, value, 0, 1, low_open=True, high_open=True)
            elif name in ("patch", "style_size"):
                check_range(where, value, 1, 4096)
            elif name == "min_lr_ratio":
                check_range(where, value, 0, 1)

    @classmethod
    def check_hyper_values(cls, hyper: Any) -> None:
        """Run ``check_hyper`` on a ``Hyper`` instance without a model (``resolve_run`` checks
        a run's settings before building anything). ``check_hyper`` reads ``self.hyper`` only."""
        probe = cls.__new__(cls)
        probe.hyper = hyper
        probe.check_hyper()

    def lr(self, value: float) -> float:
        return value * self.lr_scale

    def params(self, *modules: nn.Module, name: str) -> list[nn.Parameter]:
        """Trainable parameters of ``modules`` (frozen ones excluded); error if none are left."""
        out = [p for m in modules for p in trainable(m)]
        if not out:
            raise InvalidArgument(
                f"every parameter of the {name} is frozen: nothing left to train; freeze less"
            )
        return out

    def modules(self) -> dict[str, nn.Module]:
        return {name: _resolve(self.model, path) for name, path in self.module_paths.items()}

    def export(self, ema: Mapping[str, Any] | None = None) -> nn.Module:
        """A deep copy of the full model, with EMA weights swapped in for the EMA'd modules.

        ``ema`` maps module names to :class:`~atelier.train.EMA` (the Trainer's ``ema``) or to
        modules; the training modules are not changed. The copy is in eval mode with every
        parameter trainable again (freezing is a training choice), ready for ``save_model``.
        """
        out = copy.deepcopy(self.model)
        for name, avg in (ema or {}).items():
            if name not in self.module_paths:
                known = ", ".join(self.module_paths)
                raise InvalidArgument(f"no module {name!r} to swap EMA weights into; known: {known}")
            source = getattr(avg, "module", avg)
            _resolve(out, self.module_paths[name]).load_state_dict(source.state_dict())
        out.requires_grad_(True)
        return out.eval()


def _resolve(model: nn.Module, path: str) -> nn.Module:
    return model.get_submodule(path) if path else model


class TextRun:
    """What the objectives of text-reading runs share (the captioner, text-conditional diffusion).

    Such a run is built in two parts: the class's ``prepare_run`` makes the datasets and the
    tokenizer before the model exists, and ``use_setup`` hands them to the objective, which
    keeps the tokenizer (:meth:`use_tokenizer`) and the training data (:meth:`build_data`).
    Mix it in before :class:`FamilyObjective`; ``no_tokenizer`` starts the error of a text
    step without a tokenizer.
    """

    #: The start of the error when a step needs the tokenizer and none was given.
    no_tokenizer: str = "the objective has no tokenizer"
    model: Any
    tokenizer: Any = None
    _train_data: Any = None

    def use_tokenizer(self, tokenizer: Any) -> None:
        """Encode captions with ``tokenizer`` (its ``vocab_size`` must be the model's)."""
        if tokenizer.vocab_size != self.model.config.vocab_size:
            raise InvalidArgument(
                f"the tokenizer has {tokenizer.vocab_size} ids but the model was built for "
                f"vocab_size={self.model.config.vocab_size}; build the model with the tokenizer's size"
            )
        self.tokenizer = tokenizer

    def build_data(self, spec: Mapping[str, Any]) -> Any:
        """The training dataset of ``use_setup`` (the training task's call)."""
        if self._train_data is None:
            raise InvalidArgument(f"call {type(self).__name__}.prepare_run and use_setup before build_data")
        return self._train_data

    def _need_tokenizer(self) -> Any:
        if self.tokenizer is None:
            raise InvalidArgument(
                f"{self.no_tokenizer}: call use_tokenizer(CaptionTokenizer) "
                "(a training run does it through prepare_run)"
            )
        return self.tokenizer
