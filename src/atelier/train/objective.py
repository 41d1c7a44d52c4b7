"""What a model family gives the Trainer: its modules, optimizers and one training step.

The Trainer stays generic (DESIGN.md convention 5): it owns the loop, devices, checkpoints,
exact resume, EMA, logging and distributed training, and calls ``Objective.step`` once per
batch. A GAN's objective runs its two optimizers inside ``step``; a VAE's runs one. Each
update goes through ``ctx.optimize(name, loss)`` so that gradient clipping and mixed-precision
scaling stay the Trainer's.

Example
-------
>>> import torch
>>> class Line(Objective):
...     def __init__(self):
...         self.net = torch.nn.Linear(1, 1)
...         self.opt = torch.optim.SGD(self.net.parameters(), lr=0.1)
...     def modules(self): return {"net": self.net}
...     def optimizers(self): return {"opt": self.opt}
...     def step(self, batch, step, ctx):
...         x, y = batch
...         loss = torch.nn.functional.mse_loss(self.net(x), y)
...         ctx.optimize("opt", loss)  # backward, clipping, optimizer step: the Trainer's
...         return {"loss": loss.item()}
>>> sorted(Line().modules())
['net']
"""

from __future__ import annotations

import abc
from typing import Any

import torch


class Objective(abc.ABC):
    """Base class of a model family's training objective.

    Subclasses hold their networks and optimizers and implement ``modules``, ``optimizers``
    and ``step``. ``ema_modules`` names the modules whose exponential moving average the
    Trainer keeps (a GAN's generator); ``schedulers`` returns learning-rate schedulers the
    Trainer steps once per training step and checkpoints.
    """

    @abc.abstractmethod
    def modules(self) -> dict[str, torch.nn.Module]:
        """The networks, by name (their state goes into checkpoints)."""

    @abc.abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers, by name (their state goes into checkpoints)."""

    def schedulers(self) -> dict[str, Any]:
        return {}

    def ema_modules(self) -> tuple[str, ...]:
        return ()

    @abc.abstractmethod
    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        """Run one training step on ``batch``; return the losses to log (plain floats).

        ``ctx`` is the Trainer's ``StepContext``: ``ctx.optimize(name, loss)``,
        ``ctx.autocast()``, ``ctx.device``, ``ctx.generator`` (a seeded torch.Generator).
        """
