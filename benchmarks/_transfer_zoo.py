"""The zoo part of the transfer benchmark: the shipped MNIST generators, as installed, judged
with the generative benchmark's checks (``benchmarks/generative.py``, part 3).

- ``dcgan-mnist``, ``vae-mnist``: digit shares (target 5-15 % each) and the classifier's
  Inception Score (target >= 9.0) of ``n`` samples; FID/KID against the 8,000 training images
  (classifier and EfficientNet-Lite0 features);
- ``cgan-mnist``, ``cvae-mnist``: the judge's accuracy for the requested label (target >=
  98 %) and, per digit, k-NN recall against the held-out digits as a share of the real floor
  (>= 0.5 for the worst digit) and within-digit diversity as a ratio to real's (>= 0.8).
Each shipped model's file size is checked too (<= 5 MB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ZOO = ("dcgan-mnist", "cgan-mnist", "vae-mnist", "cvae-mnist")
MAX_MB = 5.0


def run(quick: bool, work: Path, seed: int = 0, judge_run: str | None = None) -> tuple[list, dict]:
    import _gen_diversity as gd
    import _gen_quality as gq

    from atelier.metrics.features import get_extractor
    from atelier.pretrained import PRETRAINED, describe_pretrained, is_installed, pretrained_dir
    from atelier.tasks.generate import load_generator

    from _transfer_gan import MNIST, _row

    rows: list = []
    result: dict[str, Any] = {}
    judge = get_extractor(f"classifier:{judge_run}", device="cpu", batch_size=256)
    extractors = {"classifier": judge,
                  "efficientnet-lite0": get_extractor("efficientnet-lite0", device="cpu", batch_size=128)}
    n, per_label, per_class = (200, 20, 40) if quick else (5000, 100, 200)
    real_classes = None
    for name in ZOO:
        if name not in PRETRAINED or not is_installed(name):
            rows.append((name, "shipped", "yes", "no", "MISS"))
            continue
        info = describe_pretrained(name)
        size_mb = sum(f.stat().st_size for f in pretrained_dir(name).iterdir()) / 1e6
        _row(rows, name, "size MB", f"<= {MAX_MB}", size_mb, size_mb <= MAX_MB, False)
        gen = load_generator(name)
        conditional = name.startswith("c")
        if conditional:
            m = gq.conditional_accuracy(name, judge, per_label, seed)
            _row(rows, name, "accuracy for requested label", ">= 0.98", m["label_accuracy"],
                 m["label_accuracy"] >= 0.98, quick)
            if real_classes is None:
                real_classes = gd.real_by_class(MNIST, judge, gq.TRAIN_SPLIT, gq.HELD_SPLIT)
            m["diversity"] = gd.class_diversity(gen, judge, real_classes, per_class=per_class, seed=seed,
                                                conditional=True)
            worst = m["diversity"]["worst"]
            _row(rows, name, "worst digit: diversity ratio (pixels)", ">= 0.8", worst["diversity_ratio_pixels"],
                 worst["diversity_ratio_pixels"] >= 0.8, quick)
            _row(rows, name, "worst digit: recall / real floor", ">= 0.5", worst["recall_vs_floor"],
                 worst["recall_vs_floor"] >= 0.5, quick)
            _row(rows, name, "digits scored", "10", m["diversity"]["classes_scored"],
                 m["diversity"]["classes_scored"] == 10, quick)
        else:
            m = gq.unconditional_quality(name, judge, extractors, MNIST, n, seed, work / "cache")
            share = m["digit_share"]
            _row(rows, name, "digit share min..max", "0.05..0.15", f"{min(share):.3f}..{max(share):.3f}",
                 min(share) >= 0.05 and max(share) <= 0.15, quick)
            _row(rows, name, "classifier IS", ">= 9.0", m["classifier_is_mean"], m["classifier_is_mean"] >= 9.0,
                 quick)
            for ex in extractors:
                _row(rows, name, f"FID [{ex}]", "", m[ex]["fid"], None, quick)
        result[name] = {"size_mb": size_mb, "parameters": info.get("parameters"), **m}
    return rows, result
