"""A toy objective with every source of randomness a real one has (shuffled data, dropout
from the global RNG, noise from the step generator, Adam, a scheduler, EMA)."""

from __future__ import annotations

import torch

from atelier.train import Objective


class NoisyRegression(Objective):
    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1)
        )
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-2)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=40)

    def modules(self):
        return {"net": self.net}

    def optimizers(self):
        return {"opt": self.opt}

    def schedulers(self):
        return {"sched": self.sched}

    def ema_modules(self):
        return ("net",)

    def step(self, batch, step, ctx):
        x, y = batch
        noise = torch.randn(x.shape, generator=ctx.generator) * 0.01
        loss = torch.nn.functional.mse_loss(self.net(x + noise).squeeze(1), y)
        ctx.optimize("opt", loss)
        return {"loss": loss.item()}


def toy_dataset(n: int = 37) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(n, 4, generator=g)
    return torch.utils.data.TensorDataset(x, x.sum(1))


class Deterministic(Objective):
    """No randomness in the step: for comparing data-parallel and single-process runs."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.05)

    def modules(self):
        return {"net": self.net}

    def optimizers(self):
        return {"opt": self.opt}

    def step(self, batch, step, ctx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x).squeeze(1), y)
        ctx.optimize("opt", loss)
        return {"loss": loss.item()}


class Validated(NoisyRegression):
    """NoisyRegression with a validation: the MSE on a fixed held-out set (``val_mse``).

    ``higher_is_better=True`` turns the order around so that the best step is an early one
    (the MSE falls as it trains), which keep-last-K pruning would otherwise delete.
    ``draw_rng`` makes ``validate`` draw from the global RNGs, which must not change training.
    """

    best_metric = "val_mse"

    def __init__(self, seed: int = 0, *, higher_is_better: bool = False, draw_rng: bool = False) -> None:
        super().__init__(seed)
        self.higher_is_better = higher_is_better
        self.draw_rng = draw_rng
        self.seen: list = []
        g = torch.Generator().manual_seed(7)
        self.val_x = torch.randn(16, 4, generator=g)

    def validate(self, modules):
        net = modules["net"]
        self.seen.append((net, net.training, torch.is_grad_enabled()))
        if self.draw_rng:
            torch.rand(3), __import__("random").random(), __import__("numpy").random.rand()
        mse = torch.nn.functional.mse_loss(net(self.val_x).squeeze(1), self.val_x.sum(1))
        return {"val_mse": mse.item()}
