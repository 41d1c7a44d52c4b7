"""Shared checks for the model tests."""

from __future__ import annotations

import math

import torch
from torch import nn

TINY = [(16, 1), (32, 3)]  # (resolution, channels): grey at 16, colour at 32


def assert_all_grads(module: nn.Module) -> None:
    """Every parameter of ``module`` has a finite, not all-zero gradient."""
    params = list(module.named_parameters())
    assert params
    for name, p in params:
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def assert_finite_scalar(loss: torch.Tensor) -> None:
    assert loss.ndim == 0 and math.isfinite(loss.item())


def assert_unit_range(x: torch.Tensor) -> None:
    x = x.detach()
    assert x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
