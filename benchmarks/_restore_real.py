"""Real part of the restoration benchmark: models trained on Real-ESRGAN-style degradations
(``degradation=real``) judged on realistic inputs made from held-out photos.

The inputs follow one fixed recipe per case, written down here and in the JSON (``RECIPES``);
it is deliberately *not* the random training pipeline (``atelier.data.degradations``): no
blur kernel, no random resize, no Poisson noise, Pillow's JPEG encoder instead of OpenCV's,
so a model is judged on a degradation it was not fitted to exactly.

- **sr** ("phone JPEG, x4"): HR cropped to a multiple of 4 -> downscaled x4 by Pillow's
  antialiased bicubic (``resize(..., method="bicubic", antialias=True)``, as ``evaluate_sr``)
  -> Gaussian noise of sigma 8 (``restoration_eval.add_noise``: float64, clipped, rounded to
  uint8) -> JPEG quality 60 (Pillow, 4:2:0) -> decoded. Methods: Pillow bicubic, the PSNR
  model (``sr-x4``), the real model (``sr-x4-real``) and Real-ESRGAN x4plus (ncnn CPU,
  ``_restore_esrgan``). Scores against HR: PSNR-Y and SSIM-Y with 4 px of border cropped
  (``atelier.metrics``, as ``evaluate_sr``) and the VGG distance (LPIPS formula, uniform
  weights: ``_inpaint_quality.VGGDistance``, as ``_transfer_sr``) on RGB with the same border
  cropped.
- **denoise** ("noisy JPEG"): clean image -> Gaussian noise of sigma 15 (``add_noise``) ->
  JPEG quality 50 (Pillow, 4:2:0) -> decoded. Methods: the input itself, OpenCV NL-means at
  ``sigma="auto"`` (``denoise(..., model="nlm")``: h from the estimated sigma), the Gaussian
  denoiser (``denoise``, ``sigma="auto"``) and the real denoiser (``denoise-real``; blind,
  ``sigma="auto"``). Scores against the clean image: RGB PSNR and SSIM, and the VGG distance.

Noise comes from ``numpy.random.default_rng(seed)``, restarted for each set and case, one
draw per image in file-name order (as ``evaluate_denoise``); every method sees the same
inputs. The sets are ``_restore_sets``'s: CSet5 and the 8 held-out photos80 crops (256 px).

Seconds per image: wall time of each method's one call per image (its scored run), after one
untimed warm-up call on a 16 px piece; the benchmark's tile for atelier's models, the
``--realesrgan-tile`` for Real-ESRGAN, the run's torch threads. The VGG distance is not
timed.

Targets per set: sr: real model PSNR-Y > ``sr-x4``'s and VGG distance < ``sr-x4``'s, and
(stretch) VGG distance <= Real-ESRGAN's; denoise: real denoiser PSNR > the Gaussian
denoiser's (auto) and > NL-means'. A model this install lacks ("not installed") or that does
not load is reported so and its targets are misses; the part goes on.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

SCALE = 4
RECIPES: dict[str, dict[str, Any]] = {
    "sr": {"name": "phone JPEG, x4", "scale": SCALE, "downscale": "Pillow antialiased bicubic",
           "noise_sigma": 8.0, "jpeg_quality": 60, "jpeg_subsampling": "4:2:0", "jpeg_encoder": "Pillow",
           "border_crop": SCALE, "psnr_ssim": "BT.601 Y"},
    "denoise": {"name": "noisy JPEG", "noise_sigma": 15.0, "jpeg_quality": 50, "jpeg_subsampling": "4:2:0",
                "jpeg_encoder": "Pillow", "psnr_ssim": "RGB"},
}
CASES = tuple(RECIPES)
SHIPPED = {"sr": "sr-x4-real", "denoise": "denoise-real"}  # the default names of the real models


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (H x W x 3 uint8) through Pillow's JPEG encoder (4:2:0) and back."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality), subsampling=2)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


def sr_input(hr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(HR cropped to a multiple of 4, its clean bicubic LR, its "phone JPEG" LR) by the
    recipe of ``RECIPES["sr"]``."""
    from atelier.ops.geometry import resize
    from atelier.tasks.restoration_eval import add_noise

    r = RECIPES["sr"]
    h, w = hr.shape[0] // SCALE * SCALE, hr.shape[1] // SCALE * SCALE
    hr = np.ascontiguousarray(hr[:h, :w])
    lr = resize(hr, width=w // SCALE, height=h // SCALE, method="bicubic", antialias=True)
    return hr, lr, jpeg(add_noise(lr, r["noise_sigma"], rng), r["jpeg_quality"])


def denoise_input(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The "noisy JPEG" of ``clean`` by the recipe of ``RECIPES["denoise"]``."""
    from atelier.tasks.restoration_eval import add_noise

    r = RECIPES["denoise"]
    return jpeg(add_noise(clean, r["noise_sigma"], rng), r["jpeg_quality"])


def read_set(folder: Path) -> list[tuple[str, np.ndarray]]:
    from atelier.image import load_image
    from atelier.tasks.restoration_eval import list_images

    return [(p.stem, load_image(p, mode="rgb")) for p in list_images(folder)]


def _esrgan(enabled: bool, allow_install: bool) -> tuple[Any, dict[str, Any]]:
    """(Real-ESRGAN net or None, its status entry); never raises."""
    import torch

    from _restore_esrgan import RealESRGAN, ensure_installed, versions

    if not enabled:
        return None, {"status": "skipped (--no-realesrgan)"}
    t0 = time.perf_counter()
    ok, how = ensure_installed(allow_install)
    info: dict[str, Any] = {"install": how, "install_seconds": time.perf_counter() - t0, "versions": versions()}
    if not ok:
        return None, {**info, "status": f"SKIP: {how}"}
    try:
        net = RealESRGAN(threads=torch.get_num_threads())
    except Exception as exc:  # a peer that fails is reported, not fatal to the benchmark
        return None, {**info, "status": f"error: {type(exc).__name__}: {exc}"}
    return net, {**info, "status": "ok", "model": net.info}


def _run_methods(methods: dict[str, Callable[[np.ndarray], np.ndarray]], images: list[tuple[str, np.ndarray, np.ndarray]],
                 score: Callable[[np.ndarray, np.ndarray], dict[str, float]], distance: Any, crop: int,
                 say: Callable[[str], None], extra: dict[str, Callable[[np.ndarray], dict[str, Any]]] | None = None
                 ) -> dict[str, Any]:
    """Every method on ``(name, reference, input)`` triples: per-image and mean scores and seconds."""
    out: dict[str, Any] = {}
    for m, fn in methods.items():
        status = "ok"
        try:
            fn(np.ascontiguousarray(images[0][2][:16, :16]))  # warm-up, untimed
        except Exception as exc:  # a method that fails is reported, not fatal to the benchmark
            status = f"error: {type(exc).__name__}: {exc}"
        if status != "ok":
            out[m] = {"status": status}
            continue
        rows = []
        for name, ref, x in images:
            t0 = time.perf_counter()
            y = fn(x)
            seconds = time.perf_counter() - t0
            c = (slice(crop, -crop), slice(crop, -crop)) if crop else (slice(None), slice(None))
            row = {"image": name, **score(ref, y), "vgg": distance(y[c], ref[c]), "seconds": seconds}
            if extra and m in extra:
                row.update(extra[m](x))
            rows.append(row)
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "vgg", "seconds")}
        out[m] = {"status": "ok", "mean": mean, "rows": rows}
        say(f"  {m}: {mean['psnr']:.2f} dB, VGG {mean['vgg']:.4f}, {mean['seconds']:.3g} s/image")
    return out


def sr_case(images: list[tuple[str, np.ndarray]], nets: dict[str, Any], seed: int, tile: int, esrgan_tile: int,
            distance: Any, say: Callable[[str], None]) -> dict[str, Any]:
    """Bicubic, each loaded SR net of ``nets`` (label -> net or None) on the "phone JPEG" x4 inputs."""
    from atelier.metrics import psnr, ssim
    from atelier.tasks.restore import upscale

    rng = np.random.default_rng(seed)
    made = [(name, *sr_input(img, rng)) for name, img in images]
    triples = [(name, hr, lr) for name, hr, _, lr in made]
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {"bicubic": lambda x: upscale(x, SCALE, "bicubic")}
    for label, net in nets.items():
        if net is not None:
            t = esrgan_tile if label == "realesrgan" else tile
            methods[label] = lambda x, net=net, t=t: upscale(x, SCALE, net, tile=t)

    def score(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
        return {"psnr": psnr(ref, out, channel="y", crop=SCALE), "ssim": ssim(ref, out, channel="y", crop=SCALE)}

    return {"seed": seed, "images": [n for n, *_ in triples],
            "lr_sizes": [list(lr.shape[:2]) for _, _, lr in triples],
            "input_psnr_vs_clean_lr": [{"image": n, "psnr": psnr(clean, lr)} for n, _, clean, lr in made],
            "methods": _run_methods(methods, triples, score, distance, SCALE, say)}


def denoise_case(images: list[tuple[str, np.ndarray]], nets: dict[str, Any], seed: int, tile: int,
                 distance: Any, say: Callable[[str], None]) -> dict[str, Any]:
    """The input, NL-means (auto) and each loaded denoiser of ``nets`` (sigma auto) on the
    "noisy JPEG" inputs."""
    from atelier.metrics import psnr, ssim
    from atelier.tasks.restore import denoise, estimate_noise_sigma

    rng = np.random.default_rng(seed)
    triples = [(name, img, denoise_input(img, rng)) for name, img in images]
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "input": lambda x: x, "nlm": lambda x: denoise(x, "auto", "nlm")}
    for label, net in nets.items():
        if net is not None:
            methods[label] = lambda x, net=net: denoise(x, "auto", net, tile=tile)

    def score(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
        return {"psnr": psnr(ref, out), "ssim": ssim(ref, out)}

    extra = {"input": lambda x: {"estimated_sigma": estimate_noise_sigma(x)}}
    return {"seed": seed, "images": [n for n, *_ in triples],
            "methods": _run_methods(methods, triples, score, distance, 0, say, extra)}


def real_part(sets: list[tuple[str, Path, dict[str, Any]]], cases: list[str], models: dict[str, str], seed: int,
              tile: int, *, esrgan: bool, allow_install: bool, esrgan_tile: int,
              say: Callable[[str], None] = print) -> dict[str, Any]:
    """Both cases on every set. ``models``: ``sr`` (the PSNR x4 model), ``sr_real``,
    ``denoise`` (the Gaussian denoiser) and ``denoise_real``, each a spec."""
    from _inpaint_quality import VGG_TAPS, VGGDistance
    from _restore_quality import load, model_info

    from atelier.tasks.restore import load_denoiser, load_sr_model

    out: dict[str, Any] = {"recipes": {c: RECIPES[c] for c in cases}, "cases": cases, "seed": seed, "tile": tile,
                           "models": dict(models), "loaded": {}, "vgg_taps": list(VGG_TAPS), "sets": {}}
    nets: dict[str, dict[str, Any]] = {"sr": {}, "denoise": {}}
    if "sr" in cases:
        for key in ("sr", "sr_real"):
            net, status = load(models[key], load_sr_model, scale=SCALE)
            nets["sr"][key] = net
            out["loaded"][key] = {"spec": models[key], "status": status, **(model_info(net) if net is not None else {})}
        net, info = _esrgan(esrgan, allow_install)
        nets["sr"]["realesrgan"] = net
        out["loaded"]["realesrgan"] = {**info, "esrgan_tile": esrgan_tile}
    if "denoise" in cases:
        for key in ("denoise", "denoise_real"):
            net, status = load(models[key], load_denoiser)
            nets["denoise"][key] = net
            entry = {"spec": models[key], "status": status, **(model_info(net) if net is not None else {})}
            if net is not None and not isinstance(net, str):
                entry["blind"] = bool(getattr(net, "blind", False))
            out["loaded"][key] = entry
    distance = VGGDistance()
    for name, folder, info in sets:
        images = read_set(folder)
        out["sets"][name] = entry = {**info}
        for case in cases:
            say(f"real: {case} ({RECIPES[case]['name']}) on {name} ({len(images)} images)...")
            t0 = time.perf_counter()
            if case == "sr":
                entry["sr"] = sr_case(images, nets["sr"], seed, tile, esrgan_tile, distance, say)
            else:
                entry["denoise"] = denoise_case(images, nets["denoise"], seed, tile, distance, say)
            entry[case]["seconds"] = time.perf_counter() - t0
    return out
