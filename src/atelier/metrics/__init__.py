"""Metrics that measure images: fidelity between two images (MSE, PSNR, SSIM, MS-SSIM).

Each metric is a plain function of two numpy images returning a float, and is registered by
name for the command line: ``get_metric("psnr")``, ``METRICS``.

Example
-------
>>> import numpy as np
>>> from atelier import metrics
>>> a = np.zeros((16, 16, 3), np.uint8)
>>> metrics.psnr(a, a), metrics.get_metric("mse")(a, a)
(inf, 0.0)
"""

from atelier.metrics.fidelity import METRICS, get_metric, ms_ssim, mse, psnr, ssim

__all__ = ["METRICS", "get_metric", "ms_ssim", "mse", "psnr", "ssim"]
