"""8-bit storage of shipped weights: per-output-channel affine quantization, undone at load.

:func:`quantize_state` turns each floating tensor of 2 or more dimensions (convolution and
linear weights) into ``uint8`` codes plus, per output channel, a ``low`` and a ``step``
(float32, stored under ``NAME.__q_low`` / ``NAME.__q_step``); other floating tensors
(biases, norms) become float16. :func:`dequantize_state` rebuilds float32 tensors
(``low + code * step``), and :func:`atelier.models.load_model` calls it whenever such keys
are present, so an 8-bit folder loads like any other. The error per weight is at most half a
step (1/510 of the channel's range).

Example
-------
>>> import torch
>>> state = {"w": torch.randn(4, 3, 3, 3), "b": torch.randn(4)}
>>> packed = quantize_state(state)
>>> packed["w"].dtype, packed["b"].dtype, sorted(packed)
(torch.uint8, torch.float16, ['b', 'w', 'w.__q_low', 'w.__q_step'])
>>> back = dequantize_state(packed)
>>> bool(((back["w"] - state["w"]).abs() <= packed["w.__q_step"] / 2 + 1e-6).all())
True
"""

from __future__ import annotations

from typing import Mapping

import torch

__all__ = ["quantize_state", "dequantize_state", "is_quantized"]

_LOW, _STEP = ".__q_low", ".__q_step"


def quantize_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """8-bit codes per output channel for weights (ndim >= 2), float16 for other floats."""
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        v = value.detach().cpu()
        if v.is_floating_point() and v.ndim >= 2:
            flat = v.float().reshape(v.shape[0], -1)
            low = flat.min(dim=1, keepdim=True).values
            step = ((flat.max(dim=1, keepdim=True).values - low) / 255).clamp_min(1e-12)
            out[name] = ((flat - low) / step).round().clamp(0, 255).to(torch.uint8).reshape(v.shape).contiguous()
            shape = (v.shape[0],) + (1,) * (v.ndim - 1)
            out[name + _LOW], out[name + _STEP] = low.reshape(shape).contiguous(), step.reshape(shape).contiguous()
        else:
            out[name] = (v.half() if v.is_floating_point() else v).contiguous()
    return out


def is_quantized(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.endswith(_STEP) for k in state)


def dequantize_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float32 tensors back from :func:`quantize_state`'s output (other keys pass through as float32)."""
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if name.endswith((_LOW, _STEP)):
            continue
        if name + _STEP in state:
            out[name] = state[name + _LOW] + value.float() * state[name + _STEP]
        else:
            out[name] = value.float() if value.is_floating_point() else value
    return out
