"""GAN parts of the transfer benchmark: projected vs plain discriminator at equal wall-clock
time, and few-shot generation (fine-tuned vs from scratch).

Every run goes through ``atelier.tasks.training`` (``resolve_run`` + ``train_run``), as
``atelier train dcgan --data DATA --set ...`` would. **Equal time**: each arm first trains
``PROBE`` steps, its seconds per step are read from the steps after the first few (start-up
and the first checkpoint excluded), and the same run then continues (an exact resume) to the
step count that fills the arm's budget; the table reports each arm's measured wall time.

Parts (see ``benchmarks/transfer.py``):

- ``projected``: on mnist10k (items 0-7,999, 32 px grey: the generative benchmark's
  protocol), the 64 px ``faces`` (100 crops) and emoji72 (32 px RGB, 3,543 images): the
  DCGAN with its default recipe ("plain": the convolutional discriminator, non-saturating loss)
  against ``--set discriminator=projected --set loss=hinge`` (the projected recipe: Adam
  lr 2e-4, betas (0.5, 0.999), DiffAugment), and on MNIST also ``discriminator=conv+projected``
  (both discriminators judging together, Kumari et al. 2022). FID and KID against the training images with
  EfficientNet-Lite0 features, and for MNIST with the digit classifier too, plus the
  classifier's Inception Score and digit shares (targets: IS >= 9.0, every digit 5-15 %).
- ``fewshot``: the 100 ``faces`` at 32 px grey, with the same time for every arm: from
  scratch (plain), fine-tuned from the MNIST plain run with FreezeD (the first two
  discriminator blocks frozen, Mo et al. 2020), fine-tuned from the MNIST projected run
  (projected discriminator), and with FreezeD from a plain DCGAN trained on emoji72 in grey
  (cartoon faces: a nearer source). FID/KID (EfficientNet-Lite0) against the 100 faces.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MNIST = f"idx:{DATA / 'mnist10k'}"
EMOJI = f"folder:{DATA / 'emoji72'}"
PROBE = 30  # steps of the speed probe (the first WARM are not timed)
WARM = 5

#: dataset -> (data, model settings, FID/KID real split, minutes per arm, samples for FID)
DATASETS: dict[str, dict[str, Any]] = {
    "mnist": {"data": MNIST, "settings": ["data.split=0:8000"], "real_split": (0, 8000), "minutes": 20,
              "samples": 5000},
    "faces": {"data": "faces", "settings": ["resolution=64"], "real_split": None, "minutes": 6,
              "samples": 1000},
    "emoji": {"data": EMOJI, "settings": ["channels=3"], "real_split": None, "minutes": 10,
              "samples": 2000},
}
ARMS = {"plain": [], "projected": ["discriminator=projected", "loss=hinge"],
        "conv+projected": ["discriminator=conv+projected", "loss=hinge"]}
#: the arms each data set runs (the third only where the minutes are spent best: MNIST)
DATASET_ARMS = {"mnist": ("plain", "projected", "conv+projected"), "faces": ("plain", "projected"),
                "emoji": ("plain", "projected")}
FEWSHOT_MINUTES = 5
EMOJI_SOURCE_MINUTES = 8
QUICK_MINUTES = 0.15


def train_for(model: str, data: str, minutes: float, settings: list[str], run: Path,
              init_from: str | None = None, freeze_d: int = 0) -> dict[str, Any]:
    """Train ``model`` into ``run`` for about ``minutes`` of wall time (probe, then resume to
    the step count that fills it); a finished run of the same request is reused."""
    from atelier.tasks.training import fine_tune_spec, resolve_run, train_run

    request = {"model": model, "data": data, "minutes": minutes, "settings": settings,
               "init_from": init_from, "freeze_d": freeze_d}
    record_file = run / "benchmark_train.json"
    if record_file.is_file():
        earlier = json.loads(record_file.read_text())
        if earlier.get("request") == request and (run / "model.safetensors").is_file():
            print(f"  reusing {run} ({earlier['steps']} steps, {earlier['train_seconds']:.0f} s)", flush=True)
            return {**earlier, "reused": True}

    def spec(steps: int) -> dict[str, Any]:
        overrides = [*settings, f"steps={steps}", "device=cpu", f"checkpoint_every={steps}",
                     f"log_every={min(50, steps)}"]
        resolved = resolve_run(model, data=data, overrides=overrides)
        return fine_tune_spec(resolved, init_from=init_from, freeze_d=freeze_d, overrides=overrides)

    stamps: list[tuple[int, float]] = []
    last: dict[str, Any] = {}
    t0 = time.perf_counter()
    train_run(spec(PROBE), run, on_progress=lambda s: stamps.append((s, time.perf_counter())))
    (s0, t_a), (s1, t_b) = stamps[WARM], stamps[-1]
    per_step = (t_b - t_a) / (s1 - s0)
    spent = time.perf_counter() - t0
    steps = max(PROBE, PROBE + int((minutes * 60 - spent) / per_step))
    final = spec(steps)
    train_run(final, run, on_log=last.update)
    seconds = time.perf_counter() - t0
    flags = (f" --init-from {init_from}" if init_from else "") + (f" --freeze-d {freeze_d}" if freeze_d else "")
    record = {"request": request, "run": str(run), "steps": steps, "seconds_per_step": per_step,
              "train_seconds": seconds, "batch_size": final["train"]["batch_size"],
              "hyper": final["hyper"], "model_config": final["model_config"], "last_log": last,
              "command": f"atelier train {model} --data {data}{flags} "
                         + " ".join(f"--set {s}" for s in settings) + f" --set steps={steps} --out RUN"}
    record_file.write_text(json.dumps(record, default=str))
    return record


def _extractors(judge_run: str | None) -> dict[str, Any]:
    from atelier.metrics.features import get_extractor

    out = {"efficientnet-lite0": get_extractor("efficientnet-lite0", device="cpu", batch_size=128)}
    if judge_run:
        out["classifier"] = get_extractor(f"classifier:{judge_run}", device="cpu", batch_size=256)
    return out


def _quality(run: str, ds: dict[str, Any], extractors: dict[str, Any], n: int, seed: int,
             cache: Path) -> dict[str, Any]:
    """FID/KID per extractor; with the digit classifier, its IS and digit shares."""
    import numpy as np

    from atelier.metrics import inception_score
    from atelier.tasks.evaluate import evaluate_model
    from atelier.tasks.generate import load_generator, sample_images

    gen = load_generator(run)
    out: dict[str, Any] = {"n_samples": n}
    for name, ex in extractors.items():
        res = evaluate_model(gen, ds["data"], split=ds["real_split"], metrics="fid,kid", features=ex, n=n,
                             seed=seed, cache_dir=cache, device="cpu")
        out[name] = res.scores
    if "classifier" in extractors:
        probs = extractors["classifier"].probabilities(sample_images(gen, n, seed=seed)).numpy()
        share = np.bincount(probs.argmax(1), minlength=probs.shape[1]) / n
        out["digit_share"] = share.tolist()
        out["classifier_is_mean"], out["classifier_is_std"] = inception_score(probs, splits=10)
    return out


def _row(rows: list, part: str, measure: str, target: str, value: Any, ok: bool | None, quick: bool) -> None:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    rows.append((part, measure, target, text, "-" if ok is None or quick else ("PASS" if ok else "MISS")))


def run_projected(quick: bool, work: Path, seed: int = 0, judge_run: str | None = None,
                  datasets: tuple[str, ...] = tuple(DATASETS)) -> tuple[list, dict]:
    """Projected vs plain discriminator on each data set at equal time (module docstring)."""
    rows: list = []
    result: dict[str, Any] = {}
    extractors = _extractors(judge_run)
    for name in datasets:
        ds = DATASETS[name]
        if quick:  # a small real set: the smoke run must not spend minutes on reference features
            ds = {**ds, "real_split": (0, 100)}
        minutes = QUICK_MINUTES if quick else ds["minutes"]
        n = 200 if quick else ds["samples"]
        use = {k: v for k, v in extractors.items() if k != "classifier" or name == "mnist"}
        arms: dict[str, Any] = {}
        for arm in DATASET_ARMS[name]:
            extra = ARMS[arm]
            print(f"projected: {name} {arm}, {minutes} min...", flush=True)
            tr = train_for("dcgan", ds["data"], minutes, ds["settings"] + extra, work / f"{name}-{arm}")
            q = _quality(tr["run"], ds, use, n, seed, work / "cache")
            arms[arm] = {**tr, **q}
            part = f"{name} {arm}"
            _row(rows, part, f"train s ({tr['steps']} steps)", f"~{minutes * 60:.0f}", tr["train_seconds"], None, quick)
            for ex in use:
                _row(rows, part, f"FID [{ex}]", "", q[ex]["fid"], None, quick)
                _row(rows, part, f"KIDx1e3 [{ex}]", "", 1e3 * q[ex]["kid_mean"], None, quick)
            if "digit_share" in q:
                share = q["digit_share"]
                judged = arm != "plain"
                _row(rows, part, "digit share min..max", "0.05..0.15", f"{min(share):.3f}..{max(share):.3f}",
                     min(share) >= 0.05 and max(share) <= 0.15 if judged else None, quick)
                _row(rows, part, "classifier IS", ">= 9.0" if judged else "",
                     q["classifier_is_mean"], q["classifier_is_mean"] >= 9.0 if judged else None, quick)
        for ex in use:
            for arm in DATASET_ARMS[name][1:]:
                p, b = arms[arm][ex]["fid"], arms["plain"][ex]["fid"]
                _row(rows, name, f"FID {arm} < plain [{ex}]", "yes", f"{p:.2f} vs {b:.2f}", p < b, quick)
        result[name] = arms
    return rows, result


def run_fewshot(quick: bool, work: Path, seed: int = 0) -> tuple[list, dict]:
    """Few-shot generation on the 100 faces at 32 px: scratch vs FreezeD vs projected fine-tune.

    The sources are the MNIST runs of :func:`run_projected` (run it first, same ``work``) and a
    plain DCGAN trained here on emoji72 in grey (``EMOJI_SOURCE_MINUTES``): cartoon faces, a
    source nearer the target than digits."""
    rows: list = []
    minutes = QUICK_MINUTES if quick else FEWSHOT_MINUTES
    ds = {"data": "faces", "real_split": None}
    extractors = _extractors(None)
    sources = {arm: work / f"mnist-{arm}" for arm in ("plain", "projected")}
    for arm, src in sources.items():
        if not (src / "model.safetensors").is_file():
            raise SystemExit(f"few-shot generation needs the MNIST {arm} run {src}: run the projected part first")
    print("few-shot: the emoji72 grey source...", flush=True)
    emoji = train_for("dcgan", EMOJI, QUICK_MINUTES if quick else EMOJI_SOURCE_MINUTES, ["channels=1"],
                      work / "fewshot-source-emoji")
    arms = {
        "scratch (plain)": dict(folder="scratch-plain", settings=[]),
        "scratch (projected)": dict(folder="scratch-projected", settings=ARMS["projected"]),
        "FreezeD from MNIST (plain)": dict(folder="freezed-plain", settings=[], init_from=str(sources["plain"]),
                                           freeze_d=2),
        "fine-tune from MNIST (projected)": dict(folder="fine-tune-projected", settings=ARMS["projected"],
                                                 init_from=str(sources["projected"])),
        "FreezeD from emoji72 grey (plain)": dict(folder="freezed-emoji", settings=[], init_from=emoji["run"],
                                                  freeze_d=2),
    }
    result: dict[str, Any] = {}
    n = 200 if quick else 1000
    for arm, how in arms.items():
        print(f"few-shot: {arm}, {minutes} min...", flush=True)
        tr = train_for("dcgan", "faces", minutes, how["settings"], work / f"fewshot-{how['folder']}",
                       how.get("init_from"), how.get("freeze_d", 0))
        q = _quality(tr["run"], ds, extractors, n, seed, work / "cache")
        result[arm] = {**tr, **q}
        _row(rows, "few-shot faces", f"{arm}: FID", "", q["efficientnet-lite0"]["fid"], None, quick)
        _row(rows, "few-shot faces", f"{arm}: KIDx1e3", "", 1e3 * q["efficientnet-lite0"]["kid_mean"], None, quick)
    scratch = result["scratch (plain)"]["efficientnet-lite0"]["fid"]
    for arm in ("FreezeD from MNIST (plain)", "fine-tune from MNIST (projected)", "FreezeD from emoji72 grey (plain)"):
        fid = result[arm]["efficientnet-lite0"]["fid"]
        _row(rows, "few-shot faces", f"{arm} FID < scratch (plain)", "yes", f"{fid:.2f} vs {scratch:.2f}",
             fid < scratch, quick)
    return rows, result
