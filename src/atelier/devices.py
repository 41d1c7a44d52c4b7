"""Device names for every command: one check, one message, one default (``auto``).

``select_device`` turns a user's device name into a ``torch.device`` or raises
``InvalidArgument`` with one line that says what is wrong: an unknown name (``tpu``,
``gpu``), or a real device that this machine lacks (``cuda`` without a CUDA GPU).
``resolve_device`` is what every task calls: ``None`` means where the given model already
is, any name goes through ``select_device``.

Example
-------
>>> select_device("cpu")
device(type='cpu')
>>> resolve_device(None, torch.nn.Linear(2, 2))
device(type='cpu')
>>> select_device("tpu")
Traceback (most recent call last):
...
atelier.errors.InvalidArgument: unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps
"""

from __future__ import annotations

from typing import Any

import torch

from atelier.errors import InvalidArgument

DEVICE_HELP = "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps"
_KINDS = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def select_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an unknown or unavailable device is a clear error."""
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise InvalidArgument(f"device must be a name such as cpu or cuda, got {name!r}")
    text = name.strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in _KINDS:
        raise InvalidArgument(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidArgument(f"device {name!r} asked for, but no CUDA GPU is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InvalidArgument(
                f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) are visible"
            )
    if device.type == "mps" and not _mps_available():
        raise InvalidArgument(f"device {name!r} asked for, but no Apple MPS device is available")
    return device


def model_device(model: Any) -> torch.device | None:
    """Where ``model`` is: a module's first parameter (or buffer), an object's ``device``
    attribute (a wrapper such as a loaded diffusion model), else None (a path, a name)."""
    if isinstance(model, torch.nn.Module):
        tensor = next(model.parameters(), None)
        if tensor is None:
            tensor = next(model.buffers(), None)
        return tensor.device if tensor is not None else torch.device("cpu")
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else None


def resolve_device(
    device: str | torch.device | None = "auto", model: Any = None, *, fallback: str = "auto"
) -> torch.device:
    """The device a task runs on, the one rule for every task.

    ``device`` None: where ``model`` already is (see :func:`model_device`), or ``fallback``
    when there is no loaded model (``model`` None, a path or a name). Any other value is a
    name for :func:`select_device` (``auto``, ``cpu``, ``cuda:1``, a ``torch.device``):
    an unknown or unavailable device is one ``InvalidArgument`` line.
    """
    if device is None:
        where = model_device(model) if model is not None else None
        return where if where is not None else select_device(fallback)
    return select_device(device)
