"""Device names for every command: one check, one message, one default (``auto``).

``select_device`` turns a user's device name into a ``torch.device`` or raises
``InvalidArgument`` with one line that says what is wrong: an unknown name (``tpu``,
``gpu``), or a real device that this machine lacks (``cuda`` without a CUDA GPU).

Example
-------
>>> select_device("cpu")
device(type='cpu')
>>> select_device("tpu")
Traceback (most recent call last):
...
atelier.errors.InvalidArgument: unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps
"""

from __future__ import annotations

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
