"""Quality parts of the restoration benchmark: super-resolution and denoising on CSet5.

Both go through atelier's own protocols (``atelier.tasks.restoration_eval``): ``evaluate_sr``
(HR cropped to a multiple of the scale, LR by Pillow's antialiased bicubic, Y-channel
PSNR/SSIM with ``scale`` px of border cropped, uint8 outputs) and ``evaluate_denoise`` (noise
from ``default_rng(seed)`` in file-name order, clipped and quantised to uint8, RGB PSNR/SSIM).

The NLM peer is tuned here, not taken from the library's table: ``fastNlMeansDenoisingColored``
(h = hColor, template 7, search 21) is run over a coarse grid of ``h`` (0.3 sigma to 1.2 sigma
in steps of 0.1 sigma), then a fine one (steps of 0.02 sigma within 0.1 sigma of the coarse
best), on exactly the noisy images ``evaluate_denoise`` draws; the best mean RGB PSNR is the
peer's figure.

A model is a shipped name (``sr-x4``, ``denoise``), a run folder, a ``model.safetensors``
path, or the baseline itself (``bicubic`` / ``nlm``) as a stand-in. A shipped model missing
from this install gives status ``not installed``; one that does not load gives its one-line
error; neither stops the benchmark.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

SR_TARGETS = {2: 36.7, 3: 32.8, 4: 30.5}  # dB, Y channel, CSet5 (SRCNN: 36.66 / 32.75 / 30.48)
DENOISE_MARGIN = 1.0  # dB over the best NLM


def quick_folder(src: Path, side: int) -> tempfile.TemporaryDirectory:
    """A temporary folder of the central ``side`` x ``side`` crops of ``src``'s images."""
    from atelier.image import load_image, save_image
    from atelier.tasks.restoration_eval import list_images

    tmp = tempfile.TemporaryDirectory(prefix="atelier-restoration-quick-")
    for path in list_images(src):
        img = load_image(path, mode="rgb")
        h, w = img.shape[:2]
        s = min(side, h, w)
        y, x = (h - s) // 2, (w - s) // 2
        save_image(Path(tmp.name) / f"{path.stem}.png", np.ascontiguousarray(img[y : y + s, x : x + s]))
    return tmp


def model_info(net: Any) -> dict[str, Any]:
    """Name, config and parameter count of a loaded model (or the baseline's name)."""
    import dataclasses

    if isinstance(net, str):
        return {"model": net}
    cfg = net.config
    return {"model": getattr(net, "model_name", type(net).__name__),
            "config": dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else vars(cfg),
            "parameters": int(sum(p.numel() for p in net.parameters()))}


def load(spec: str, loader, **kw: Any) -> tuple[Any, str]:
    """(model or None, status): ``status`` is "ok", "not installed" or "error: ..."."""
    from atelier.errors import AtelierError
    from atelier.pretrained import PRETRAINED, is_installed

    if spec in PRETRAINED and not is_installed(spec):
        return None, "not installed"
    try:
        return loader(spec, **kw), "ok"
    except AtelierError as exc:
        return None, f"error: {exc}"


def sr_scale(spec: str | None, scale: int, data: Path, tile: int) -> dict[str, Any]:
    """Bicubic and the model at one scale on ``data``: mean and per-image PSNR/SSIM."""
    from atelier.tasks.restoration_eval import evaluate_sr
    from atelier.tasks.restore import load_sr_model

    name = spec or f"sr-x{scale}"
    net, status = load(name, load_sr_model, scale=scale)
    out: dict[str, Any] = {"scale": scale, "model": name, "status": status,
                           "target_psnr": SR_TARGETS[scale]}
    scores = evaluate_sr(net if net is not None else "bicubic", data, scale, tile=tile)
    out["bicubic"] = scores.mean["bicubic"]
    if net is not None:
        out["model_info"] = model_info(net)
        out["model_scores"] = scores.mean[scores.methods[-1]]
    out["rows"] = scores.rows
    return out


def _noisy_set(data: Path, sigma: float, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, clean, noisy) exactly as ``evaluate_denoise`` draws them."""
    from atelier.image import load_image
    from atelier.tasks.restoration_eval import add_noise, list_images

    rng = np.random.default_rng(seed)
    out = []
    for path in list_images(data):
        clean = load_image(path, mode="rgb")
        out.append((path.stem, clean, add_noise(clean, float(sigma), rng)))
    return out


def nlm_sweep(data: Path, sigma: float, seed: int) -> dict[str, Any]:
    """Coarse-to-fine sweep of OpenCV NLM's ``h``; the best mean RGB PSNR and its h."""
    from atelier.metrics import psnr, ssim
    from atelier.tasks.restore import nlm_denoise

    images = _noisy_set(data, sigma, seed)
    tried: dict[float, dict[str, float]] = {}

    def score(h: float) -> None:
        h = round(h, 2)
        if h in tried or h <= 0:
            return
        outs = [(clean, nlm_denoise(noisy, sigma, h=h)) for _, clean, noisy in images]
        tried[h] = {"psnr": float(np.mean([psnr(c, o) for c, o in outs])),
                    "ssim": float(np.mean([ssim(c, o) for c, o in outs]))}

    for k in range(3, 13):  # coarse: 0.3 sigma .. 1.2 sigma
        score(k * 0.1 * sigma)
    coarse = max(tried, key=lambda h: tried[h]["psnr"])
    for k in range(-5, 6):  # fine: +- 0.1 sigma around the coarse best, steps of 0.02 sigma
        score(coarse + k * 0.02 * sigma)
    best = max(tried, key=lambda h: tried[h]["psnr"])
    edge = best in (min(tried), max(tried))
    return {"best_h": best, "best": tried[best], "coarse_best_h": coarse, "evaluated": len(tried),
            "best_on_grid_edge": edge,
            "curve": [{"h": h, **tried[h]} for h in sorted(tried)]}


def denoise_part(spec: str | None, data: Path, sigma: float, seed: int, tile: int) -> dict[str, Any]:
    """The denoiser with the true sigma and with sigma="auto", the noisy input, NLM at the
    library's h and at the swept best h."""
    from atelier.tasks.restoration_eval import evaluate_denoise
    from atelier.tasks.restore import best_nlm_h, load_denoiser

    name = spec or "denoise"
    net, status = load(name, load_denoiser)
    out: dict[str, Any] = {"model": name, "status": status, "sigma": sigma, "seed": seed,
                           "margin_target_db": DENOISE_MARGIN}
    out["nlm_sweep"] = nlm_sweep(data, sigma, seed)
    true = evaluate_denoise(net if net is not None else "nlm", data, sigma, seed, tile=tile)
    out["noisy"] = true.mean["noisy"]
    out["nlm_library_h"] = {"h": best_nlm_h(sigma), **true.mean["nlm"]}
    out["rows"] = true.rows
    if net is not None:
        out["model_info"] = model_info(net)
        out["blind"] = net != "nlm" and not net.config.noise_map
        out["model_true_sigma"] = true.mean[true.methods[-1]]
        if not out["blind"]:  # a blind model estimates nothing: its one run is the figure
            auto = evaluate_denoise(net, data, sigma, seed, estimate=True, tile=tile)
            out["model_auto_sigma"] = auto.mean[auto.methods[-1]]
            out["rows_auto"] = auto.rows
    return out
