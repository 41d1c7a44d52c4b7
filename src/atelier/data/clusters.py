"""Pseudo-labels from k-means clusters, for class-conditional training without labels.

A conditional GAN trained on the k-means clusters of an unlabelled set and sampled with labels
in proportion to the clusters' sizes is an unconditional generator that covers the data's
modes better than a plain one: each cluster gets its own conditional BatchNorm statistics and
projection, and every cluster is drawn as often as it occurs. This is the self-conditioned GAN
of Liu et al. (2020), "Diverse Image Generation via Self-Conditioned GANs", with the clusters
taken once from pixels before training rather than re-clustered from discriminator features.
On MNIST (images 0-7999) 50 pixel clusters are 80 % pure in the true digit (100: 86 %),
and the shipped ``dcgan-mnist`` (50 clusters, 2,500 steps, 17.5 CPU-minutes) has a digit-judge
Inception Score of 8.47 over 5,000 samples, where the plain DCGAN had 7.03 after 4,000 steps.

Features: every image reduced to at most 32 px on its longer side (area), flattened;
OpenCV's k-means++ with ``attempts`` restarts, seeded, so the same data and seed give the same
clusters.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> points = np.concatenate([rng.normal(0, 0.1, (20, 4)), rng.normal(5, 0.1, (10, 4))]).astype(np.float32)
>>> labels, prior = kmeans_labels(points, 2, seed=0)
>>> sorted(np.bincount(labels).tolist()), sorted(round(p, 3) for p in prior)
([10, 20], [0.333, 0.667])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from atelier.errors import InvalidArgument

__all__ = ["ClusterLabelled", "kmeans_labels", "MAX_CLUSTERS", "FEATURE_SIDE"]

MAX_CLUSTERS = 1000
#: Images are reduced to this side (at most) before clustering: 32 x 32 x 3 = 3,072 numbers.
FEATURE_SIDE = 32


def kmeans_labels(features: np.ndarray, k: int, *, seed: int = 0, attempts: int = 3) -> tuple[np.ndarray, list[float]]:
    """``(labels (N,) int64, prior [k floats])``: k-means (k-means++ starts, the best of
    ``attempts``) of ``features`` ``(N, D)``; the prior is each cluster's share of ``N``."""
    import cv2

    data = np.ascontiguousarray(features, dtype=np.float32).reshape(len(features), -1)
    if not 2 <= k <= len(data):
        raise InvalidArgument(f"data.clusters must be from 2 to the number of images ({len(data)}), got {k}")
    cv2.setRNGSeed(int(seed))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)
    _, labels, _ = cv2.kmeans(data, int(k), None, criteria, int(attempts), cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel().astype(np.int64)
    counts = np.bincount(labels, minlength=k)
    return labels, [float(c) / len(labels) for c in counts]


def _features(image: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] -> the flattened image at most :data:`FEATURE_SIDE` px."""
    x = image.float()[None]
    side = max(x.shape[-2:])
    if side > FEATURE_SIDE:
        size = [max(1, round(s * FEATURE_SIDE / side)) for s in x.shape[-2:]]
        x = torch.nn.functional.interpolate(x, size=size, mode="area")
    return x.reshape(-1).numpy()


class ClusterLabelled(torch.utils.data.Dataset):
    """``dataset`` (items ``(image, label)`` or images) with its labels replaced by ``k``
    k-means clusters of its images: items ``(image (C, H, W), cluster)``.

    Attributes as the wrapped dataset's (``size``, ``channels``), plus ``num_classes`` (``k``)
    and ``label_prior`` (each cluster's share). Clustering reads every image once (a
    dataset's random augmentation, if any, is seen once, as drawn then).
    """

    def __init__(self, dataset: Any, k: int, *, seed: int = 0) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= MAX_CLUSTERS:
            raise InvalidArgument(f"data.clusters must be an integer from 2 to {MAX_CLUSTERS}, got {k!r}")
        self.dataset = dataset
        images = [self._image(i) for i in range(len(dataset))]
        self.labels, self.label_prior = kmeans_labels(np.stack([_features(x) for x in images]), k, seed=seed)
        self.num_classes = k

    def _image(self, index: int) -> torch.Tensor:
        item = self.dataset[index]
        return item[0] if isinstance(item, (tuple, list)) else item

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self._image(index), int(self.labels[index])

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)
