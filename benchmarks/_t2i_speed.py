"""Sampling speed of the diffusion models on the CPU, and the fast sampler's quality check.

Speed: images/s of ``generate_images`` for DDPM 1000, DDIM 50, DDIM 25 and DPM-Solver++ 2M
(``sampler="dpm"``) 15 steps, one call of ``batch`` images each (after a 2-step warm-up
call), at classifier-free guidance 3 (two network rows per image: the usual setting), with
``threads`` torch threads, at 32 px (the class-conditional MNIST model, or a given run) and at
64 px (a given run, else an *untrained* U-Net of the 32 px model's config at resolution 64,
its attention levels scaled with the sides: the speed does not depend on the weights).

Quality check: DPM-Solver++ 15 steps against DDIM 50 steps at guidance 3 on the scenes seen
prompts (``_t2i_scenes.adherence``, same prompts, same seed): the all-attribute accuracy of
DPM 15 must be within 2 points of DDIM 50's (not more than 2 points below it). A DDIM 50 /
guidance 3 run of the scenes part is reused.

Example
-------
    r = speed_models([("diffusion-mnist", model, "")], batch=16, threads=2)
    r["diffusion-mnist"]["DDIM 50"]["images_per_s"]
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import torch

#: (sampler, steps, name) timed for each model.
SAMPLERS = (("ddpm", 1000, "DDPM 1000"), ("ddim", 50, "DDIM 50"), ("ddim", 25, "DDIM 25"),
            ("dpm", 15, "DPM++ 15"))  # fmt: skip
#: ``--quick``: DDPM 100 steps instead of 1000 (the same code path, a tenth of the time).
QUICK_SAMPLERS = (("ddpm", 100, "DDPM 100"),) + SAMPLERS[1:]
GUIDANCE = 3.0
SCENES_PROMPT = "a large red circle in the center and a small blue square at the top left on a white background"
MAX_DROP = 0.02  # DPM 15 may be at most 2 points below DDIM 50


def untrained(config: dict[str, Any], resolution: int, scheduler: Any = None, tokenizer: Any = None,
              hyper: dict[str, Any] | None = None) -> Any:
    """An untrained U-Net of ``config`` (a ``DiffusionConfig`` as a dict) at ``resolution``,
    its attention levels scaled with the sides, as a ``DiffusionModel`` with ``scheduler``
    (else a DDPM schedule of ``hyper``'s timesteps, beta schedule and prediction type)."""
    from atelier.models import build_model
    from atelier.schedulers import get_scheduler
    from atelier.tasks.diffusion_model import DiffusionModel

    config = dict(config)
    ratio = resolution / config["resolution"]
    config["resolution"] = resolution
    config["attention_resolutions"] = [int(s * ratio) for s in config.get("attention_resolutions", [])]
    if scheduler is None:
        keys = ("num_train_timesteps", "beta_schedule", "prediction_type")
        scheduler = get_scheduler("ddpm", {k: v for k, v in (hyper or {}).items() if k in keys})
    torch.manual_seed(0)
    net = build_model("diffusion", config).eval()
    return DiffusionModel(net, scheduler, tokenizer, f"untrained U-Net at {resolution} px")


def untrained_at(model: Any, resolution: int) -> Any:
    """An untrained U-Net of loaded ``model``'s config at ``resolution``, with its noise
    schedule and tokenizer."""
    import dataclasses

    return untrained(dataclasses.asdict(model.net.config), resolution, model.scheduler, model.tokenizer)


def _condition(model: Any) -> dict[str, Any]:
    if model.cond == "text":
        return {"prompts": SCENES_PROMPT}
    return {}  # label models cycle the classes; unconditional ones take nothing


def speed_models(models: Sequence[tuple[str, Any, str]], *, batch: int, threads: int,
                 samplers: Sequence[tuple[str, int, str]] = SAMPLERS) -> dict[str, Any]:
    """Images/s of each ``(label, DiffusionModel, note)`` for each sampler (module docstring)."""
    from atelier.tasks.diffusion_sample import generate_images

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    out: dict[str, Any] = {}
    try:
        for label, model, note in models:
            cond = _condition(model)
            r: dict[str, Any] = {"resolution": model.resolution, "channels": model.channels, "cond": model.cond,
                                 "note": note, "batch": batch, "guidance": GUIDANCE, "threads": threads}
            generate_images(model, n=batch, steps=2, sampler="ddim", guidance=GUIDANCE, batch_size=batch, **cond)
            for sampler, steps, name in samplers:
                print(f"speed: {label} {name}, batch {batch}, {threads} threads...", flush=True)
                t0 = time.perf_counter()
                generate_images(model, n=batch, steps=steps, sampler=sampler, guidance=GUIDANCE, batch_size=batch,
                                seed=0, **cond)
                seconds = time.perf_counter() - t0
                r[name] = {"sampler": sampler, "steps": steps, "seconds": seconds, "images_per_s": batch / seconds,
                           "ms_per_step": 1000 * seconds / steps}
            out[label] = r
    finally:
        torch.set_num_threads(before)
    return out


def speed_rows(rows: Any, r: dict[str, Any]) -> None:
    for label, m in r.items():
        tag = f"speed {m['threads']} threads"
        where = f"{label} ({m['cond']}{', ' + m['note'] if m['note'] else ''})"
        cells = [f"{name} {v['images_per_s']:.3g}" for name, v in m.items() if isinstance(v, dict)]
        rows.add(tag, f"{where}: images/s, batch {m['batch']}, guidance {m['guidance']:g}", "", ", ".join(cells))


def quality_check(model: Any, label: str, prompts: dict[str, Any], judge: Any, *, per_prompt: int, seed: int,
                  prior_runs: Sequence[dict[str, Any]], rows: Any) -> dict[str, Any]:
    """DPM++ 15 against DDIM 50 at guidance 3 on ``prompts`` (the seen ``prompt_set``)."""
    from _t2i_scenes import adherence, diffusion_draw, pct

    def run(sampler: str, steps: int) -> dict[str, Any]:
        for p in prior_runs:
            if (p["part"], p["sampler"], p["steps"], p["guidance"]) == ("test", sampler, steps, GUIDANCE) \
                    and p["result"]["n_prompts"] == len(prompts["ids"]) and p["result"]["per_prompt"] == per_prompt:
                return {**p["result"], "reused": True}
        print(f"speed quality: {label} {sampler} {steps} steps, guidance {GUIDANCE:g}, seen prompts...", flush=True)
        draw = diffusion_draw(model, steps=steps, sampler=sampler, guidance=GUIDANCE)
        return adherence(draw, prompts, judge, per_prompt, seed)

    ddim, dpm = run("ddim", 50), run("dpm", 15)
    a, b = ddim["scores"]["all"], dpm["scores"]["all"]
    n = f"{ddim['n_prompts']} seen prompts x {per_prompt}"
    rows.add("speed quality", f"{label}: DPM++ 15 vs DDIM 50, guidance {GUIDANCE:g}, all attributes ({n})",
             "DPM >= DDIM - 2 points", f"DPM {pct(b)} vs DDIM {pct(a)} ({100 * (b - a):+.1f} points)",
             b >= a - MAX_DROP if rows.judge else None)
    rows.add("speed quality", f"{label}: s per image DPM++ 15 / DDIM 50", "",
             f"{dpm['s_per_image']:.3g} / {ddim['s_per_image']:.3g}")
    return {"ddim50": ddim, "dpm15": dpm, "difference_points": 100 * (b - a)}
