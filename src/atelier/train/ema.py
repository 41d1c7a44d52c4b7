"""Exponential moving average of a module's weights (the generator a GAN samples from).

The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (the
``num_updates`` rule of TensorFlow's ``ExponentialMovingAverage``), so a short run does not
keep a large share of the random initial weights: with decay 0.999 and no warm-up, 22 % of
the average after 1,500 steps would still be the initialisation.

Example
-------
>>> import torch
>>> net = torch.nn.Linear(2, 1)
>>> ema = EMA(net, decay=0.9, warmup=False)
>>> with torch.no_grad(): _ = net.weight.add_(1.0)
>>> ema.update(net)
>>> bool(torch.allclose(ema.module.weight, net.weight - 0.9))
True
>>> [round(EMA(net, 0.999).decay_at(n), 3) for n in (0, 10, 1000, 10**5)]
[0.1, 0.55, 0.991, 0.999]
"""

from __future__ import annotations

import copy

import torch


class EMA:
    """``ema = d * ema + (1 - d) * current`` for parameters (``d`` the warmed-up decay);
    buffers (BatchNorm statistics) are copied."""

    def __init__(self, module: torch.nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        self.decay = decay
        self.warmup = warmup
        self.updates = 0
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    def decay_at(self, updates: int) -> float:
        """The decay used for the update after ``updates`` earlier ones."""
        return min(self.decay, (1 + updates) / (10 + updates)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        weight = 1.0 - self.decay_at(self.updates)
        for ema_p, p in zip(self.module.parameters(), module.parameters()):
            ema_p.lerp_(p.detach(), weight)
        for ema_b, b in zip(self.module.buffers(), module.buffers()):
            ema_b.copy_(b)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        if "module" not in state:  # a checkpoint from before the warm-up: a plain state dict
            state = {"module": state, "updates": 10**9}  # 10**9 updates: decay_at() == decay
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
