"""Metrics that measure images: fidelity between two images (MSE, PSNR, SSIM, MS-SSIM) and
distances between two sets of images' features (FID, KID, Inception Score, precision/recall);
and captions against reference captions (``atelier.metrics.text``: BLEU-1..4, CIDEr-D,
ROUGE-L, exact match, word F1, as the COCO caption evaluation computes them).

Each fidelity metric is a plain function of two numpy images returning a float, registered by
name for the command line: ``get_metric("psnr")``, ``METRICS``. The distribution metrics take
feature arrays; ``atelier.metrics.features`` (imported on its own: it loads torch) turns
images into features with a pluggable extractor.

Example
-------
>>> import numpy as np
>>> from atelier import metrics
>>> a = np.zeros((16, 16, 3), np.uint8)
>>> metrics.psnr(a, a), metrics.get_metric("mse")(a, a)
(inf, 0.0)
"""

from atelier.metrics.distribution import (
    feature_statistics,
    fid,
    frechet_distance,
    inception_score,
    kid,
    precision_recall,
)
from atelier.metrics.fidelity import METRICS, get_metric, ms_ssim, mse, psnr, ssim
from atelier.metrics.text import caption_scores, cider_d, corpus_bleu, exact_match, rouge_l, word_f1

__all__ = [
    "METRICS",
    "caption_scores",
    "cider_d",
    "corpus_bleu",
    "exact_match",
    "feature_statistics",
    "fid",
    "frechet_distance",
    "get_metric",
    "inception_score",
    "kid",
    "ms_ssim",
    "mse",
    "precision_recall",
    "psnr",
    "rouge_l",
    "ssim",
    "word_f1",
]
