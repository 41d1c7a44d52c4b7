"""CBM3D as a peer of atelier's denoiser: install, run, score and time it.

The peer is colour BM3D (Dabov, Foi, Katkovnik, Egiazarian 2007, "Color image denoising via
sparse 3D collaborative filtering with grouping constraint in luminance-chrominance space"),
the classic reference of colour Gaussian denoising, as the PyPI package ``bm3d`` (Mäkinen,
Azzari and Foi's implementation, with its compiled ``bm4d`` core) provides it:
``bm3d.bm3d_rgb(noisy, sigma_psd=sigma / 255)`` on float64 RGB in [0, 1], the package's
defaults otherwise (profile ``"np"``, block matching in the opponent colour space, both
stages: hard thresholding, then Wiener filtering). It is given the true sigma, as the
denoiser is. Its output is clipped to [0, 1] and rounded to uint8, as every other method of
the benchmark is scored.

``bm3d`` is free for non-commercial use only, so it is a benchmark-only dependency: nothing
in ``src/atelier`` imports it. The benchmark pip-installs it into the running interpreter's
environment when it is missing (``--no-install`` turns that off) and, when it cannot, reports
why in the rows and goes on.

Speed: the core runs on one thread (CPU time = wall time) and each call has a fixed cost of
about 2 s, whatever the size (0.7 s per colour channel in the hard-thresholding stage): on
this project's 2-core machine, shared with other jobs, 2.2 s for 32 x 32, 9 to 17 s for
256 x 256 and about 58 s for 512 x 512 (load 4 to 7). ``cbm3d_scores`` records the wall
seconds of every image.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import _pip_peer
import numpy as np

PACKAGE = "bm3d"


def ensure_installed(allow_install: bool) -> tuple[bool, str]:
    """(available, how): the peer's modules, pip-installed first when allowed."""
    return _pip_peer.ensure_installed((PACKAGE,), (PACKAGE,), allow_install, "bm3d")


def versions() -> dict[str, str]:
    """Versions of the peer's packages ("absent" when missing)."""
    return _pip_peer.versions((PACKAGE, "bm4d"))


def cbm3d(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """CBM3D of an ``H x W x 3`` uint8 image at noise level ``sigma`` (0..255 units), as uint8."""
    import bm3d

    out = bm3d.bm3d_rgb(noisy.astype(np.float64) / 255.0, sigma_psd=float(sigma) / 255.0)
    return np.rint(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)


def cbm3d_scores(images: Sequence[tuple[str, np.ndarray, np.ndarray]], sigma: float) -> dict[str, Any]:
    """RGB PSNR/SSIM and wall seconds of CBM3D on ``(name, clean, noisy)`` triples: the mean
    and one row per image."""
    from atelier.metrics import psnr, ssim

    rows = []
    for name, clean, noisy in images:
        t0 = time.perf_counter()
        out = cbm3d(noisy, sigma)
        seconds = time.perf_counter() - t0
        rows.append({"image": name, "psnr": psnr(clean, out), "ssim": ssim(clean, out),
                     "seconds": seconds, "pixels": int(clean.shape[0] * clean.shape[1])})
    return {"status": "ok",
            "mean": {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim")},
            "seconds_per_image": float(np.mean([r["seconds"] for r in rows])),
            "seconds_total": float(sum(r["seconds"] for r in rows)),
            "rows": rows}
