"""Measure a generator against real data (or real data against real data): FID, KID, IS, P/R.

:func:`evaluate_model` samples ``n`` images from a model (seeded, in batches; conditional
models get labels cycled uniformly over their classes), extracts their features, computes the
real data's features (cached through :func:`atelier.metrics.features.compute_statistics`,
keyed by the dataset spec, size, channels and split) and the metrics. :func:`evaluate_real`
compares two real datasets the same way — the *floor* a model is judged against, e.g. the
train split against a held-out split.

Metric names: ``fid``, ``kid`` (mean and std over subsets), ``is`` (Inception Score of the
generated / second set; needs an extractor with a classifier head: efficientnet-lite0,
inception-v3:PATH or classifier:PATH), ``pr`` (k-NN precision and recall, k = 3).

Example
-------
>>> parse_metrics("fid, kid")
('fid', 'kid')
>>> parse_split("0:8000"), parse_split("0.8:1")
((0, 8000), (0.8, 1.0))
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from atelier.devices import resolve_device
from atelier.errors import InvalidArgument
from atelier.metrics.distribution import fid, inception_score, kid, precision_recall
from atelier.metrics.features import (
    DEFAULT_EXTRACTOR,
    FeatureExtractor,
    FeatureStatistics,
    compute_statistics,
    get_extractor,
)
from atelier.tasks.generate import _check_count, expand_labels, load_generator

__all__ = [
    "METRICS",
    "EvaluationResult",
    "evaluate_model",
    "evaluate_real",
    "parse_metrics",
    "parse_split",
]

METRICS = ("fid", "kid", "is", "pr")


@dataclass
class EvaluationResult:
    """Metric values and what they were measured on.

    ``scores`` maps ``fid``, ``kid_mean``, ``kid_std``, ``is_mean``, ``is_std``, ``precision``,
    ``recall`` (those asked for) to floats.
    """

    scores: dict[str, float]
    features: str
    n_fake: int
    n_real: int
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_metrics(metrics: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"fid,kid"`` or a list -> validated tuple of metric names (no duplicates)."""
    names = [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics)]
    names = [m for m in names if m]
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise InvalidArgument(f"unknown metric(s) {', '.join(bad) or '(none given)'}; choose from "
                              f"{', '.join(METRICS)} (comma-separated)")
    return tuple(dict.fromkeys(names))


def parse_split(text: str | None):
    """``"a:b"`` -> ``(a, b)``: ints are item indices, floats in [0, 1] fractions; an open
    end (``"8000:"``, ``":0.8"``) runs to the end / from the start. None -> None."""
    if text is None or str(text).strip() == "":
        return None
    lo, sep, hi = str(text).partition(":")
    if not sep:
        raise InvalidArgument(f"split must look like START:STOP (e.g. 0:8000 or 0.8:1), got {text!r}")
    lo, hi = lo.strip(), hi.strip()
    try:
        if "." in lo or "." in hi:
            return (float(lo) if lo else 0.0, float(hi) if hi else 1.0)
        if not hi:
            return slice(int(lo) if lo else None, None)
        return (int(lo) if lo else 0, int(hi))
    except ValueError:
        raise InvalidArgument(f"split must look like START:STOP with numbers, got {text!r}") from None


def _split_key(split: Any) -> Any:
    if isinstance(split, slice):
        return [split.start, split.stop]
    return list(split) if isinstance(split, tuple) else split


def _data_key(data: str | os.PathLike) -> str:
    text = os.fspath(data)
    name, sep, rest = text.partition(":")
    if sep and rest and not os.path.exists(text):
        return f"{name}:{Path(rest).expanduser().resolve()}"
    if os.path.exists(text):
        return str(Path(text).expanduser().resolve())
    return text


def _adapter(extractor: FeatureExtractor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Fit images to an extractor with a fixed input (a classifier: its channels, resolution).

    efficientnet-lite0 and inception-v3 resize and repeat grey inside; a classifier's net may
    carry ``config.channels`` / ``config.resolution`` (or ``channels`` / ``resolution``).
    """
    net = extractor.net
    cfg = getattr(net, "config", None)
    channels = getattr(net, "channels", None) or getattr(cfg, "channels", None)
    size = getattr(net, "resolution", None) or getattr(cfg, "resolution", None)

    def fit(x: torch.Tensor) -> torch.Tensor:
        if isinstance(channels, int) and x.shape[1] != channels:
            if channels == 3 and x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            elif channels == 1 and x.shape[1] == 3:  # ITU-R BT.601 luma
                w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
                x = (x * w[None, :, None, None]).sum(1, keepdim=True)
        if isinstance(size, int) and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                              antialias=True).clamp(0.0, 1.0)
        return x

    return fit


class _Fitted(torch.utils.data.Dataset):
    """A dataset whose images go through ``fit`` (one image at a time)."""

    def __init__(self, ds, fit) -> None:
        self.ds, self.fit = ds, fit

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i):
        return self.fit(self.ds[i][0][None])[0]


def _real_statistics(data, *, size, channels, split, extractor, batch_size, cache_dir,
                     seed) -> FeatureStatistics:
    from atelier.data import make_dataset

    ds = make_dataset(data, size=size, channels=channels, split=split, seed=seed)
    key = {"data": _data_key(data), "size": size, "channels": ds.channels,
           "split": _split_key(split), "seed": seed}
    return compute_statistics(_Fitted(ds, _adapter(extractor)), extractor, batch_size,
                              cache_dir=cache_dir, key=key if cache_dir is not None else None)


def _scores(metrics: tuple[str, ...], real: FeatureStatistics, fake: FeatureStatistics,
            extractor: FeatureExtractor, seed: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in metrics:
        if m == "fid":
            out["fid"] = fid(real.features, fake.features)
        elif m == "kid":
            out["kid_mean"], out["kid_std"] = kid(real.features, fake.features, seed=seed)
        elif m == "is":
            _check_is_possible(metrics, extractor)
            out["is_mean"], out["is_std"] = inception_score(
                fake.probabilities, splits=min(10, len(fake.probabilities)))
        elif m == "pr":
            out["precision"], out["recall"] = precision_recall(real.features, fake.features)
    return out


def _extractor(features, device, batch_size) -> FeatureExtractor:
    if isinstance(features, FeatureExtractor):
        return features
    return get_extractor(features or DEFAULT_EXTRACTOR, device=device, batch_size=batch_size)


def _check_is_possible(metrics, extractor) -> None:
    if "is" in metrics and extractor.num_classes is None:
        raise InvalidArgument(
            f"the Inception Score needs class probabilities, and feature extractor "
            f"{extractor.name!r} has no classifier head; use the features "
            "efficientnet-lite0, inception-v3:PATH or classifier:PATH, or drop 'is'")


def evaluate_model(
    model: torch.nn.Module | str | os.PathLike,
    data: str | os.PathLike,
    *,
    split=None,
    metrics: str | tuple[str, ...] = METRICS,
    features: str | FeatureExtractor = DEFAULT_EXTRACTOR,
    n: int = 10_000,
    seed: int = 0,
    batch_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[int], None] | None = None,
) -> EvaluationResult:
    """Metrics of ``n`` samples of ``model`` (a model or a RUN folder) against dataset ``data``.

    Parameters
    ----------
    model : generator module or RUN folder
    data : dataset name or path (as :func:`atelier.data.make_dataset`), read at the model's
        resolution and channels
    split : (start, stop), slice or None
        Part of ``data`` used as the real set (see :func:`parse_split`).
    metrics : names among ``fid, kid, is, pr``
    features : extractor spec (``efficientnet-lite0``, ``inception-v3:PATH``,
        ``classifier:PATH``) or a built :class:`FeatureExtractor`
    n, seed, batch_size : samples, their seed, images per forward pass
    cache_dir : folder for cached real-data features (None: no cache)
    device : where the generator and extractor run (``auto`` picks cuda, mps, cpu)
    progress : called with the number of samples finished after each batch

    Returns
    -------
    EvaluationResult
    """
    metrics = parse_metrics(metrics)
    n = _check_count(n)
    batch_size = _check_count(batch_size, "batch_size")
    if not isinstance(model, torch.nn.Module):
        model = load_generator(model, device=resolve_device(device))
    dev = resolve_device(device, model)
    model = model.to(dev)
    extractor = _extractor(features, dev, batch_size)
    _check_is_possible(metrics, extractor)
    cfg = model.config
    labels = expand_labels(model, None, n)  # conditional: classes cycled uniformly
    fit = _adapter(extractor)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    feats, probs = [], []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        kw = {} if labels is None else {"labels": labels[start:start + b]}
        images = model.sample(b, generator=gen, device=dev, **kw)
        f, p = extractor.features_and_probabilities(fit(images.float()))
        feats.append(f.numpy())
        if p is not None:
            probs.append(p.numpy())
        if progress is not None:
            progress(b)
    fake = FeatureStatistics(np.concatenate(feats), np.concatenate(probs) if probs else None)
    real = _real_statistics(data, size=cfg.resolution, channels=cfg.channels, split=split,
                            extractor=extractor, batch_size=batch_size, cache_dir=cache_dir,
                            seed=seed)
    return EvaluationResult(
        _scores(metrics, real, fake, extractor, seed), extractor.name, n, len(real.features),
        {"model": type(model).model_name, "data": os.fspath(data), "split": _split_key(split),
         "seed": seed, "resolution": cfg.resolution},
    )


def evaluate_real(
    data: str | os.PathLike,
    against: str | os.PathLike,
    *,
    split=None,
    against_split=None,
    size: int = 32,
    channels: int | None = None,
    metrics: str | tuple[str, ...] = METRICS,
    features: str | FeatureExtractor = DEFAULT_EXTRACTOR,
    seed: int = 0,
    batch_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> EvaluationResult:
    """The same metrics between two real datasets, no model: ``data`` is the reference set,
    ``against`` plays the generated set (its Inception Score is reported).

    The floor a generator is judged against: e.g. ``evaluate_real("idx:mnist10k",
    "idx:mnist10k", split=(0, 8000), against_split=(8000, 10000))``. Both are read at
    ``size`` and ``channels`` (None: ``data``'s own, and ``against`` gets the same).
    """
    from atelier.data import make_dataset

    metrics = parse_metrics(metrics)
    batch_size = _check_count(batch_size, "batch_size")
    extractor = _extractor(features, resolve_device(device), batch_size)
    _check_is_possible(metrics, extractor)
    if channels is None:
        channels = make_dataset(data, size=size, split=split, seed=seed).channels
    common = dict(size=size, channels=channels, extractor=extractor, batch_size=batch_size,
                  cache_dir=cache_dir, seed=seed)
    real = _real_statistics(data, split=split, **common)
    other = _real_statistics(against, split=against_split, **common)
    return EvaluationResult(
        _scores(metrics, real, other, extractor, seed), extractor.name, len(other.features),
        len(real.features),
        {"data": os.fspath(data), "split": _split_key(split), "against": os.fspath(against),
         "against_split": _split_key(against_split), "size": size, "seed": seed},
    )
