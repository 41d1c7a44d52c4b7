"""Fine-tuning helpers: FreezeD (freeze the first k discriminator blocks) and freezing by name.

A discriminator "layer" (block) for FreezeD is one stage of its
:class:`~atelier.models.layers.DownStack`: a strided 4x4 conv, its normalisation and the
LeakyReLU, i.e. ``body.net[3*i : 3*i + 3]``. ``k = 2`` freezes the two stages nearest the
image (the generic low-level features) and keeps training the rest and the head (and, for the
projection discriminator, its linear and label embedding).

Frozen parameters get ``requires_grad = False`` and are left out of the optimizers, so they
stay bit-identical. BatchNorm running statistics of a frozen block still follow the data in
training mode (only weights are frozen), as in Mo et al.'s implementation where the frozen
layers stay in the network's train mode.

Reference: Mo, Cho & Shin (2020), "Freeze the Discriminator: a Simple Baseline for
Fine-Tuning GANs", arXiv:2002.10964.

Example
-------
>>> from atelier.models import build_model
>>> gan = build_model("dcgan", {"resolution": 16, "width": 8})
>>> frozen = freeze_discriminator_blocks(gan.discriminator, 1)
>>> frozen
['body.net.0.bias', 'body.net.0.weight']
>>> gan.discriminator.body.net[0].weight.requires_grad
False
"""

from __future__ import annotations

from typing import Iterable

from torch import nn

from atelier.errors import InvalidArgument

__all__ = ["discriminator_blocks", "freeze_discriminator_blocks", "apply_freeze", "trainable"]

BLOCK_SIZE = 3  # conv, norm, LeakyReLU per DownStack stage


def discriminator_blocks(discriminator: nn.Module) -> list[nn.Module]:
    """The conv blocks of a discriminator's ``body`` (a DownStack), image side first."""
    if hasattr(discriminator, "features_net"):
        raise InvalidArgument(
            "freeze_d: the projected discriminator's pretrained features are frozen already and "
            "its small discriminators are what it trains; freeze_d applies to the conv discriminator"
        )
    body = getattr(discriminator, "body", None)
    net = getattr(body, "net", None)
    if not isinstance(net, nn.Sequential):
        raise InvalidArgument(f"{type(discriminator).__name__} has no DownStack body to freeze blocks of")
    layers = list(net)
    return [nn.Sequential(*layers[i : i + BLOCK_SIZE]) for i in range(0, len(layers), BLOCK_SIZE)]


def freeze_discriminator_blocks(discriminator: nn.Module, k: int) -> list[str]:
    """FreezeD: freeze the first ``k`` conv blocks; returns the frozen parameter names."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise InvalidArgument(f"freeze_d must be a non-negative integer, got {k!r}")
    n = len(discriminator_blocks(discriminator))
    if k > n:
        raise InvalidArgument(f"freeze_d={k} but the discriminator has only {n} conv blocks; use 0..{n}")
    names = []
    for i in range(k * BLOCK_SIZE):
        prefix = f"body.net.{i}."
        for name, p in discriminator.named_parameters():
            if name.startswith(prefix):
                p.requires_grad_(False)
                names.append(name)
    return sorted(names)


def apply_freeze(model: nn.Module, prefixes: Iterable[str]) -> list[str]:
    """Freeze every parameter of ``model`` whose dotted name is or starts with a prefix.

    ``"encoder"`` freezes ``encoder.*``, ``"discriminator.body.net.0"`` one conv; a prefix
    matches whole name components only. A prefix matching nothing is an error (a typo would
    otherwise silently train everything). Returns the frozen names.
    """
    if isinstance(prefixes, str):
        prefixes = (prefixes,)
    named = dict(model.named_parameters())
    frozen: list[str] = []
    for prefix in prefixes:
        prefix = prefix.strip().strip(".")
        hits = [n for n in named if n == prefix or n.startswith(prefix + ".")]
        if not hits:
            groups = sorted({n.split(".")[0] for n in named})
            raise InvalidArgument(
                f"freeze: no parameter of {type(model).__name__} is named {prefix!r} or starts with "
                f"it; top-level groups: {', '.join(groups)} (use dotted names, e.g. {groups[0]}.body)"
            )
        for n in hits:
            named[n].requires_grad_(False)
        frozen += hits
    return sorted(set(frozen))


def trainable(module: nn.Module) -> list[nn.Parameter]:
    """Parameters of ``module`` with ``requires_grad`` (what goes to the optimizer)."""
    return [p for p in module.parameters() if p.requires_grad]
