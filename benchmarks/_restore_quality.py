"""Super-resolution quality on CSet5, and the model loading the quality parts share.

``sr_scale`` goes through atelier's own protocol (``atelier.tasks.restoration_eval.evaluate_sr``:
HR cropped to a multiple of the scale, LR by Pillow's antialiased bicubic, Y-channel PSNR/SSIM
with ``scale`` px of border cropped, uint8 outputs). The denoise part is ``_restore_denoise``.

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


def quick_folder(src: Path, side: int) -> tempfile.TemporaryDirectory:
    """A temporary folder of the central ``side`` x ``side`` crops of ``src``'s images (quick sr)."""
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


def sr_scale(spec: str | None, scale: int, data: Path, tile: int, *, x8: bool = False) -> dict[str, Any]:
    """Bicubic and the model at one scale on ``data``: mean and per-image PSNR/SSIM; with
    ``x8`` also the model under x8 self-ensemble (``model_x8_scores``, ``rows_x8``)."""
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
        if x8:
            ens = evaluate_sr(net, data, scale, tile=tile, self_ensemble=True)
            out["model_x8_scores"], out["rows_x8"] = ens.mean[ens.methods[-1]], ens.rows
    out["rows"] = scores.rows
    return out
