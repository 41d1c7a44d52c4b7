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

    Validation (optional): ``validate(modules)`` measures the model on held-out data and
    returns metrics; ``best_metric`` names the one that picks the best checkpoint and
    ``higher_is_better`` its direction. The Trainer calls it every ``validate_every`` steps
    and at the end, on rank 0, with the EMA weights where there are any, logs the result,
    and never prunes the best step's checkpoint. ``setup(config)`` gives the objective the
    run's ``TrainConfig`` before ``optimizers``/``schedulers`` are asked for (a schedule
    over the whole run reads ``config.steps``).
    """

    #: The key of ``validate()``'s result that picks the best checkpoint (None: no validation).
    best_metric: str | None = None
    #: True when a larger ``best_metric`` is better (PSNR), False when smaller is (a loss).
    higher_is_better: bool = True

    @abc.abstractmethod
    def modules(self) -> dict[str, torch.nn.Module]:
        """The networks, by name (their state goes into checkpoints)."""

    @abc.abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers, by name (their state goes into checkpoints)."""

    def schedulers(self) -> dict[str, Any]:
        return {}

    def setup(self, config: Any) -> None:
        """Receive the run's ``TrainConfig`` (called first by the Trainer); default: nothing."""

    def validate(self, modules: dict[str, torch.nn.Module]) -> dict[str, float]:
        """Metrics on held-out data (plain floats), measured with ``modules`` (the networks by
        name, in eval mode, EMA weights swapped in). Default: none (``{}``).

        Runs on rank 0 alone and under ``torch.no_grad``; it must be deterministic (a fixed
        seed of its own) so that a resumed run validates exactly as an uninterrupted one.
        """
        return {}

    def ema_modules(self) -> tuple[str, ...]:
        return ()

    @abc.abstractmethod
    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        """Run one training step on ``batch``; return the losses to log (plain floats).

        ``ctx`` is the Trainer's ``StepContext``: ``ctx.optimize(name, loss)``,
        ``ctx.autocast()``, ``ctx.device``, ``ctx.generator`` (a seeded torch.Generator).
        """
