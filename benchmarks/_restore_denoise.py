"""Denoise part of the restoration benchmark: atelier's denoiser against the noisy input,
OpenCV NL-means and CBM3D, at several noise levels, on the sets of ``_restore_sets``.

For each set and sigma (:func:`denoise_case`) every method sees the same noisy images: those
``evaluate_denoise`` draws (noise from ``default_rng(seed)``, images in file-name order, one
draw each, clipped and quantised to uint8; the generator restarts for each set and sigma).
Every output is a uint8 image scored by RGB PSNR/SSIM against the clean one:

- the noisy input and NLM at atelier's ``best_nlm_h(sigma)``, from ``evaluate_denoise``;
- NLM at the best ``h`` of a coarse-to-fine sweep (:func:`nlm_sweep`): OpenCV's
  ``fastNlMeansDenoisingColored`` (template 7, search 21) over ``h`` = 0.3 sigma to
  1.2 sigma in steps of 0.1 sigma, then steps of 0.02 sigma within 0.1 sigma of the coarse
  best, about 20 values; the best mean PSNR is the peer's figure. It runs at every sigma (on
  full-size CSet5 about 1 s per ``h`` on one core, so about 25 s per set and sigma, well under
  CBM3D's cost); ``--no-nlm-sweep`` leaves it out, and the margin row is then measured
  against NLM at atelier's ``h``, without a target;
- the model given the true sigma (a blind model: its one run), and given ``sigma="auto"``,
  from ``evaluate_denoise``;
- CBM3D given the true sigma (``_restore_bm3d``), when the package is there.

Wall time per image is recorded for CBM3D (its scoring run) and for the model (one more call
per image with the true sigma, after ``evaluate_denoise`` ran it, so warm; the benchmark's
tile, CPU, the torch threads of the run).

Targets per set and sigma: model >= best NLM + 1.0 dB, and model > CBM3D (both with the
true sigma).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

DENOISE_MARGIN = 1.0  # dB over the best NLM


def noisy_set(data: Path, sigma: float, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, clean, noisy) exactly as ``evaluate_denoise`` draws them."""
    from atelier.image import load_image
    from atelier.tasks.restoration_eval import add_noise, list_images

    rng = np.random.default_rng(seed)
    out = []
    for path in list_images(data):
        clean = load_image(path, mode="rgb")
        out.append((path.stem, clean, add_noise(clean, float(sigma), rng)))
    return out


def nlm_sweep(images: list[tuple[str, np.ndarray, np.ndarray]], sigma: float) -> dict[str, Any]:
    """Coarse-to-fine sweep of OpenCV NLM's ``h`` on ``(name, clean, noisy)`` triples; the
    best mean RGB PSNR and its h."""
    from atelier.metrics import psnr, ssim
    from atelier.tasks.restore import nlm_denoise

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


def is_blind(net: Any) -> bool:
    """True for a network that takes no noise level (it is then run with ``sigma="auto"``)."""
    return not isinstance(net, str) and bool(getattr(net, "blind", False))


def model_seconds(net: Any, images: list[tuple[str, np.ndarray, np.ndarray]], sigma: float,
                  tile: int) -> dict[str, Any]:
    """Wall seconds of one ``denoise`` call per image with the true sigma ("auto" if blind)."""
    from atelier.tasks.restore import denoise

    level = "auto" if is_blind(net) else float(sigma)
    rows = []
    for name, _, noisy in images:
        t0 = time.perf_counter()
        denoise(noisy, level, net, tile=tile)
        rows.append({"image": name, "seconds": time.perf_counter() - t0})
    return {"seconds_per_image": float(np.mean([r["seconds"] for r in rows])),
            "seconds_total": float(sum(r["seconds"] for r in rows)), "rows": rows}


def _check_same_noise(images: list[tuple[str, np.ndarray, np.ndarray]], rows: list[dict[str, Any]]) -> None:
    """RuntimeError unless ``images`` are the noisy images ``evaluate_denoise`` scored (same
    names, same noisy PSNR to the last bit): the sweep and CBM3D see what the model saw."""
    from atelier.metrics import psnr

    ours = [(name, psnr(clean, noisy)) for name, clean, noisy in images]
    theirs = [(r["image"], r["noisy"]["psnr"]) for r in rows]
    if ours != theirs:
        raise RuntimeError("the benchmark's noisy images differ from evaluate_denoise's")


def denoise_case(net: Any, data: Path, sigma: float, seed: int, tile: int, *, sweep: bool,
                 cbm3d: str, x8: bool = False) -> dict[str, Any]:
    """Every method on one set at one sigma. ``net``: a loaded model, ``"nlm"`` as a stand-in,
    or None (not loaded: the baselines alone); ``cbm3d``: "ok" to run it, else why not;
    ``x8``: also the model under x8 self-ensemble at the true sigma (``model_x8``)."""
    from atelier.tasks.restoration_eval import evaluate_denoise
    from atelier.tasks.restore import best_nlm_h

    images = noisy_set(data, sigma, seed)
    out: dict[str, Any] = {"sigma": sigma, "seed": seed, "images": len(images)}
    if sweep:
        out["nlm_sweep"] = nlm_sweep(images, sigma)
    true = evaluate_denoise(net if net is not None else "nlm", data, sigma, seed, tile=tile)
    _check_same_noise(images, true.rows)
    out["noisy"] = true.mean["noisy"]
    out["nlm_library_h"] = {"h": best_nlm_h(sigma), **true.mean["nlm"]}
    out["rows"] = true.rows
    if net is not None:
        out["model_true_sigma"] = true.mean[true.methods[-1]]
        out["model_time"] = model_seconds(net, images, sigma, tile)
        if not is_blind(net):  # a blind model estimates anyway: its one run is the figure
            auto = evaluate_denoise(net, data, sigma, seed, estimate=True, tile=tile)
            out["model_auto_sigma"] = auto.mean[auto.methods[-1]]
            out["rows_auto"] = auto.rows
        if x8 and net != "nlm":
            ens = evaluate_denoise(net, data, sigma, seed, tile=tile, self_ensemble=True)
            out["model_x8"], out["rows_x8"] = ens.mean[ens.methods[-1]], ens.rows
    if cbm3d == "ok":
        from _restore_bm3d import cbm3d_scores

        out["cbm3d"] = cbm3d_scores(images, sigma)
    else:
        out["cbm3d"] = {"status": cbm3d}
    return out


def denoise_part(spec: str, sets: list[tuple[str, Path, dict[str, Any]]], sigmas: list[float],
                 seed: int, tile: int, *, sweep: bool = True, cbm3d: bool = True, x8: bool = False,
                 allow_install: bool = True, say: Callable[[str], None] = print) -> dict[str, Any]:
    """The model ``spec`` and its peers on every set at every sigma; ``say`` gets progress lines."""
    from _restore_bm3d import ensure_installed, versions
    from _restore_quality import load, model_info

    from atelier.tasks.restore import load_denoiser

    net, status = load(spec, load_denoiser)
    if cbm3d:
        available, how = ensure_installed(allow_install)
    else:
        available, how = False, "left out (--no-cbm3d)"
    out: dict[str, Any] = {"model": spec, "status": status, "seed": seed, "sigmas": sigmas,
                           "margin_target_db": DENOISE_MARGIN, "nlm_sweep": sweep,
                           "cbm3d": {"status": "ok" if available else how,
                                     "how": how, "versions": versions(),
                                     "call": "bm3d.bm3d_rgb(noisy / 255, sigma_psd=sigma / 255)"},
                           "sets": {}}
    if net is not None:
        out["model_info"] = model_info(net)
        out["blind"] = is_blind(net)
    for name, folder, info in sets:
        out["sets"][name] = entry = {**info, "sigmas": {}}
        for sigma in sigmas:
            say(f"denoise: {name} ({len(info['images'])} images) at sigma {sigma:g}: "
                f"{'NLM sweep, ' if sweep else ''}{spec}{', CBM3D (slow)' if available else ''}...")
            t0 = time.perf_counter()
            case = denoise_case(net, folder, sigma, seed, tile, sweep=sweep, cbm3d=out["cbm3d"]["status"], x8=x8)
            case["seconds"] = time.perf_counter() - t0
            entry["sigmas"][f"{sigma:g}"] = case
    return out
