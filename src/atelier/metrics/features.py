"""Feature extractors for distribution metrics (FID, KID, IS, precision/recall), by name.

``get_extractor(spec)`` builds one from a spec string:

- ``"efficientnet-lite0"`` (default) — ImageNet EfficientNet-Lite0 shipped with its packages,
  1280-d features, 1000 classes; works offline;
- ``"inception-v3:/path/to/pt_inception-2015-12-05-6726825d.pth"`` (or ``"inception-v3"`` with
  ``weights_path=``) — the Inception-v3 of the published FID, 2048-d, 1008 classes;
- ``"classifier:PATH"`` — a classifier trained by atelier, saved as ``PATH/model.json`` +
  ``PATH/model.safetensors``; the model family registers how to load it with
  :func:`register_classifier_loader`.

Every extractor has ``name``, ``feature_dim``, ``num_classes`` (``None`` without a classifier
head), ``features(images) -> (B, D)`` and ``probabilities(images) -> (B, K)``, batched, without
gradients, on its ``device``. :func:`compute_statistics` runs one over a dataset and caches the
arrays in an ``.npz`` file keyed by dataset, size and extractor.

Example
-------
>>> import torch
>>> ex = get_extractor("efficientnet-lite0")
>>> ex.name, ex.feature_dim, ex.num_classes
('efficientnet-lite0', 1280, 1000)
>>> tuple(ex.features(torch.rand(2, 3, 32, 32)).shape)
(2, 1280)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from atelier.errors import InvalidArgument, lookup
from atelier.image import write_atomic

__all__ = [
    "FeatureExtractor",
    "FeatureStatistics",
    "compute_statistics",
    "extractor_names",
    "get_extractor",
    "register_classifier_loader",
    "register_extractor",
]

DEFAULT_EXTRACTOR = "efficientnet-lite0"


class FeatureExtractor:
    """A frozen feature network run in batches without gradients on one device.

    Parameters
    ----------
    name : str
        Registry spec it was built from (part of cache keys).
    net : torch.nn.Module
        Takes ``(B, C, H, W)`` in [0, 1]; ``net(x)`` returns features ``(B, D)`` and, when
        ``num_classes`` is set, ``net(x, logits=True)`` returns ``(features, logits)``.
    feature_dim, num_classes : int, int or None
        ``D``, and ``K`` for a classifier head (``None``: no head).
    device : str or torch.device
    batch_size : int
        Images per forward pass.
    """

    def __init__(self, name: str, net: nn.Module, feature_dim: int, num_classes: int | None,
                 device: str | torch.device = "cpu", batch_size: int = 64) -> None:
        if batch_size < 1:
            raise InvalidArgument(f"batch_size must be >= 1, got {batch_size}")
        self.name = name
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.feature_dim = int(feature_dim)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.batch_size = int(batch_size)

    def __repr__(self) -> str:
        return (f"FeatureExtractor({self.name!r}, feature_dim={self.feature_dim}, "
                f"num_classes={self.num_classes}, device={str(self.device)!r})")

    @torch.no_grad()
    def _run(self, images: torch.Tensor, logits: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not torch.is_tensor(images) or images.ndim != 4:
            shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise InvalidArgument(f"expected a (B, C, H, W) tensor batch in [0, 1], got {shape}")
        feats, probs = [], []
        for chunk in images.split(self.batch_size):
            x = chunk.to(self.device, torch.float32)
            if logits:
                f, z = self.net(x, logits=True)
                probs.append(torch.softmax(z.float(), dim=1).cpu())
            else:
                f = self.net(x)
            feats.append(f.float().cpu())
        return torch.cat(feats), (torch.cat(probs) if logits else None)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [0, 1] -> features ``(B, D)`` float32 on the CPU."""
        return self._run(images, logits=False)[0]

    def _check_head(self) -> None:
        if self.num_classes is None:
            raise InvalidArgument(
                f"feature extractor {self.name!r} has no classifier head, so it gives no "
                "class probabilities; use efficientnet-lite0, inception-v3 or classifier:PATH"
            )

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [0, 1] -> softmax class probabilities ``(B, K)`` on the CPU."""
        self._check_head()
        return self._run(images, logits=True)[1]

    def features_and_probabilities(self, images: torch.Tensor):
        """Both in one pass: ``((B, D), (B, K))``; probabilities are ``None`` without a head."""
        return self._run(images, logits=self.num_classes is not None)


# ---------------------------------------------------------------- registry

ExtractorFactory = Callable[..., FeatureExtractor]
_EXTRACTORS: dict[str, ExtractorFactory] = {}


def register_extractor(name: str) -> Callable[[ExtractorFactory], ExtractorFactory]:
    """Decorator: register ``factory(arg, *, device, batch_size, weights_path)`` under ``name``.

    ``arg`` is the text after ``name:`` in a spec, or ``None``.
    """

    def decorate(factory: ExtractorFactory) -> ExtractorFactory:
        if name in _EXTRACTORS:
            raise ValueError(f"feature extractor {name!r} is already registered")
        _EXTRACTORS[name] = factory
        return factory

    return decorate


def extractor_names() -> list[str]:
    """Registered extractor names, sorted."""
    return sorted(_EXTRACTORS)


def get_extractor(spec: str = DEFAULT_EXTRACTOR, *, device: str | torch.device = "cpu",
                  batch_size: int = 64, weights_path: str | os.PathLike | None = None,
                  ) -> FeatureExtractor:
    """Build the extractor named by ``spec`` (``name`` or ``name:ARG``) on ``device``.

    Raises
    ------
    UnknownName
        ``name`` is not registered (the message lists the known names).
    InvalidArgument
        Missing or wrong weights, or an unusable classifier folder.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidArgument(f"feature extractor spec must be a non-empty string, got {spec!r}")
    name, _, arg = spec.strip().partition(":")
    factory = lookup(_EXTRACTORS, name, "feature extractor")
    return factory(arg or None, device=device, batch_size=batch_size, weights_path=weights_path)


@register_extractor("efficientnet-lite0")
def _efficientnet_lite0(arg, *, device, batch_size, weights_path) -> FeatureExtractor:
    from atelier.nets import EfficientNetLite0

    net = EfficientNetLite0(arg or weights_path)
    return FeatureExtractor("efficientnet-lite0", net, net.feature_dim, net.num_classes,
                            device, batch_size)


@register_extractor("inception-v3")
def _inception_v3(arg, *, device, batch_size, weights_path) -> FeatureExtractor:
    from atelier.nets import FID_WEIGHTS_FILE, FID_WEIGHTS_URL, FIDInceptionV3

    path = arg or weights_path
    if path is None:
        raise InvalidArgument(
            f"inception-v3 needs the local weights file {FID_WEIGHTS_FILE} (pytorch-fid's; "
            f"download it once from {FID_WEIGHTS_URL}) named as inception-v3:PATH"
        )
    net = FIDInceptionV3(path)
    return FeatureExtractor("inception-v3", net, net.feature_dim, net.num_classes,
                            device, batch_size)


# A classifier loader reads a checkpoint folder and returns a module that follows the
# extractor protocol: ``feature_dim``, ``num_classes``, ``forward(x)`` -> features and
# ``forward(x, logits=True)`` -> (features, logits), inputs (B, C, H, W) in [0, 1].
ClassifierLoader = Callable[[Path, dict], nn.Module]
_CLASSIFIER_LOADERS: dict[str, ClassifierLoader] = {}


def register_classifier_loader(model_name: str, loader: ClassifierLoader) -> ClassifierLoader:
    """Let ``classifier:PATH`` load checkpoints whose ``model.json`` says ``"model": model_name``.

    ``loader(folder, config)`` gets the checkpoint folder and the ``"config"`` dict of its
    ``model.json`` and returns a frozen module with ``feature_dim``, ``num_classes`` and
    ``forward(images, logits=False)`` returning features or ``(features, logits)``.
    """
    _CLASSIFIER_LOADERS[model_name] = loader
    return loader


@register_extractor("classifier")
def _classifier(arg, *, device, batch_size, weights_path) -> FeatureExtractor:
    folder = Path(arg or weights_path or "")
    if arg is None and weights_path is None:
        raise InvalidArgument("classifier needs a checkpoint folder: classifier:PATH, where "
                              "PATH holds model.json and model.safetensors")
    meta_path = folder / "model.json"
    if not meta_path.is_file():
        raise InvalidArgument(
            f"{folder} has no model.json: classifier:PATH expects a folder written by "
            "`atelier train classifier` (model.json + model.safetensors)"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        model_name, config = meta["model"], meta.get("config", {})
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidArgument(f"{meta_path} is not a model.json with a \"model\" name") from e
    if model_name not in _CLASSIFIER_LOADERS:
        try:  # model families register their loaders when atelier.models is imported
            import atelier.models  # noqa: F401
        except ModuleNotFoundError as e:
            if e.name != "atelier.models":
                raise
    loader = _CLASSIFIER_LOADERS.get(model_name)
    if loader is None:
        raise InvalidArgument(
            f"{meta_path} names model {model_name!r}, which is not a classifier atelier can "
            f"load (known: {', '.join(sorted(_CLASSIFIER_LOADERS)) or 'none'})"
        )
    net = loader(folder, config)
    return FeatureExtractor(f"classifier:{folder}", net, net.feature_dim, net.num_classes,
                            device, batch_size)


class _AtelierClassifier(nn.Module):
    """An atelier ``classifier`` model in the extractor protocol: any input size and channel
    count are brought to the classifier's own (antialiased resize, grey <-> RGB)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.config = model.config
        self.feature_dim = getattr(model, "feature_dim", model.config.feature_dim)  # 1280 on a backbone
        self.num_classes = model.config.num_classes

    def forward(self, images: torch.Tensor, logits: bool = False):
        size, channels = self.config.resolution, self.config.channels
        if images.shape[1] != channels:
            images = images.mean(1, keepdim=True) if channels == 1 else images.expand(
                -1, channels, -1, -1
            )
        if images.shape[-2:] != (size, size):
            images = nn.functional.interpolate(
                images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
        features = self.model.features(images)
        return (features, self.model.head(features)) if logits else features


def _load_atelier_classifier(folder: Path, config: dict) -> nn.Module:
    from atelier.models import load_model

    return _AtelierClassifier(load_model(folder))


register_classifier_loader("classifier", _load_atelier_classifier)


# ---------------------------------------------------------------- dataset statistics


@dataclass(frozen=True)
class FeatureStatistics:
    """Features ``(N, D)`` float32 of a dataset, and class probabilities ``(N, K)`` or None."""

    features: np.ndarray
    probabilities: np.ndarray | None = None

    @cached_property
    def mu(self) -> np.ndarray:
        """Mean feature ``(D,)`` in float64."""
        return self.features.astype(np.float64).mean(axis=0)

    @cached_property
    def sigma(self) -> np.ndarray:
        """Feature covariance ``(D, D)`` in float64 (unbiased, as pytorch-fid's ``np.cov``)."""
        return np.atleast_2d(np.cov(self.features.astype(np.float64), rowvar=False))


def _image_of(item: Any) -> torch.Tensor:
    if isinstance(item, (tuple, list)):  # (image, label)
        item = item[0]
    if isinstance(item, np.ndarray):
        item = torch.from_numpy(item)
    if not torch.is_tensor(item) or item.ndim not in (3, 4):
        what = tuple(item.shape) if torch.is_tensor(item) else type(item).__name__
        raise InvalidArgument(f"dataset items must be (C, H, W) tensors (optionally with a "
                              f"label) or (B, C, H, W) batches, got {what}")
    return item if item.ndim == 4 else item[None]


def _batches(data: Any, batch_size: int) -> Iterator[torch.Tensor]:
    """Yield ``(b, C, H, W)`` batches of at most ``batch_size`` from a tensor or a dataset."""
    if torch.is_tensor(data) or isinstance(data, np.ndarray):
        data = torch.as_tensor(data)
        if data.ndim != 4:
            raise InvalidArgument(f"expected an (N, C, H, W) tensor, got {tuple(data.shape)}")
        yield from data.split(batch_size)
        return
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not hasattr(data, "__iter__"):
        items: Iterable = (data[i] for i in range(len(data)))  # map-style dataset
    else:
        items = data
    pending: list[torch.Tensor] = []
    count = 0
    for item in items:
        pending.append(_image_of(item))
        count += pending[-1].shape[0]
        if count >= batch_size:
            whole = torch.cat(pending)
            yield from whole[: count - count % batch_size].split(batch_size)
            pending, count = ([whole[count - count % batch_size:]], count % batch_size)
    if count:
        yield torch.cat(pending)


def _cache_path(cache_dir: Path, key: Any, size: int | None, extractor_name: str) -> tuple[Path, str]:
    ident = json.dumps({"dataset": key, "size": size, "extractor": extractor_name},
                       sort_keys=True, default=str)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{key}-{extractor_name}")[:60].strip("-")
    digest = hashlib.sha256(ident.encode()).hexdigest()[:16]
    return cache_dir / f"{slug}-{digest}.npz", ident


def _read_cache(path: Path, ident: str) -> FeatureStatistics | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["ident"]) != ident:
                return None
            probs = f["probabilities"] if "probabilities" in f.files else None
            return FeatureStatistics(f["features"], probs)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # absent, unreadable or from another version: recompute and rewrite


def compute_statistics(data: Any, extractor: FeatureExtractor, batch_size: int = 64, *,
                       cache_dir: str | os.PathLike | None = None, key: Any = None,
                       ) -> FeatureStatistics:
    """Features (and class probabilities where the extractor has a head) of a dataset.

    Parameters
    ----------
    data : tensor ``(N, C, H, W)``, or a dataset / iterable
        Images in [0, 1]: items are ``(C, H, W)`` tensors, ``(image, label)`` pairs, or
        ``(B, C, H, W)`` batches. Map-style datasets (``__len__`` + ``__getitem__``) work.
    extractor : FeatureExtractor
    batch_size : int
        Images per forward pass.
    cache_dir : path, optional
        Folder of cached ``.npz`` files; ``None`` computes every time.
    key : str or JSON-able, required with ``cache_dir``
        Identity of the dataset: its name or path, resolution, split, ... The file is keyed
        by ``key``, the item count (``len(data)`` where known) and ``extractor.name``.

    Returns
    -------
    FeatureStatistics
        ``features (N, D)``, ``probabilities (N, K)`` or None, and ``mu`` / ``sigma``.

    The cache is written atomically and read with ``np.load(allow_pickle=False)``.
    """
    if batch_size < 1:
        raise InvalidArgument(f"batch_size must be >= 1, got {batch_size}")
    path = ident = None
    if cache_dir is not None:
        if key is None:
            raise InvalidArgument("compute_statistics with cache_dir needs a key naming the "
                                  "dataset (e.g. its path and image size)")
        size = len(data) if hasattr(data, "__len__") else None
        path, ident = _cache_path(Path(cache_dir), key, size, extractor.name)
        cached = _read_cache(path, ident)
        if cached is not None:
            return cached
    feats, probs = [], []
    for batch in _batches(data, batch_size):
        f, p = extractor.features_and_probabilities(batch)
        feats.append(f.numpy())
        if p is not None:
            probs.append(p.numpy())
    if not feats:
        raise InvalidArgument("the dataset is empty: no images to compute features of")
    stats = FeatureStatistics(np.concatenate(feats).astype(np.float32),
                              np.concatenate(probs).astype(np.float32) if probs else None)
    if path is not None:
        arrays = {"features": stats.features, "ident": np.array(ident)}
        if stats.probabilities is not None:
            arrays["probabilities"] = stats.probabilities
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_atomic(path, buf.getvalue())
    return stats
