"""The training objective of each model family, registered under the model's name.

``make_objective(model, hyper)`` picks the objective by ``model.model_name``; ``hyper`` is a
dict of training hyper-parameters overriding the family's default recipe (its ``Hyper``
dataclass). Fine-tuning knobs: ``freeze_d`` (FreezeD), ``freeze`` (parameter-name prefixes)
and ``lr_scale``.

Example
-------
>>> from atelier.models import build_model
>>> model = build_model("vae", {"resolution": 16, "width": 8, "latent_dim": 4})
>>> objective = make_objective(model, {"lr": 5e-4})
>>> type(objective).__name__, objective.hyper.lr, sorted(objective.optimizers())
('VAEObjective', 0.0005, ['model'])
>>> sorted(list_objectives())
['adain', 'captioner', 'cgan', 'classifier', 'cvae', 'dcgan', 'diffusion', 'dncnn', 'drunet', 'edsr', 'espcn', 'inpaint', 'style', 'text-gan', 'vae', 'vaegan']
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from atelier.errors import InvalidArgument, lookup

_REGISTRY: dict[str, type] = {}


def register_objective(model_name: str) -> Callable[[type], type]:
    """Class decorator: the objective that trains models registered as ``model_name``."""

    def deco(cls: type) -> type:
        if model_name in _REGISTRY and _REGISTRY[model_name] is not cls:
            raise InvalidArgument(f"an objective for {model_name!r} is already registered")
        _REGISTRY[model_name] = cls
        return cls

    return deco


def list_objectives() -> dict[str, type]:
    """Model name -> objective class."""
    return dict(_REGISTRY)


def get_objective(model_name: str) -> type:
    """The objective class for ``model_name``; ``UnknownName`` with suggestions otherwise."""
    return lookup(_REGISTRY, model_name, "model to train")


def make_objective(
    model: Any,
    hyper: Mapping[str, Any] | None = None,
    *,
    freeze_d: int = 0,
    freeze: tuple[str, ...] = (),
    lr_scale: float = 1.0,
):
    """The objective for ``model`` (looked up by ``model.model_name``) with ``hyper`` overrides."""
    name = getattr(type(model), "model_name", None)
    if name is None:
        raise InvalidArgument(
            f"{type(model).__name__} is not a registered atelier model; build one with atelier.models.build_model"
        )
    return get_objective(name)(model, hyper, freeze_d=freeze_d, freeze=tuple(freeze), lr_scale=lr_scale)


from atelier.train.objectives.base import FamilyObjective, hyper_from_dict  # noqa: E402
from atelier.train.objectives.freeze import apply_freeze, freeze_discriminator_blocks  # noqa: E402
from atelier.train.objectives.gan import CGANObjective, DCGANObjective, GANHyper, GAN_RECIPES  # noqa: E402
from atelier.train.objectives.vae import CVAEObjective, VAEHyper, VAEObjective  # noqa: E402
from atelier.train.objectives.vaegan import VAEGANHyper, VAEGANObjective  # noqa: E402
from atelier.train.objectives.classifier import ClassifierHyper, ClassifierObjective  # noqa: E402
from atelier.train.objectives.restoration import (  # noqa: E402
    DenoiseHyper,
    DenoiseObjective,
    EDSRObjective,
    ESPCNObjective,
    SRHyper,
    SRObjective,
)
from atelier.train.objectives.style import StyleHyper, StyleObjective  # noqa: E402
from atelier.train.objectives.adain import AdaINHyper, AdaINObjective  # noqa: E402
from atelier.train.objectives.inpaint import InpaintHyper, InpaintObjective  # noqa: E402
from atelier.train.objectives.caption import CaptionHyper, CaptionObjective  # noqa: E402
from atelier.train.objectives.diffusion import DiffusionHyper, DiffusionObjective  # noqa: E402
from atelier.train.objectives.text_gan import TextGANHyper, TextGANObjective  # noqa: E402

__all__ = [
    "AdaINHyper",
    "AdaINObjective",
    "CaptionHyper",
    "CaptionObjective",
    "CGANObjective",
    "CVAEObjective",
    "ClassifierHyper",
    "ClassifierObjective",
    "DCGANObjective",
    "DenoiseHyper",
    "DiffusionHyper",
    "DiffusionObjective",
    "DenoiseObjective",
    "EDSRObjective",
    "ESPCNObjective",
    "FamilyObjective",
    "GANHyper",
    "GAN_RECIPES",
    "InpaintHyper",
    "InpaintObjective",
    "SRHyper",
    "SRObjective",
    "StyleHyper",
    "StyleObjective",
    "TextGANHyper",
    "TextGANObjective",
    "VAEGANHyper",
    "VAEGANObjective",
    "VAEHyper",
    "VAEObjective",
    "apply_freeze",
    "freeze_discriminator_blocks",
    "get_objective",
    "hyper_from_dict",
    "list_objectives",
    "make_objective",
    "register_objective",
]
