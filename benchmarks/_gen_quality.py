"""Quality parts of the generative benchmark: the judge classifier, then the four models.

Every model is trained through ``atelier.tasks.training`` (``resolve_run`` + ``train_run``),
exactly as ``atelier train MODEL --data idx:PATH --set data.split=0:8000 --set steps=N``
would, with its default recipe; only ``steps``, ``device=cpu``, ``checkpoint_every=steps``
(one checkpoint, at the end) and ``log_every`` are set.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

TRAIN_SPLIT, HELD_SPLIT = (0, 8000), (8000, 10000)


def _overrides(steps: int, log_every: int) -> list[str]:
    return [f"data.split={TRAIN_SPLIT[0]}:{TRAIN_SPLIT[1]}", f"steps={steps}", "device=cpu",
            f"checkpoint_every={steps}", f"log_every={max(1, min(log_every, steps))}"]


def _finished(run: Path, steps: int, extra: list[str]) -> dict[str, Any] | None:
    """The earlier result of a finished run of ``steps`` steps and the same ``extra``
    settings in ``run`` (``--work`` kept it)."""
    done = run / "benchmark_train.json"
    if not (run / "model.safetensors").is_file() or not done.is_file():
        return None
    record = json.loads(done.read_text())
    same = record.get("steps") == steps and record.get("extra", []) == extra
    return record if same else None


def train(model: str, data: str, steps: int, work: Path, extra: list[str] | None = None) -> dict[str, Any]:
    """Train ``model`` for ``steps`` into ``work/model``; wall time and the last log record.
    ``extra``: more ``--set`` settings (``["mode_seeking=0.3"]``) over the default recipe.

    A run that an earlier benchmark run finished in the same ``--work`` folder with the same
    steps and settings is reused (its recorded wall time is reported, with ``reused: true``)."""
    from atelier.tasks.training import resolve_run, train_run

    extra = list(extra or [])
    earlier = _finished(work / model, steps, extra)
    if earlier is not None:
        print(f"  reusing {work / model} ({steps} steps, trained in {earlier['train_seconds']:.0f} s)",
              flush=True)
        return {**earlier, "reused": True}
    overrides = _overrides(steps, 100) + extra
    spec = resolve_run(model, data=data, overrides=overrides)
    last: dict[str, Any] = {}
    t0 = time.perf_counter()
    run = train_run(spec, work / model, on_log=last.update)
    seconds = time.perf_counter() - t0
    record = {"run": str(run), "steps": steps, "extra": extra, "train_seconds": seconds,
              "batch_size": spec["train"]["batch_size"], "hyper": spec["hyper"],
              "model_config": spec["model_config"], "last_log": dict(last),
              "command": f"atelier train {model} --data {data} "
                         + " ".join(f"--set {o}" for o in overrides) + " --out RUN"}
    (Path(run) / "benchmark_train.json").write_text(json.dumps(record, default=str))
    return record


def held_out(data: str, split=HELD_SPLIT):
    """The held-out images ``(N, 1, 32, 32)`` and labels ``(N,)``."""
    from atelier.data import make_dataset

    ds = make_dataset(data, size=32, split=split, labels=True)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    y = torch.tensor([int(ds[i][1]) for i in range(len(ds))])
    return x, y


def classifier_accuracy(judge, data: str, split=HELD_SPLIT) -> dict[str, Any]:
    x, y = held_out(data, split)
    pred = judge.probabilities(x).argmax(1)
    return {"held_out_accuracy": float((pred == y).float().mean()), "n": len(y)}


def conditional_accuracy(model_run: str, judge, per_label: int, seed: int) -> dict[str, Any]:
    """Sample ``per_label`` images of each class; the judge's accuracy for the asked label."""
    from atelier.tasks.generate import load_generator, sample_images

    gen = load_generator(model_run)
    k = int(gen.config.num_classes)
    per_class, correct = {}, 0
    for label in range(k):
        images = sample_images(gen, per_label, seed=seed + label, labels=label)
        hits = int((judge.probabilities(images).argmax(1) == label).sum())
        per_class[str(label)] = hits / per_label
        correct += hits
    return {"label_accuracy": correct / (k * per_label), "per_label": per_class,
            "samples_per_label": per_label}


def unconditional_quality(model_run: str, judge, extractors: dict, data: str, n: int,
                          seed: int, cache_dir: Path, real_split=TRAIN_SPLIT) -> dict[str, Any]:
    """Digit shares and classifier IS of ``n`` samples; FID/KID per feature extractor."""
    from atelier.metrics import inception_score
    from atelier.tasks.evaluate import evaluate_model
    from atelier.tasks.generate import load_generator, sample_images

    gen = load_generator(model_run)
    images = sample_images(gen, n, seed=seed)
    probs = judge.probabilities(images).numpy()
    counts = np.bincount(probs.argmax(1), minlength=probs.shape[1])
    is_mean, is_std = inception_score(probs, splits=min(10, n))
    out: dict[str, Any] = {"n_samples": n, "digit_share": (counts / n).tolist(),
                           "classifier_is_mean": is_mean, "classifier_is_std": is_std}
    for name, ex in extractors.items():
        res = evaluate_model(gen, data, split=real_split, metrics="fid,kid", features=ex, n=n,
                             seed=seed, cache_dir=cache_dir, device="cpu")
        out[name] = res.scores
    return out


def real_floor(extractors: dict, data: str, cache_dir: Path, seed: int, real_split=TRAIN_SPLIT,
               held_split=HELD_SPLIT) -> dict[str, Any]:
    """Real train (8,000) vs real held-out (2,000): FID, KID, IS of the held-out set."""
    from atelier.tasks.evaluate import evaluate_real

    out = {}
    for name, ex in extractors.items():
        metrics = "fid,kid,is" if ex.num_classes is not None else "fid,kid"
        res = evaluate_real(data, data, split=real_split, against_split=held_split, size=32,
                            metrics=metrics, features=ex, seed=seed, cache_dir=cache_dir)
        out[name] = res.scores
    return out
