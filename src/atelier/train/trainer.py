"""The generic Trainer: loop, device, checkpoints, exact resume, EMA, logging.

It knows nothing of any model family: an ``Objective`` supplies the modules, optimizers and
the step (DESIGN.md convention 5). Exact resume means a run stopped at any checkpoint (even
by SIGKILL) and resumed reaches bit-identical weights to one never interrupted, on the same
device: the checkpoint holds the modules, optimizers, schedulers, EMA, every RNG state, the
step, the position in the epoch's sample order and the best validation so far.

Validation: an objective that implements ``validate`` is measured every ``validate_every``
steps (default: at every checkpoint) and at the last step, on rank 0, with the EMA weights
where there are any, under forked RNGs (training randomness is untouched). A validation step
is also a checkpoint step, and the checkpoint of the best step (by the objective's
``best_metric``) is never pruned: ``Trainer.best`` / ``best_checkpoint`` name it.

Example
-------
>>> import tempfile, torch
>>> from atelier.train.objective import Objective
>>> class Mean(Objective):
...     def __init__(self):
...         self.net = torch.nn.Linear(1, 1, bias=False)
...         self.opt = torch.optim.SGD(self.net.parameters(), lr=0.1)
...     def modules(self): return {"net": self.net}
...     def optimizers(self): return {"opt": self.opt}
...     def step(self, batch, step, ctx):
...         loss = (self.net(torch.ones(len(batch), 1)) - batch).pow(2).mean()
...         ctx.optimize("opt", loss)
...         return {"loss": loss.item()}
>>> data = torch.full((8, 1), 3.0)
>>> cfg = TrainConfig(steps=50, batch_size=4, checkpoint_every=25, log_every=25)
>>> _ = Trainer(Mean(), data, cfg, tempfile.mkdtemp()).fit()
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch

from atelier.errors import InvalidArgument
from atelier.devices import select_device
from atelier.train.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from atelier.train.distributed import DistributedEnv
from atelier.train.ema import EMA
from atelier.train.objective import Objective
from atelier.train.sampling import ResumableSampler


@dataclass
class TrainConfig:
    """How to train (not what): steps, batch, seed, device, precision, checkpoints, EMA."""

    steps: int = 1000
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    grad_clip: float | None = None
    ema_decay: float | None = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 50
    num_workers: int = 0
    validate_every: int | None = None  # None: at every checkpoint

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "validate_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidArgument(f"{name} must be at least 1, got {value}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise InvalidArgument(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise InvalidArgument(f"ema_decay must be in (0, 1), got {self.ema_decay}")


class StepContext:
    """What an objective's ``step`` uses: ``optimize``, ``autocast``, device, a generator."""

    def __init__(self, trainer: "Trainer") -> None:
        self._trainer = trainer
        self.device = trainer.device
        self.generator = torch.Generator(device="cpu").manual_seed(trainer.rank_seed)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(trainer.config.precision)
        self._dtype = dtype if self.device.type != "cpu" or dtype == torch.bfloat16 else None
        self._scaler = torch.amp.GradScaler(self.device.type) if (
            trainer.config.precision == "fp16" and self.device.type == "cuda"
        ) else None

    def autocast(self) -> contextlib.AbstractContextManager:
        if self._dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._dtype)

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Backward ``loss``, clip gradients if configured, step optimizer ``name``."""
        optimizer = self._trainer.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        clip = self._trainer.config.grad_clip
        average = self._trainer.dist.average_gradients
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
            average(_params(optimizer))
            if clip:
                self._scaler.unscale_(optimizer)
                _clip(optimizer, clip)
            self._scaler.step(optimizer)
            self._scaler.update()
            return
        loss.backward()
        average(_params(optimizer))
        if clip:
            _clip(optimizer, clip)
        optimizer.step()


def _params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _clip(optimizer: torch.optim.Optimizer, max_norm: float) -> None:
    torch.nn.utils.clip_grad_norm_(_params(optimizer), max_norm)


def _rng_state(ctx: StepContext) -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "step_generator": ctx.generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], ctx: StepContext) -> None:
    random.setstate(state["python"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy(), *rest))
    torch.set_rng_state(state["torch"])
    ctx.generator.set_state(state["step_generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Train ``objective`` on ``dataset`` into ``run_dir`` (checkpoints/, log.jsonl).

    ``fit()`` resumes from the newest checkpoint in ``run_dir/checkpoints`` when there is
    one, and returns the last logged losses. ``on_log(record)`` receives every log record
    (the CLI draws its progress bar from it; validation records have the objective's metrics
    and ``best_step`` instead of losses); ``on_checkpoint(trainer)`` runs on rank 0 after
    each checkpoint (a run exports its model and a sample grid there). ``best`` is None or
    ``{"step", "metric", "value"}`` of the best validation so far.
    """

    def __init__(
        self,
        objective: Objective,
        dataset: torch.utils.data.Dataset,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        on_log: Callable[[dict[str, Any]], None] | None = None,
        on_checkpoint: Callable[["Trainer"], None] | None = None,
    ) -> None:
        self.objective, self.dataset, self.config = objective, dataset, config
        self.run_dir = Path(run_dir)
        self.on_log = on_log
        self.on_checkpoint = on_checkpoint
        self.dist = DistributedEnv.from_environ()
        objective.setup(config)
        self.device = select_device(config.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if config.batch_size % self.dist.world_size:
            raise InvalidArgument(
                f"batch_size {config.batch_size} is the global batch: it must divide evenly "
                f"over {self.dist.world_size} processes"
            )
        self.local_batch = config.batch_size // self.dist.world_size
        self.rank_seed = config.seed + 1_000_003 * self.dist.rank
        if len(dataset) < config.batch_size:
            raise InvalidArgument(
                f"the dataset has {len(dataset)} samples, fewer than one batch of "
                f"{config.batch_size}; lower batch_size or add data"
            )
        self.modules = objective.modules()
        self.optimizers = objective.optimizers()
        self.schedulers = objective.schedulers()
        for module in self.modules.values():
            module.to(self.device)
        self.ema = {
            name: EMA(self.modules[name], config.ema_decay)
            for name in objective.ema_modules()
            if config.ema_decay is not None
        }
        self.step, self.epoch, self.position = 0, 0, 0
        self.validates = type(objective).validate is not Objective.validate
        self.best: dict[str, Any] | None = None

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def best_checkpoint(self) -> Path | None:
        """The checkpoint of the best validated step (None before any validation)."""
        return None if self.best is None else checkpoint_path(self.checkpoint_dir, self.best["step"])

    def state_dict(self, ctx: StepContext) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "position": self.position,
            "config": asdict(self.config),
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "ema": {k: e.state_dict() for k, e in self.ema.items()},
            "rng": self.dist.gather(_rng_state(ctx)),  # one entry per process
            "best": self.best,
        }

    def load_state_dict(self, state: dict[str, Any], ctx: StepContext) -> None:
        for kind, targets in (
            ("modules", self.modules),
            ("optimizers", self.optimizers),
            ("schedulers", self.schedulers),
            ("ema", self.ema),
        ):
            for name, target in targets.items():
                target.load_state_dict(state[kind][name])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.best = state.get("best")  # absent in checkpoints written before validation existed
        if len(state["rng"]) != self.dist.world_size:
            raise InvalidArgument(
                f"this run was checkpointed with {len(state['rng'])} processes; resume it with "
                f"as many (got {self.dist.world_size})"
            )
        _set_rng_state(state["rng"][self.dist.rank], ctx)

    def save(self, ctx: StepContext) -> Path | None:
        """Checkpoint (a collective call: every process takes part, rank 0 writes)."""
        state = self.state_dict(ctx)
        if not self.dist.is_main:
            return None
        return save_checkpoint(
            self.checkpoint_dir,
            self.step,
            state,
            keep=self.config.keep_checkpoints,
            protect=() if self.best is None else (self.best["step"],),
        )

    def fit(self, stop_after: int | None = None) -> dict[str, float]:
        """Train to ``config.steps`` (or stop after ``stop_after`` more steps)."""
        cfg = self.config
        self.dist.start(self.device)
        torch.manual_seed(self.rank_seed)
        np.random.seed(self.rank_seed % 2**32)
        random.seed(self.rank_seed)
        ctx = StepContext(self)
        latest = latest_checkpoint(self.checkpoint_dir)
        if latest is not None:
            self.load_state_dict(load_checkpoint(latest), ctx)
        self.dist.broadcast_modules(self.modules.values())
        sampler = ResumableSampler(
            len(self.dataset), seed=cfg.seed, rank=self.dist.rank, world_size=self.dist.world_size
        )
        batches_per_epoch = sampler.per_rank // self.local_batch
        end = cfg.steps if stop_after is None else min(cfg.steps, self.step + stop_after)
        losses: dict[str, float] = {}
        window_start, window_images = time.perf_counter(), 0
        while self.step < end:
            sampler.set_position(self.epoch, self.position * self.local_batch)
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(self.epoch)  # random crops depend on the epoch
            loader = torch.utils.data.DataLoader(
                self.dataset,
                batch_size=self.local_batch,
                sampler=sampler,
                drop_last=True,
                num_workers=cfg.num_workers,
                generator=torch.Generator(),  # keeps the global RNG untouched
            )
            for batch in loader:
                batch = _to_device(batch, self.device)
                for module in self.modules.values():
                    module.train()
                losses = self.objective.step(batch, self.step, ctx)
                for name, ema in self.ema.items():
                    ema.update(self.modules[name])
                for scheduler in self.schedulers.values():
                    scheduler.step()
                self.step += 1
                self.position += 1
                window_images += cfg.batch_size
                if self.step % cfg.log_every == 0 or self.step == end:
                    elapsed = max(time.perf_counter() - window_start, 1e-9)
                    self._log({"step": self.step, **losses, "images_per_s": window_images / elapsed})
                    window_start, window_images = time.perf_counter(), 0
                validating = self._validation_due()
                if validating:
                    self.validate()
                if self.step % cfg.checkpoint_every == 0 or self.step == end or validating:
                    self.save(ctx)
                    if self.on_checkpoint is not None and self.dist.is_main:
                        self.on_checkpoint(self)
                if self.step >= end:
                    break
            if self.position >= batches_per_epoch:
                self.epoch, self.position = self.epoch + 1, 0
        return losses

    def _validation_due(self) -> bool:
        if not self.validates:
            return False
        every = self.config.validate_every or self.config.checkpoint_every
        return self.step % every == 0 or self.step == self.config.steps

    def validate(self) -> dict[str, float]:
        """Validate now (rank 0; other ranks return ``{}``), update ``best``, log the record.

        The objective sees the EMA weights where there are any, every module in eval mode,
        no gradients, and forked RNGs: the training randomness continues as if it had not run.
        """
        if not self.dist.is_main:
            return {}
        modules = {
            name: self.ema[name].module if name in self.ema else module
            for name, module in self.modules.items()
        }
        modes = {name: module.training for name, module in modules.items()}
        for module in modules.values():
            module.eval()
        py_state, np_state = random.getstate(), np.random.get_state()
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=cuda), torch.no_grad():
                metrics = {k: float(v) for k, v in self.objective.validate(modules).items()}
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
            for name, module in modules.items():
                module.train(modes[name])
        if not metrics:
            return metrics
        key = self.objective.best_metric
        if key is not None:
            if key not in metrics:  # a bug in the objective, not a user error
                raise KeyError(f"validate() returned {sorted(metrics)}, not its best_metric {key!r}")
            value = metrics[key]
            if math.isfinite(value) and (self.best is None or self._better(value, self.best["value"])):
                self.best = {"step": self.step, "metric": key, "value": value}
        record: dict[str, Any] = {"step": self.step, **metrics}
        if self.best is not None:
            record["best_step"] = self.best["step"]
            record[f"best_{key}"] = self.best["value"]
        self._log(record)
        return metrics

    def _better(self, value: float, best: float) -> bool:
        return value > best if self.objective.higher_is_better else value < best

    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        record = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in record.items()}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.on_log is not None:
            self.on_log(record)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch
