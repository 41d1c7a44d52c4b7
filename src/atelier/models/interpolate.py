"""Network interpolation (Wang et al. 2018, ESRGAN, section 3.4): blend two trained models of
the same architecture weight by weight.

``theta = (1 - alpha) * theta_a + alpha * theta_b``. ESRGAN interpolates its PSNR-oriented
network (``a``) with the GAN fine-tune of it (``b``) to trade fidelity for texture smoothly
(their demo uses ``alpha = 0.8``); it works because ``b`` was fine-tuned from ``a``, so the
two lie in one basin. Two unrelated trainings of one architecture blend into nonsense: the
weights are checked to have the same names and shapes, not the same origin.

Integer buffers (BatchNorm's ``num_batches_tracked``) are taken from ``a``.

Example
-------
>>> from atelier.models import build_model
>>> a = build_model("espcn", {"scale": 2, "channels": 1})
>>> b = build_model("espcn", {"scale": 2, "channels": 1})
>>> mid = interpolate_models(a, b, 0.5)
>>> k = next(iter(mid.state_dict()))
>>> bool((mid.state_dict()[k] - (a.state_dict()[k] + b.state_dict()[k]) / 2).abs().max() < 1e-6)
True
"""

from __future__ import annotations

import copy
from typing import Mapping

import torch

from atelier.errors import InvalidArgument

__all__ = ["interpolate_state", "interpolate_models"]


def interpolate_state(
    a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * a + alpha * b`` per floating-point tensor; ``a``'s integer tensors as they are.

    ``alpha`` in [0, 1]. The two state dicts must have the same keys and shapes
    (``InvalidArgument`` naming the first difference otherwise).
    """
    if not 0.0 <= alpha <= 1.0:
        raise InvalidArgument(f"alpha must be in [0, 1] (0: the first model, 1: the second), got {alpha}")
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))[0]
        raise InvalidArgument(f"the two models have different layers (e.g. {only!r}); interpolate two "
                              "trainings of one architecture")
    out: dict[str, torch.Tensor] = {}
    for key, ta in a.items():
        tb = b[key]
        if ta.shape != tb.shape:
            raise InvalidArgument(f"layer {key!r} is {tuple(ta.shape)} in the first model and "
                                  f"{tuple(tb.shape)} in the second; interpolate two trainings of one configuration")
        out[key] = torch.lerp(ta, tb.to(ta.dtype), alpha) if ta.is_floating_point() else ta.clone()
    return out


def interpolate_models(a: torch.nn.Module, b: torch.nn.Module, alpha: float) -> torch.nn.Module:
    """A copy of ``a`` holding the weights ``(1 - alpha) * a + alpha * b`` (see the module docstring).

    ``a`` and ``b``: registered atelier models of one name and configuration.
    """
    for which, module in (("first", a), ("second", b)):
        if getattr(type(module), "model_name", None) is None:
            raise InvalidArgument(f"the {which} model is not a registered atelier model")
    if type(a).model_name != type(b).model_name:
        raise InvalidArgument(f"cannot interpolate a {type(a).model_name} with a {type(b).model_name}")
    if getattr(a, "config", None) != getattr(b, "config", None):
        raise InvalidArgument(f"the two {type(a).model_name} models have different configurations "
                              f"({a.config} vs {b.config}); interpolate two trainings of one configuration")
    out = copy.deepcopy(a)
    out.load_state_dict(interpolate_state(a.state_dict(), b.state_dict(), float(alpha)))
    return out
