"""Baseline (a) of the captioning benchmark: nearest-neighbour caption retrieval.

Each held-out image gets the (first) caption of the training image closest to it by cosine
distance of pooled ImageNet EfficientNet-Lite0 features (``atelier.nets.efficientnet_lite0``,
1280-d, global average pool of the last feature map). The images are prepared as the
captioner sees them: the dataset's ``image_tensor`` (transparency composited on white, the
shorter side resized to the data size, centre crop), then resized to the captioner's
``image_size`` (bilinear, antialiased) and normalised as EfficientNet-Lite was trained.

The retrieved captions are scored with ``atelier.metrics.caption_scores`` against every
reference caption of the held-out images, on all images and on the base-name images
(every reference passes ``is_base_name``) separately, as ``evaluate_captioner`` does.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import torch
import torch.nn.functional as F


def pooled_features(dataset: Any, image_ids: Sequence[int], image_size: int, batch_size: int = 64) -> torch.Tensor:
    """L2-normalised pooled EfficientNet-Lite0 features ``(N, 1280)`` of ``image_ids``."""
    from atelier.nets.efficientnet_lite0 import EfficientNetLite0

    net = EfficientNetLite0(resize=image_size)
    out = []
    with torch.no_grad():
        for start in range(0, len(image_ids), batch_size):
            chunk = image_ids[start : start + batch_size]
            out.append(net(torch.stack([dataset.image_tensor(int(i)) for i in chunk])))
    return F.normalize(torch.cat(out), dim=1)


def nearest(train: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Index of the closest row of ``train`` (cosine) for each row of ``query``; both are
    L2-normalised ``(N, D)`` and ``(M, D)``; ties go to the first row.

    >>> nearest(F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1),
    ...         F.normalize(torch.tensor([[0.1, 1.0], [2.0, 0.5], [1.0, 1.0]]), dim=1)).tolist()
    [1, 0, 0]
    """
    return (query @ train.T).argmax(dim=1)


def retrieval_scores(train_ds: Any, test_ds: Any, test_ids: Sequence[int], image_size: int,
                     train_limit: int | None = None) -> dict[str, Any]:
    """Caption ``test_ids`` of ``test_ds`` by retrieval from ``train_ds``; scores, all and base."""
    from atelier.data.captioned import is_base_name
    from atelier.metrics import caption_scores

    t0 = time.perf_counter()
    train_ids = [int(i) for i in train_ds.image_ids[:train_limit]]
    bank = pooled_features(train_ds, train_ids, image_size)
    t1 = time.perf_counter()
    query = pooled_features(test_ds, list(test_ids), image_size)
    found = nearest(bank, query).tolist()
    hyps = [train_ds.captions(train_ids[j])[0] for j in found]
    refs = [test_ds.captions(int(i)) for i in test_ids]
    seconds = time.perf_counter() - t1
    out: dict[str, Any] = {**caption_scores(hyps, refs), "n_images": len(hyps), "n_train_images": len(train_ids),
                           "bank_seconds": t1 - t0, "seconds": seconds,
                           "captions_per_second": len(hyps) / max(seconds, 1e-9)}
    base = [k for k, r in enumerate(refs) if all(is_base_name(t) for t in r)]
    out["base"] = ({**caption_scores([hyps[k] for k in base], [refs[k] for k in base]), "n_images": len(base)}
                   if base else {"n_images": 0})
    out["captions"] = [{"image_id": int(i), "caption": h, "neighbour": train_ids[j]}
                       for i, h, j in zip(test_ids, hyps, found)]
    return out
