"""Within-class fidelity and diversity of a generator, per class, against held-out real images.

Label accuracy alone is passed by a generator that draws one image per label (issue 11: a
conditional GAN whose samples of one digit differed by 2.3 of 255 on average scored 100 %).
So for every class ``c`` this measures, beside the real-vs-real floor of the same sizes:

* k-NN precision and recall (Kynkäänniemi et al. 2019, k = 3) of the samples of ``c``
  against held-out real images of ``c``, in the judge classifier's feature space;
* the within-class diversity: the mean pairwise distance between samples of ``c`` divided by
  the same figure for real images of ``c`` (in 8-bit pixel units, mean absolute difference;
  and in the judge's feature space, mean Euclidean distance).

The real floor compares two disjoint real sets of ``c`` (the training split's images of ``c``
against the held-out ones) with the same number of images as the fake-vs-real comparison,
so recall / floor-recall reads as "share of the real variety a real sample of that size would
cover". Unconditional generators are judged the same way with the judge's label for each
sample ("within-digit" diversity).

Example
-------
    judge = get_extractor("classifier:RUN")
    real = real_by_class(data, judge, TRAIN_SPLIT, HELD_SPLIT)
    per_class = class_diversity(gen, judge, real, per_class=500, seed=0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

PIXEL_PAIRS = 2000  # random pairs for the pixel-space mean distance (exact enough: +-1 %)


def _mean_pairwise(x: np.ndarray, pairs: int, rng: np.random.Generator, metric: str) -> float:
    """Mean distance between ``pairs`` random distinct pairs of rows of ``x`` ``(N, D)``."""
    n = len(x)
    i = rng.integers(0, n, pairs)
    j = (i + rng.integers(1, n, pairs)) % n  # j != i
    d = x[i] - x[j]
    if metric == "l1":
        return float(np.abs(d).mean())
    return float(np.sqrt((d * d).sum(1)).mean())


def _stats(images: torch.Tensor, feats: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    pixels = (images.reshape(len(images), -1).numpy() * 255.0).astype(np.float32)
    return {"pixel_mad": _mean_pairwise(pixels, PIXEL_PAIRS, rng, "l1"),
            "feature_dist": _mean_pairwise(feats, PIXEL_PAIRS, rng, "l2")}


def real_by_class(data: str, judge, reference_split, held_split, size: int = 32) -> dict[int, dict[str, Any]]:
    """Per class: held-out images and features, and reference (training-split) features of the
    same count (the floor's other side)."""
    from atelier.data import make_dataset

    out: dict[int, dict[str, Any]] = {}
    sets = {}
    for name, split in (("held", held_split), ("ref", reference_split)):
        ds = make_dataset(data, size=size, split=split, labels=True)
        x = torch.stack([ds[i][0] for i in range(len(ds))])
        y = np.array([int(ds[i][1]) for i in range(len(ds))])
        sets[name] = (x, y)
    for c in np.unique(sets["held"][1]):
        held = sets["held"][0][sets["held"][1] == c]
        ref = sets["ref"][0][sets["ref"][1] == c][: len(held)]
        out[int(c)] = {"held": held, "held_features": judge.features(held).numpy(),
                       "ref_features": judge.features(ref).numpy(), "ref": ref}
    return out


def class_diversity(gen, judge, real: dict[int, dict[str, Any]], per_class: int, seed: int,
                    conditional: bool = True, k: int = 3) -> dict[str, Any]:
    """Per-class precision, recall, diversity ratios, with the real floor; plus their worst
    class. ``conditional``: sample each class by label; else sample ``per_class * K`` images
    and group them by the judge's predicted label."""
    from atelier.metrics import precision_recall
    from atelier.tasks.generate import sample_images

    rng = np.random.default_rng(seed)
    classes = sorted(real)
    if not conditional:
        images = sample_images(gen, per_class * len(classes), seed=seed)
        feats, probs = judge.features_and_probabilities(images)
        pred = probs.argmax(1).numpy()
    rows: dict[str, Any] = {}
    for c in classes:
        if conditional:
            fake = sample_images(gen, per_class, seed=seed + 1000 * (c + 1), labels=c)
            fake_feats = judge.features(fake).numpy()
        else:
            keep = pred == c
            fake, fake_feats = images[keep], feats[keep].numpy()
        r = real[c]
        n = min(len(fake), len(r["held"]))
        row: dict[str, Any] = {"n_fake": int(len(fake)), "n_real": int(len(r["held"]))}
        if n <= k + 1:
            row["skipped"] = f"only {n} samples of class {c}"
            rows[str(c)] = row
            continue
        p, rc = precision_recall(r["held_features"], fake_feats[:n], k=k)
        fp, frc = precision_recall(r["held_features"], r["ref_features"][:n], k=k)
        fs, rs = _stats(fake, fake_feats, rng), _stats(r["held"], r["held_features"], rng)
        row.update({
            "precision": p, "recall": rc, "floor_precision": fp, "floor_recall": frc,
            "recall_vs_floor": rc / frc if frc > 0 else float("nan"),
            "pixel_mad_fake": fs["pixel_mad"], "pixel_mad_real": rs["pixel_mad"],
            "diversity_ratio_pixels": fs["pixel_mad"] / rs["pixel_mad"],
            "diversity_ratio_features": fs["feature_dist"] / rs["feature_dist"],
        })
        rows[str(c)] = row
    scored = [r for r in rows.values() if "skipped" not in r]
    worst = {key: min(r[key] for r in scored) for key in
             ("recall_vs_floor", "diversity_ratio_pixels", "diversity_ratio_features", "precision")}
    return {"per_class": rows, "worst": worst, "classes_scored": len(scored),
            "samples_per_class": per_class, "k": k}
