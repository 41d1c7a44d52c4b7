"""Metrics that measure images: fidelity between two images (MSE, PSNR, SSIM, MS-SSIM) and
distances between two sets of images' features (FID, KID, Inception Score, precision/recall).

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

__all__ = [
    "METRICS",
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
    "ssim",
]
