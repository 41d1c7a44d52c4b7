"""The spawned candidates of the Trainer-overhead benchmark (``_transfer_trainer``).

* ``trainer_run``: atelier's Trainer as ``atelier train MODEL --data DATA --set
  data.split=0:8000 --set steps=N`` runs it (``resolve_run`` + ``train_run``: default recipe,
  checkpoint every 500 steps with the model export and sample grid, log every 50 steps).
  With ``fast`` (the GPU recipe) the same objective, data and settings go to a ``Trainer``
  built here, after ``channels_last`` and ``nn.Module.compile()`` on its modules, with bf16
  autocast (``train.precision=bf16``); that run has no export callback (nor has
  ``export=False``, used for the VAE's FLOP/s figure).
* ``plain_run``: the same DCGAN step written as a plain PyTorch loop (:class:`PlainDCGAN`):
  the same model object, Adam settings, EMA (decay 0.999 with the same warm-up rule), data
  set and ``DataLoader`` settings, noise drawn from a CPU ``torch.Generator``, the
  discriminator's weights frozen for the generator's step, a JSON log line every 50 steps
  and a ``torch.save`` checkpoint (written to a temporary name and renamed) every 500.
* ``matmul_run``: the machine's matmul rate (``torch.mm`` of two n x n matrices, repeated).
* ``flops_run``: training FLOPs of one step counted with ``torch.utils.flop_counter``, and the
  check that :class:`PlainDCGAN` does the objective's arithmetic: one step of each from the
  same weights, batch and noise must leave bit-identical weights.

Timing: every candidate takes a time stamp after each step (the Trainer's ``on_progress``
callback, which it calls after the step and before its log and checkpoint work), so
``stamps[k] - stamps[k - 1]`` holds step ``k`` plus any log or checkpoint work of step
``k - 1``. The window is steps ``warmup + 1 .. warmup + steps``; the checkpoint event at the
last step (log line, checkpoint, and for the Trainer the export and sample grid) is timed
apart, from the last stamp to the end of the run. On CUDA the stamps that bound the window
synchronize first.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: The GPU recipe: bf16 autocast + channels-last + torch.compile.
FAST_NOTE = "bf16 autocast + channels_last + nn.Module.compile() (inductor)"


def run_spec(model: str, data: str, steps: int, seed: int, device: str, fast: bool) -> dict[str, Any]:
    """The settings ``atelier train MODEL --data DATA --set data.split=0:8000 --set steps=N
    --set device=D [--set precision=bf16]`` resolves to (the default recipe otherwise)."""
    from atelier.tasks.training import resolve_run

    overrides = ["data.split=0:8000", f"steps={steps}", f"device={device}", f"train.seed={seed}"]
    if fast:
        overrides.append("precision=bf16")
    return resolve_run(model, data=data, overrides=overrides)


def command_of(spec: dict[str, Any]) -> str:
    sets = ["data.split=0:8000", f"steps={spec['train']['steps']}", f"device={spec['train']['device']}",
            f"train.seed={spec['train']['seed']}"]
    if spec["train"]["precision"] != "fp32":
        sets.append(f"precision={spec['train']['precision']}")
    return f"atelier train {spec['model']} --data {spec['data']} " + " ".join(f"--set {s}" for s in sets)


def _stamper(device: torch.device, bounds: tuple[int, ...]):
    """``(stamps, stamp)``: ``stamp(step)`` records ``(wall, process CPU)`` seconds. The CPU
    time of the whole process (all its threads) is the load-robust figure on a busy machine:
    with one thread, another job's share of the cores barely changes it."""
    stamps: dict[int, tuple[float, float]] = {}

    def stamp(step: int) -> None:
        if device.type == "cuda" and step in bounds:
            torch.cuda.synchronize(device)
        stamps[step] = (time.perf_counter(), time.process_time())

    return stamps, stamp


def _timing(stamps: dict[int, tuple[float, float]], warmup: int, steps: int, batch: int,
            end: tuple[float, float]) -> dict[str, Any]:
    total = warmup + steps
    out: dict[str, Any] = {}
    for i, kind in enumerate(("", "cpu_")):
        window = stamps[total][i] - stamps[warmup][i]
        per_step = [stamps[k][i] - stamps[k - 1][i] for k in range(warmup + 1, total + 1)]
        median = float(np.median(per_step))
        out.update({
            f"{kind}window_seconds": window,
            f"{kind}images_per_s": steps * batch / window,
            f"{kind}median_step_seconds": median,
            f"{kind}median_step_images_per_s": batch / median,
            f"{kind}step_seconds": per_step,
            f"{kind}final_checkpoint_seconds": end[i] - stamps[total][i],
        })
    return out


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


# ----------------------------------------------------------------------------- Trainer


def trainer_run(
    model: str, data: str, warmup: int, steps: int, seed: int, device: str, fast: bool, export: bool = True
) -> dict[str, Any]:
    """Time atelier's Trainer on ``model`` (see the module docstring). ``export=False`` (and
    ``fast``) builds the Trainer here, without ``train_run``'s export callback: for a figure
    of the steps alone (a VAE's export fits its latent prior to 8,000 images)."""
    from atelier.tasks.training import train_run

    spec = run_spec(model, data, warmup + steps, seed, device, fast)
    dev = torch.device(device)
    stamps, stamp = _stamper(dev, (warmup, warmup + steps))
    with tempfile.TemporaryDirectory(prefix="atelier-trainer-bench-") as run:
        if fast or not export:
            _fit_direct(spec, Path(run), stamp, fast)
        else:
            train_run(spec, run, on_progress=stamp)
        end = _now()
        written = sorted(p.name for p in Path(run).rglob("*") if p.is_file())
    out = _timing(stamps, warmup, steps, spec["train"]["batch_size"], end)
    how = f" (+ {FAST_NOTE})" if fast else ("" if export else " (Trainer without the export callback)")
    out.update({"command": command_of(spec) + how, "train": spec["train"], "hyper": spec["hyper"],
                "model_config": spec["model_config"], "files_written": written})
    return out


def _fit_direct(spec: dict[str, Any], run: Path, stamp, fast: bool) -> None:
    """``train_run``'s model, objective, data and Trainer without its export callback. With
    ``fast``, the GPU recipe: channels-last modules compiled in place (their parameters,
    ``state_dict`` keys and optimizers unchanged), bf16 autocast by the Trainer."""
    from atelier.models import build_model
    from atelier.tasks.training import build_dataset
    from atelier.train import TrainConfig, Trainer
    from atelier.train.objectives import make_objective

    torch.manual_seed(spec["train"]["seed"])
    model = build_model(spec["model"], spec["model_config"])
    if fast:
        model = model.to(memory_format=torch.channels_last)
    objective = make_objective(model, spec["hyper"])
    trainer = Trainer(objective, build_dataset(spec), TrainConfig(**spec["train"]), run, on_progress=stamp)
    if fast:
        for module in trainer.modules.values():  # after the Trainer copied its EMA modules
            module.compile()
    trainer.fit()


# ----------------------------------------------------------------------------- plain loop


class PlainDCGAN:
    """One DCGAN training step as a plain PyTorch loop writes it, for atelier's ``dcgan``
    model and its default recipe (non-saturating loss, one D then one G step per batch, the
    G step reusing the step's fakes scored by the updated D, whose weights get no gradient).

    ``step(x)`` returns the ``(d_loss, g_loss)`` tensors; ``ema_update()`` moves the EMA
    generator (decay ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates).
    """

    def __init__(self, model, spec: dict[str, Any], device: torch.device, fast: bool) -> None:
        cfg, hyper, train = model.config, spec["hyper"], spec["train"]
        default = (cfg.loss == "nonsaturating" and getattr(cfg, "discriminator", "conv") == "conv"
                   and hyper["n_critic"] == 1 and not hyper["mode_seeking"] and not hyper["class_weight"]
                   and not hyper.get("augment"))
        if not default:
            raise ValueError("PlainDCGAN mirrors the default dcgan recipe only (non-saturating, conv "
                             "discriminator, n_critic 1, no augmentation)")
        self.G, self.D = model.generator.to(device), model.discriminator.to(device)
        if fast:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        betas = tuple(hyper["betas"])
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=hyper["lr_g"], betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=hyper["lr_d"], betas=betas)
        self.ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.decay, self.updates = train["ema_decay"], 0
        if fast:
            self.G.compile()
            self.D.compile()
        self.latent = cfg.latent_dim
        self.device = device
        self.gen = torch.Generator().manual_seed(train["seed"])
        # bf16 autocast as the Trainer's StepContext sets it for precision=bf16 (CPU included)
        self.autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if fast else contextlib.nullcontext

    def step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        G, D = self.G, self.D
        z = torch.randn(x.shape[0], self.latent, generator=self.gen).to(self.device)
        with self.autocast():
            fake = G(z)
            real_logits = D(x)
            fake_logits = D(fake.detach())
        d_loss = F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        D.requires_grad_(False)
        with self.autocast():
            g_logits = D(fake)
        D.requires_grad_(True)
        g_loss = F.softplus(-g_logits.float()).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        return d_loss, g_loss

    @torch.no_grad()
    def ema_update(self) -> None:
        weight = 1.0 - min(self.decay, (1 + self.updates) / (10 + self.updates))
        for e, p in zip(self.ema.parameters(), self.G.parameters()):
            e.lerp_(p, weight)
        for e, b in zip(self.ema.buffers(), self.G.buffers()):
            e.copy_(b)
        self.updates += 1

    def checkpoint(self, path: Path, step: int) -> None:
        state = {"step": step, "generator": self.G.state_dict(), "discriminator": self.D.state_dict(),
                 "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                 "ema": self.ema.state_dict(), "ema_updates": self.updates}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)


def plain_run(data: str, warmup: int, steps: int, seed: int, device: str, fast: bool) -> dict[str, Any]:
    """Time :class:`PlainDCGAN` with the Trainer's data, batch, log and checkpoint intervals."""
    from atelier.models import build_model
    from atelier.tasks.training import build_dataset

    spec = run_spec("dcgan", data, warmup + steps, seed, device, fast)
    train = spec["train"]
    dev = torch.device(device)
    dataset = build_dataset(spec)
    torch.manual_seed(seed)
    loop = PlainDCGAN(build_model("dcgan", spec["model_config"]), spec, dev, fast)
    loader = torch.utils.data.DataLoader(dataset, batch_size=train["batch_size"], shuffle=True,
                                         drop_last=True, num_workers=train["num_workers"])
    total = train["steps"]
    stamps, stamp = _stamper(dev, (warmup, total))
    with tempfile.TemporaryDirectory(prefix="atelier-plain-bench-") as run:
        run = Path(run)
        loop.G.train()
        loop.D.train()
        step, window_start = 0, time.perf_counter()
        stamp(0)
        with open(run / "log.jsonl", "a", encoding="utf-8") as log:
            while step < total:
                for x, _ in loader:
                    x = x.to(dev, non_blocking=True)
                    d_loss, g_loss = loop.step(x)
                    loop.ema_update()
                    step += 1
                    stamp(step)
                    if step % train["log_every"] == 0 or step == total:
                        rate = train["log_every"] * train["batch_size"] / (time.perf_counter() - window_start)
                        log.write(json.dumps({"step": step, "d_loss": d_loss.item(), "g_loss": g_loss.item(),
                                              "images_per_s": rate}) + "\n")
                        log.flush()
                        window_start = time.perf_counter()
                    if step % train["checkpoint_every"] == 0 or step == total:
                        loop.checkpoint(run / f"step-{step:08d}.pt", step)
                    if step == total:
                        break
        end = _now()
    out = _timing(stamps, warmup, steps, train["batch_size"], end)
    out.update({"train": train, "hyper": spec["hyper"], "dataset_items": len(dataset),
                "recipe": f"benchmarks/_trainer_runs.py PlainDCGAN{' + ' + FAST_NOTE if fast else ''}"})
    return out


# ----------------------------------------------------------------------------- machine rate


def matmul_run(seconds: float, n: int, device: str, dtype: str) -> dict[str, Any]:
    """Best and median rate of ``torch.mm`` of two ``n x n`` ``dtype`` matrices over about
    ``seconds`` (two untimed warm-up calls; on CUDA 20 calls per timed sample)."""
    dev = torch.device(device)
    dt = getattr(torch, dtype)
    a = torch.randn(n, n, device=dev, dtype=dt)
    b = torch.randn(n, n, device=dev, dtype=dt)
    c = torch.empty(n, n, device=dev, dtype=dt)
    calls = 20 if dev.type == "cuda" else 1

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for _ in range(2):
        torch.mm(a, b, out=c)
    sync()
    rates: list[float] = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop or len(rates) < 3:
        t0 = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=c)
        sync()
        rates.append(calls * 2 * n**3 / (time.perf_counter() - t0))
    return {"n": n, "dtype": dtype, "device": device, "samples": len(rates), "calls_per_sample": calls,
            "best_gflops": max(rates) / 1e9, "median_gflops": float(np.median(rates)) / 1e9}


# ----------------------------------------------------------------------------- FLOPs


def _batch(dataset, n: int, device: torch.device):
    from atelier.train.trainer import _to_device

    return _to_device(torch.utils.data.default_collate([dataset[i] for i in range(n)]), device)


def flops_run(model_name: str, data: str, seed: int, device: str, mirror: bool) -> dict[str, Any]:
    """FLOPs of one training step of ``model_name`` as its objective runs it (forward and
    backward of every network; optimizer and element-wise work are not counted: the counter
    counts matmuls and convolutions). With ``mirror`` (dcgan), also the plain loop's count
    and whether one plain step leaves the same weights as one objective step."""
    from torch.utils.flop_counter import FlopCounterMode

    from atelier.models import build_model
    from atelier.tasks.training import build_dataset
    from atelier.train import TrainConfig, Trainer
    from atelier.train.objectives import make_objective
    from atelier.train.trainer import StepContext

    spec = run_spec(model_name, data, 1, seed, device, False)
    dev = torch.device(device)
    dataset = build_dataset(spec)
    torch.manual_seed(seed)
    model = build_model(model_name, spec["model_config"])
    twin = copy.deepcopy(model) if mirror else None
    objective = make_objective(model, spec["hyper"])
    batch = _batch(dataset, spec["train"]["batch_size"], dev)
    with tempfile.TemporaryDirectory() as run:  # the Trainer writes nothing before fit()
        trainer = Trainer(objective, dataset, TrainConfig(**spec["train"]), run)
        ctx = StepContext(trainer)
        ctx.generator.manual_seed(seed)
        for module in trainer.modules.values():
            module.train()
        with FlopCounterMode(display=False) as counter:
            objective.step(batch, 0, ctx)
    out: dict[str, Any] = {
        "model": model_name, "batch_size": spec["train"]["batch_size"],
        "flops_per_step": counter.get_total_flops(),
        "by_op": {str(k): v for k, v in counter.get_flop_counts().get("Global", {}).items()},
        "method": "torch.utils.flop_counter.FlopCounterMode around one objective.step(batch, 0, ctx) "
                  "(forward + backward; matmul/conv FLOPs, 2 per multiply-add)",
    }
    if mirror:
        loop = PlainDCGAN(twin, spec, dev, fast=False)
        loop.gen.manual_seed(seed)
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        with FlopCounterMode(display=False) as plain_counter:
            loop.step(x)
        ours = [*model.generator.state_dict().values(), *model.discriminator.state_dict().values()]
        theirs = [*loop.G.state_dict().values(), *loop.D.state_dict().values()]
        diff = max(float((a.double() - b.double()).abs().max()) for a, b in zip(ours, theirs))
        out["plain_flops_per_step"] = plain_counter.get_total_flops()
        out["plain_max_weight_difference_after_one_step"] = diff
        out["plain_mirrors_objective"] = diff == 0.0 and out["plain_flops_per_step"] == out["flops_per_step"]
    return out
