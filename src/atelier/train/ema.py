"""Exponential moving average of a module's weights (the generator a GAN samples from).

Example
-------
>>> import torch
>>> net = torch.nn.Linear(2, 1)
>>> ema = EMA(net, decay=0.9)
>>> with torch.no_grad(): _ = net.weight.add_(1.0)
>>> ema.update(net)
>>> bool(torch.allclose(ema.module.weight, net.weight - 0.9))
True
"""

from __future__ import annotations

import copy

import torch


class EMA:
    """``ema = decay * ema + (1 - decay) * current`` for parameters; buffers are copied."""

    def __init__(self, module: torch.nn.Module, decay: float = 0.999) -> None:
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        for ema_p, p in zip(self.module.parameters(), module.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - self.decay)
        for ema_b, b in zip(self.module.buffers(), module.buffers()):
            ema_b.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
