"""x4 upscaling speed on a photo crop: atelier's model against Pillow's bicubic and Real-ESRGAN.

Input: the central ``side`` x ``side`` crop (512 in the full run) of the first photo of
``photos80`` (sorted by name), RGB uint8. Speed = output megapixels / second per call.

* Pillow bicubic: ``Image.resize(..., BICUBIC)`` on a PIL image prepared beforehand (the
  numpy <-> PIL conversions are not timed: the most favourable measurement for Pillow);
  atelier's own bicubic (``upscale(model="bicubic")``, numpy in and out) beside it.
* atelier: ``upscale(img, 4, net, tile)`` with the tile ``atelier upscale`` uses by default.
* Real-ESRGAN x4plus, ncnn CPU build (``_restore_esrgan``), through the same ``upscale``
  (tiles of ``esrgan_tile`` px with Real-ESRGAN's 10 px pad), ncnn threads = torch threads.

The first three are timed with ``_timing.measure`` (warm-up, calibration, interleaved runs;
the median is reported). Real-ESRGAN takes minutes per call on two cores, so it is warmed
up on a 16 x 16 crop and timed ``rounds`` times (best reported). Its CSet5 x4 PSNR/SSIM is
measured with ``evaluate_sr`` (the protocol of the quality part) beside its time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

SCALE = 4


def photo_crop(photos: Path, side: int) -> tuple[np.ndarray, str]:
    """Central crop of the first photo (resized up with cv2.INTER_CUBIC if it is smaller)."""
    import cv2

    from atelier.image import load_image
    from atelier.tasks.restoration_eval import list_images

    path = list_images(photos)[0]
    img = load_image(path, mode="rgb")
    h, w = img.shape[:2]
    if min(h, w) < side:
        f = side / min(h, w)
        img = cv2.resize(img, (max(side, round(w * f)), max(side, round(h * f))), interpolation=cv2.INTER_CUBIC)
        h, w = img.shape[:2]
    y, x = (h - side) // 2, (w - side) // 2
    return np.ascontiguousarray(img[y : y + side, x : x + side]), path.name


def speed_part(net: Any, status: str, photos: Path, side: int, tile: int, timing: Any, *,
               esrgan: bool, allow_install: bool, esrgan_tile: int, rounds: int,
               cset5: Path) -> dict[str, Any]:
    """Times (s/call), MP/s and ratios; Real-ESRGAN's install status, model facts and PSNR."""
    import torch
    from PIL import Image

    from atelier.tasks.restore import upscale
    from _timing import measure

    img, name = photo_crop(photos, side)
    out_mp = (side * SCALE) ** 2 / 1e6
    pil = Image.fromarray(img)
    fns = {
        "pillow-bicubic": lambda: pil.resize((side * SCALE, side * SCALE), Image.BICUBIC),
        "atelier-bicubic": lambda: upscale(img, SCALE, "bicubic"),
    }
    if net is not None:
        fns["atelier-model"] = lambda: upscale(img, SCALE, net, tile=tile)
    times, calls, _ = measure(fns, timing)
    result: dict[str, Any] = {
        "photo": name, "input": [side, side], "output_megapixels": out_mp, "tile": tile,
        "torch_threads": torch.get_num_threads(), "model_status": status, "calls_per_run": calls,
        "seconds": {k: float(np.median(v)) for k, v in times.items()}, "all_seconds": times,
    }
    result["esrgan"] = esrgan_part(img, allow_install, esrgan_tile, rounds, cset5) if esrgan else {
        "status": "skipped (--no-realesrgan)"}
    if result["esrgan"]["status"] == "ok":
        result["seconds"]["realesrgan"] = result["esrgan"]["seconds"]
    result["mp_per_s"] = {k: out_mp / s for k, s in result["seconds"].items()}
    return result


def esrgan_part(img: np.ndarray, allow_install: bool, tile: int, rounds: int, cset5: Path) -> dict[str, Any]:
    """Install (if allowed), load, warm up, time, then CSet5 x4 PSNR/SSIM; never raises."""
    from _restore_esrgan import ensure_installed, versions

    t0 = time.perf_counter()
    ok, how = ensure_installed(allow_install)
    out: dict[str, Any] = {"install": how, "install_seconds": time.perf_counter() - t0, "versions": versions()}
    if not ok:
        out["status"] = f"SKIP: {how}"
        return out
    try:
        return _esrgan_runs(out, img, tile, rounds, cset5)
    except Exception as exc:  # a peer that fails is reported, not fatal to the benchmark
        out["status"] = f"error: {type(exc).__name__}: {exc}"
        return out


def _esrgan_runs(out: dict[str, Any], img: np.ndarray, tile: int, rounds: int, cset5: Path) -> dict[str, Any]:
    import torch

    from atelier.tasks.restoration_eval import evaluate_sr
    from atelier.tasks.restore import upscale
    from _restore_esrgan import RealESRGAN
    from _timing import alternate

    t0 = time.perf_counter()
    net = RealESRGAN(threads=torch.get_num_threads())
    out.update(status="ok", model=net.info, tile=tile, load_seconds=time.perf_counter() - t0)
    t0 = time.perf_counter()
    upscale(np.ascontiguousarray(img[:16, :16]), SCALE, net, tile=tile)
    out["warmup_seconds"] = time.perf_counter() - t0
    times = alternate({"realesrgan": lambda: upscale(img, SCALE, net, tile=tile)}, rounds)["realesrgan"]
    out.update(seconds=min(times), all_seconds=times)
    t0 = time.perf_counter()
    scores = evaluate_sr(net, cset5, SCALE, tile=tile)
    out.update(cset5=scores.mean[scores.methods[-1]], cset5_bicubic=scores.mean["bicubic"],
               cset5_rows=scores.rows, cset5_seconds=time.perf_counter() - t0)
    return out
