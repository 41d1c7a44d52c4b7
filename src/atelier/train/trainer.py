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
import warnings
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch

from atelier.errors import AtelierError, InvalidArgument
from atelier.devices import select_device
from atelier.models.registry import check_range, check_setting
from atelier.train.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_latest_checkpoint,
    save_checkpoint,
    step_of,
)
from atelier.train.distributed import DistributedEnv
from atelier.train.ema import EMA
from atelier.train.objective import Objective
from atelier.train.sampling import ResumableSampler


class TrainingDiverged(AtelierError):
    """A loss or a weight became NaN or infinite: the run stops, its last good checkpoint
    stays (no checkpoint or export is written from non-finite weights)."""


#: Upper bounds of the Trainer's integer settings (a typo, not a plan, goes beyond them).
MAX_STEPS = 10**9
MAX_BATCH = 65536
MAX_WORKERS = 256


@dataclass
class TrainConfig:
    """How to train (not what): steps, batch, seed, device, precision, checkpoints, EMA.

    Every field is checked on construction by its declared type and range (one line naming
    the ``train.`` key and what it accepts): integers are integers (not ``true``, not
    ``1e3``), numbers finite, ``grad_clip`` > 0 or None, ``ema_decay`` in (0, 1) or None,
    ``num_workers`` >= 0, ``keep_checkpoints`` >= 0 (0 keeps every checkpoint), and
    ``device`` a name :func:`atelier.devices.select_device` knows (whether this machine has
    that device is checked when a Trainer is built, and by ``resolve_run``).

    >>> TrainConfig(grad_clip=float("nan"))
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: train.grad_clip must be a finite number, got nan (or null for none)
    """

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
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = check_setting(f"train.{f.name}", getattr(self, f.name), hints[f.name])
            setattr(self, f.name, value)
        check_range("train.steps", self.steps, 1, MAX_STEPS)
        check_range("train.batch_size", self.batch_size, 1, MAX_BATCH)
        check_range("train.seed", self.seed, 0, 2**63 - 1)
        for name in ("checkpoint_every", "log_every", "validate_every"):
            value = getattr(self, name)
            if value is not None:
                check_range(f"train.{name}", value, 1, MAX_STEPS)
        check_range("train.keep_checkpoints", self.keep_checkpoints, 0, 10**6)
        check_range("train.num_workers", self.num_workers, 0, MAX_WORKERS)
        if self.grad_clip is not None:
            check_range("train.grad_clip", self.grad_clip, 0, None, low_open=True)
        if self.ema_decay is not None:
            check_range("train.ema_decay", self.ema_decay, 0, 1, low_open=True, high_open=True)
        if not _device_name_ok(self.device):  # whether this machine has it: the Trainer's check
            try:
                select_device(self.device)
            except InvalidArgument as exc:
                raise InvalidArgument(f"train.device: {exc}") from None


def _device_name_ok(name: str) -> bool:
    """Whether ``name`` is a device name ``select_device`` knows (available or not)."""
    text = name.strip().lower()
    if text == "auto":
        return True
    try:
        return torch.device(text).type in ("cpu", "cuda", "mps")
    except (RuntimeError, ValueError):
        return False


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
    ``{"step", "metric", "value"}`` of the best validation so far. ``on_progress(step)``
    runs on rank 0 after every step (and once with the step a resumed run starts from), so a
    caller can report progress between log records.

    Resuming: a newest checkpoint that does not read (truncated by a full disk, damaged) is
    skipped for the one before it, with a ``warnings.warn`` line saying so. The optimizers
    keep their state (moments, step counts) but take the hyper-parameters the objective
    was built with now (learning rate, betas, weight decay), so a run resumed with a new
    learning rate uses it; a scheduler's base rates follow.

    Divergence: a NaN or infinite loss with NaN or infinite weights (checked when a loss is
    not finite, and at every checkpoint) stops the run with ``TrainingDiverged`` naming the
    step and the last good checkpoint; nothing is saved or exported from the bad weights.
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
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.objective, self.dataset, self.config = objective, dataset, config
        self.run_dir = Path(run_dir)
        self.on_log = on_log
        self.on_checkpoint = on_checkpoint
        self.on_progress = on_progress
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
        """Restore a checkpoint's state. The optimizers keep the checkpoint's moments but take
        the hyper-parameters they were built with now (see the class docstring)."""
        fresh = {
            name: [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
            for name, opt in self.optimizers.items()
        }
        fresh_base = {
            name: list(s.base_lrs) for name, s in self.schedulers.items() if hasattr(s, "base_lrs")
        }
        try:
            for kind, targets in (
                ("modules", self.modules),
                ("optimizers", self.optimizers),
                ("schedulers", self.schedulers),
                ("ema", self.ema),
            ):
                for name, target in targets.items():
                    target.load_state_dict(state[kind][name])
            self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
            rng = state["rng"]
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise AtelierError(
                f"the checkpoint does not match this run's model and optimizers ({cause}); "
                "was the run's config.json changed by hand?"
            ) from None
        self.best = state.get("best")  # absent in checkpoints written before validation existed
        if len(rng) != self.dist.world_size:
            raise InvalidArgument(
                f"this run was checkpointed with {len(rng)} processes; resume it with "
                f"as many (got {self.dist.world_size})"
            )
        _set_rng_state(rng[self.dist.rank], ctx)
        for name, opt in self.optimizers.items():
            for group, now in zip(opt.param_groups, fresh[name]):
                _apply_group_settings(group, now)
        for name, base in fresh_base.items():
            scheduler = self.schedulers[name]
            scheduler.base_lrs = base
            if hasattr(scheduler, "_last_lr"):
                scheduler._last_lr = [g["lr"] for g in scheduler.optimizer.param_groups]

    def save(self, ctx: StepContext) -> Path | None:
        """Checkpoint (a collective call: every process takes part, rank 0 writes).

        Raises ``TrainingDiverged`` (writing nothing) when a weight is NaN or infinite."""
        if not self._all_ranks(finite_weights([*self.modules.values(), *(e.module for e in self.ema.values())])):
            raise TrainingDiverged(
                f"the weights became non-finite (nan or inf) by step {self.step}; "
                f"{self._last_good()}: lower the learning rate or set grad_clip"
            )
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
        found = load_latest_checkpoint(self.checkpoint_dir, warn=self._warn)
        if found is not None:
            self.load_state_dict(found[1], ctx)
            if self.step > cfg.steps:
                raise InvalidArgument(
                    f"train.steps={cfg.steps} is below the step this run has reached "
                    f"({self.step}); set steps to {self.step} or more"
                )
        if self.on_progress is not None and self.dist.is_main:
            self.on_progress(self.step)
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
                self._check_losses(losses)
                for name, ema in self.ema.items():
                    ema.update(self.modules[name])
                for scheduler in self.schedulers.values():
                    scheduler.step()
                self.step += 1
                self.position += 1
                window_images += cfg.batch_size
                if self.on_progress is not None and self.dist.is_main:
                    self.on_progress(self.step)
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

    def _warn(self, message: str) -> None:
        if self.dist.is_main:
            warnings.warn(message, TrainingWarning, stacklevel=3)

    def _all_ranks(self, ok: bool) -> bool:
        """``ok`` on every process (one collective under torchrun, so that all stop together)."""
        if not self.dist.enabled:
            return ok
        import torch.distributed as dist

        flag = torch.tensor([0.0 if ok else 1.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() == 0.0)

    def _last_good(self) -> str:
        latest = latest_checkpoint(self.checkpoint_dir)
        if latest is None:
            return "no checkpoint was written yet"
        return f"the last good checkpoint is step {step_of(latest)}"

    def _check_losses(self, losses: dict[str, Any]) -> None:
        """Stop on a non-finite loss that came with non-finite weights (a NaN or infinite loss
        alone can be a stale report, like a GAN's generator loss between its steps, or a
        step that fp16 loss scaling skipped; the weights say whether training broke)."""
        bad = None
        for name, value in losses.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(number):
                bad = (name, number)
                break
        broken = bad is not None and not finite_weights(list(self.modules.values()))
        if self._all_ranks(not broken):
            return
        name, value = bad if broken else ("a loss (on another process)", float("nan"))
        raise TrainingDiverged(
            f"{name} became non-finite ({value}) at step {self.step + 1}; "
            f"{self._last_good()}: lower the learning rate or set grad_clip"
        )

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
        # non-finite numbers become null: json.dumps would write NaN, which is not JSON
        record = {k: ((round(v, 6) if math.isfinite(v) else None) if isinstance(v, float) else v)
                  for k, v in record.items()}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.on_log is not None:
            self.on_log(record)


class TrainingWarning(UserWarning):
    """Something a person should know about a run that does not stop it (a checkpoint skipped)."""


def finite_weights(modules: list[torch.nn.Module]) -> bool:
    """Whether every parameter and floating buffer of ``modules`` is finite (one sync)."""
    checks = [
        torch.isfinite(t).all()
        for m in modules
        for t in (*m.parameters(), *m.buffers())
        if t.is_floating_point()
    ]
    if not checks:
        return True
    return bool(torch.stack([c.to(checks[0].device) for c in checks]).all())


def _apply_group_settings(group: dict[str, Any], now: dict[str, Any]) -> None:
    """Give a loaded optimizer param group the settings it was just built with: betas,
    weight decay, ... and the learning rate (a scheduled one keeps its place in the
    schedule: it is rescaled by new base / old base)."""
    old_base = group.get("initial_lr", group["lr"])
    new_base = now.get("initial_lr", now["lr"])
    for key, value in now.items():
        if key not in ("lr", "initial_lr"):
            group[key] = value
    if new_base != old_base:
        group["lr"] = group["lr"] * new_base / old_base if old_base else new_base
        if "initial_lr" in group:
            group["initial_lr"] = new_base


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a NamedTuple (CaptionedItem)
        return type(batch)(*(_to_device(b, device) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch
