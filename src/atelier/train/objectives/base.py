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
from typing import Any, Iterator, Mapping

import torch
from torch import nn

from atelier.errors import InvalidArgument
from atelier.train.objective import Objective
from atelier.train.objectives.freeze import apply_freeze, freeze_discriminator_blocks, trainable

__all__ = ["FamilyObjective", "hyper_from_dict", "check_labels", "frozen_grads"]


def hyper_from_dict(cls: type, data: Mapping[str, Any] | Any = None, *, base: Any = None) -> Any:
    """A ``cls`` (a ``Hyper`` dataclass) from ``base`` (default: ``cls()``) updated by ``data``.

    ``data`` may be a dict, an instance of ``cls`` (returned as is) or None. Lists become
    tuples where the default is a tuple (JSON has no tuples); ints are accepted for floats.
    Unknown keys raise ``InvalidArgument`` naming the known ones.

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
    for key, value in data.items():
        default = getattr(out, key)
        if isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or len(value) != len(default):
                raise InvalidArgument(f"{key} must be {len(default)} numbers, got {value!r}")
            value = tuple(float(v) for v in value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise InvalidArgument(f"{key} must be true or false, got {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgument(f"{key} must be an integer, got {value!r}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidArgument(f"{key} must be a number, got {value!r}")
            value = float(value)
        setattr(out, key, value)
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


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise InvalidArgument(f"{name} must be > 0, got {value}")


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
        if isinstance(lr_scale, bool) or not isinstance(lr_scale, (int, float)) or not lr_scale > 0:
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
        for f in dataclasses.fields(self.hyper):
            if f.name.startswith("lr") or f.name in ("batch_size", "n_critic"):
                _positive(f.name, getattr(self.hyper, f.name))

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
