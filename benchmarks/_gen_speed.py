"""DCGAN training speed: atelier's Trainer against a plain PyTorch reference, same network.

Each candidate runs in its own freshly spawned process (so ``resource.getrusage`` max RSS is
that candidate's alone), one after the other, in alternating order (A B, B A, ...). Both get
the same 32 x 32 grey tensors (the 8,000-image train split, loaded once by the parent and
handed over in a file), batch 64, the DCGAN recipe (Adam lr 2e-4, betas (0.5, 0.999),
non-saturating loss, one D then one G step reusing the step's fakes), N(0, 0.02) init, and
torch's default thread count. Warm-up steps are not timed; images/s = timed steps x 64 /
seconds.

The reference is written here by hand: eager, default (contiguous) memory format,
``torch.optim.Adam`` with its defaults, a ``DataLoader(TensorDataset)`` with shuffling and
``drop_last``, no checkpoints, no logging. atelier's candidate is ``Trainer(DCGANObjective)``
with ``TrainConfig(device="cpu")`` defaults otherwise (fp32; its log and checkpoint only at the
end of the timed window — the time is taken from its per-step log callback, so the final
checkpoint write is not timed).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import torch
import torch.nn.functional as F
from _spawned import alternating
from _spawned import rss_now_mib as _rss_now_mib
from torch import nn

BATCH = 64
LATENT = 100


# ----------------------------------------------------------------------------- reference


class RefGenerator(nn.Module):
    """DCGAN generator for 32 x 32, width 64: z -> 256x4x4 -> 128x8x8 -> 64x16x16 -> 1x32x32."""

    def __init__(self, latent: int = LATENT, channels: int = 1, w: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent, 4 * w, 4, 1, 0, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, channels, 4, 2, 1), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.net(z[:, :, None, None]) + 1) / 2  # images in [0, 1]


class RefDiscriminator(nn.Module):
    """DCGAN discriminator for 32 x 32, width 64, BatchNorm after the first stage."""

    def __init__(self, channels: int = 1, w: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * w, 1, 4, 1, 0),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1).flatten()


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def shapes(module: nn.Module) -> list[tuple[int, ...]]:
    return sorted(tuple(p.shape) for p in module.parameters())


def _run_reference(x: torch.Tensor, warmup: int, steps: int, seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    G, D = RefGenerator(), RefDiscriminator()
    G.apply(_init)
    D.apply(_init)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x), batch_size=BATCH, shuffle=True, drop_last=True
    )
    rss_before = _rss_now_mib()
    done, t0 = 0, None
    while done < warmup + steps:
        for (real,) in loader:
            if done == warmup:
                t0 = time.perf_counter()
            z = torch.randn(real.shape[0], LATENT)
            fake = G(z)
            d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = F.softplus(-D(fake)).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            done += 1
            if done == warmup + steps:
                break
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rss_before_train_mib": rss_before}


def _run_atelier(x: torch.Tensor, warmup: int, steps: int, seed: int) -> dict[str, Any]:
    from atelier.models import build_model
    from atelier.train import TrainConfig, Trainer
    from atelier.train.objectives import make_objective

    torch.manual_seed(seed)
    model = build_model("dcgan", {"resolution": 32, "channels": 1})
    objective = make_objective(model, {})
    total = warmup + steps
    config = TrainConfig(steps=total, batch_size=BATCH, seed=seed, device="cpu",
                         checkpoint_every=total, log_every=1)
    stamps: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as run:
        trainer = Trainer(objective, torch.utils.data.TensorDataset(x), config, run,
                          on_log=lambda r: stamps.__setitem__(r["step"], time.perf_counter()))
        rss_before = _rss_now_mib()
        t_start = time.perf_counter()
        trainer.fit()
    start = stamps[warmup] if warmup else t_start
    return {"seconds": stamps[total] - start, "rss_before_train_mib": rss_before,
            "recipe": {k: v for k, v in vars(objective.hyper).items()}}


def _child(kind: str, data_path: str, warmup: int, steps: int, seed: int) -> dict[str, Any]:
    x = torch.load(data_path, weights_only=True)
    fn = _run_atelier if kind == "atelier" else _run_reference
    return fn(x, warmup, steps, seed)


def run_speed(x: torch.Tensor, *, warmup: int, steps: int, rounds: int, seed: int = 0) -> dict[str, Any]:
    """Alternate spawned atelier / reference runs; return per-run figures and the best ratio."""
    from atelier.models import build_model

    gan = build_model("dcgan", {"resolution": 32, "channels": 1})
    same = (shapes(gan.generator) == shapes(RefGenerator())
            and shapes(gan.discriminator) == shapes(RefDiscriminator()))
    if not same:
        raise RuntimeError("the reference DCGAN no longer matches atelier's default dcgan "
                           "parameter shapes; update benchmarks/_gen_speed.py")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.pt")
        torch.save(x.contiguous(), path)
        runs = alternating({kind: (_child, (kind, path, warmup, steps, seed))
                            for kind in ("atelier", "reference")}, rounds)
    for kind_runs in runs.values():
        for out in kind_runs:
            out["images_per_s"] = steps * BATCH / out["seconds"]
    best = {k: max(r["images_per_s"] for r in v) for k, v in runs.items()}
    peak = {k: max(r["peak_rss_mib"] for r in v) for k, v in runs.items()}
    return {
        "warmup_steps": warmup, "timed_steps": steps, "rounds": rounds, "batch_size": BATCH,
        "same_parameter_shapes": same, "runs": runs,
        "best_images_per_s": best, "speedup": best["atelier"] / best["reference"],
        "peak_rss_mib": peak,
        "memory_method": "resource.getrusage(RUSAGE_SELF).ru_maxrss of each candidate's own "
                         "spawned process (whole process: Python, torch, data, tensors)",
    }
