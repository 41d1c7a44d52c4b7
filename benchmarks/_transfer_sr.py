"""Perceptual super-resolution (issue 15): ``sr-x4-perceptual`` against the PSNR model ``sr-x4``.

Both shipped x4 models on CSet5 (``../shared/data/bench/CSet5``) under the restoration
benchmark's own protocol (:func:`_restore_quality.sr_scale`, i.e.
``atelier.tasks.restoration_eval.evaluate_sr``: HR cropped to a multiple of 4, LR by Pillow's
antialiased bicubic, uint8 outputs, PSNR and SSIM on the BT.601 Y channel with 4 px of border
cropped), plus a perceptual distance on the same outputs: LPIPS's formula with uniform layer
weights on atelier's VGG19 (``relu1_2``, ``relu2_2``, ``relu3_4``, ``relu4_4``, ``relu5_4``;
channel-normalised features, squared difference, spatial mean, summed over layers: the
inpainting benchmark's :class:`_inpaint_quality.VGGDistance`), on RGB with the same 4 px
border cropped. Lower is closer. The outputs measured by the distance are checked to give
exactly the PSNR ``evaluate_sr`` reports (same LR, same network, same quantisation).

Target (judged on full runs only): the perceptual model is closer than ``sr-x4`` by the VGG
distance (mean over CSet5). PSNR and SSIM are reported, not judged: ESRGAN trades them for
texture, so they are expected lower.

Crop sheet: per CSet5 image, its most detailed 64 x 64 HR window (the largest mean gradient
magnitude on a 16 px grid), shown at 2x (nearest) as bicubic | sr-x4 | sr-x4-perceptual |
HR, written to ``work/sr_x4_perceptual_crops.png``.

Quick mode: a 2-step perceptual fine-tune of ``sr-x4`` on photos80 (16 px LR patches,
batch 2) through ``atelier.tasks.training`` checks the training path, and both measures run
on 96 px centre crops of CSet5 (the shipped models; nothing judged).

Run alone: ``.venv/bin/python benchmarks/_transfer_sr.py [--quick] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PART = "transfer-sr"
SCALE = 4
DATA = HERE.parent.parent / "shared" / "data"
CSET5 = DATA / "bench" / "CSet5"
PHOTOS = DATA / "photos80"
MODELS = ("sr-x4", "sr-x4-perceptual")
CROP, ZOOM = 64, 2
TRAIN_COMMAND = ("OMP_NUM_THREADS=1 atelier train sr --data ../shared/data/photos80 --scale 4 --set loss=perceptual "
                 "--init-from sr-x4 --set patch=24 --set batch_size=8 --set steps=500 --set validate_every=50 "
                 "--out runs/sr-x4-perceptual && atelier interpolate sr-x4 runs/sr-x4-perceptual --alpha 0.8 "
                 "--out runs/sr-x4-perceptual-interp")


def _lr(hr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(HR cropped to a multiple of the scale, its LR) exactly as ``evaluate_sr`` makes them."""
    from atelier.ops.geometry import resize

    h, w = hr.shape[0] // SCALE * SCALE, hr.shape[1] // SCALE * SCALE
    hr = np.ascontiguousarray(hr[:h, :w])
    return hr, resize(hr, width=w // SCALE, height=h // SCALE, method="bicubic", antialias=True)


def outputs(data: Path) -> dict[str, dict[str, np.ndarray]]:
    """Per image: HR, bicubic and each model's uint8 output."""
    from atelier.image import load_image
    from atelier.tasks.restoration_eval import list_images
    from atelier.tasks.restore import upscale

    out: dict[str, dict[str, np.ndarray]] = {}
    for path in list_images(data):
        hr, lr = _lr(load_image(path, mode="rgb"))
        out[path.stem] = {"hr": hr, "bicubic": upscale(lr, SCALE, "bicubic"),
                          **{m: upscale(lr, SCALE, m) for m in MODELS}}
    return out


def vgg_distances(images: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Per method and image: the VGG distance to HR, ``SCALE`` px of border cropped."""
    from _inpaint_quality import VGGDistance

    distance, c = VGGDistance(), SCALE
    return {m: {name: distance(o[m][c:-c, c:-c], o["hr"][c:-c, c:-c]) for name, o in images.items()}
            for m in ("bicubic", *MODELS)}


def detailed_window(hr: np.ndarray, side: int = CROP, step: int = 16) -> tuple[int, int]:
    """Top-left of the ``side`` px window with the largest mean gradient magnitude (grey)."""
    grey = hr.astype(np.float64).mean(axis=2)
    gy, gx = np.gradient(grey)
    energy = np.hypot(gx, gy)
    best, where = -1.0, (0, 0)
    for top in range(0, hr.shape[0] - side + 1, step):
        for left in range(0, hr.shape[1] - side + 1, step):
            value = float(energy[top : top + side, left : left + side].mean())
            if value > best:
                best, where = value, (top, left)
    return where


def crop_sheet(images: dict[str, dict[str, np.ndarray]], path: Path) -> dict[str, Any]:
    """Write the bicubic | sr-x4 | sr-x4-perceptual | HR sheet; return the windows used."""
    import cv2

    from atelier.image import save_image

    columns = ("bicubic", *MODELS, "hr")
    titles = ("bicubic", "sr-x4 (PSNR)", "sr-x4-perceptual", "HR")
    tile, gap = CROP * ZOOM, 4
    width = len(columns) * tile + (len(columns) - 1) * gap
    header = np.full((22, width, 3), 255, np.uint8)
    for k, title in enumerate(titles):
        cv2.putText(header, title, (k * (tile + gap) + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    rows, windows = [header], {}
    for name, o in images.items():
        top, left = detailed_window(o["hr"])
        windows[name] = {"top": top, "left": left, "side": CROP}
        row = np.full((tile, width, 3), 255, np.uint8)
        for k, column in enumerate(columns):
            piece = o[column][top : top + CROP, left : left + CROP]
            row[:, k * (tile + gap) : k * (tile + gap) + tile] = np.repeat(np.repeat(piece, ZOOM, 0), ZOOM, 1)
        rows += [row, np.full((gap, width, 3), 255, np.uint8)]
    save_image(path, np.concatenate(rows[:-1]), overwrite=True)
    return {"path": str(path), "windows": windows, "columns": list(titles), "zoom": ZOOM}


def _quick_training(work: Path, seed: int) -> dict[str, Any]:
    """Two perceptual steps from sr-x4 on photos80 (tiny patches): the training path runs."""
    from atelier.tasks.training import fine_tune_spec, resolve_run, train_run

    sets = ["loss=perceptual", "patch=16", "batch_size=2", "steps=2", "validate_every=2", "log_every=1",
            "data.val_crop=64", "data.per_image=1", f"seed={seed}"]
    spec = fine_tune_spec(resolve_run("sr", data=str(PHOTOS), overrides=sets, flags={"model.scale": SCALE}),
                          init_from="sr-x4", overrides=sets, flags={"model.scale": SCALE})
    log: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    train_run(spec, work / "quick-perceptual", on_log=log.append)
    return {"seconds": time.perf_counter() - t0, "log": log,
            "command": "atelier train sr --data ../shared/data/photos80 --scale 4 --init-from sr-x4 "
                       + " ".join(f"--set {s}" for s in sets) + f" --out {work / 'quick-perceptual'}"}


def run(quick: bool, work: Path, seed: int = 0) -> tuple[list, dict[str, Any]]:
    """The perceptual-SR rows ``(part, measure, target, measured, result)`` and every figure."""
    from _restore_quality import quick_folder, sr_scale

    from atelier.pretrained import is_installed, pretrained_recipe

    rows: list = []
    if not CSET5.is_dir():
        rows.append((PART, "all", "", f"SKIP: {CSET5} is absent (../shared/data/README.md)", "-"))
        return rows, {"skipped": str(CSET5)}
    missing = [m for m in MODELS if not is_installed(m)]
    if missing:
        rows.append((PART, "all", "", f"SKIP: {', '.join(missing)} not installed", "-"))
        return rows, {"skipped": missing}
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"quick": quick, "seed": seed, "scale": SCALE, "models": list(MODELS),
                              "train_command": TRAIN_COMMAND, "recipe": pretrained_recipe("sr-x4-perceptual")}
    tmp = None
    data = CSET5
    if quick:
        if PHOTOS.is_dir():
            result["quick_training"] = _quick_training(work, seed)
        tmp = quick_folder(CSET5, 96)
        data = Path(tmp.name)
    try:
        protocol = {m: sr_scale(m, SCALE, data, tile=512) for m in MODELS}
        images = outputs(data)
        distances = vgg_distances(images)
        sheet = crop_sheet(images, work / "sr_x4_perceptual_crops.png")
    finally:
        if tmp is not None:
            tmp.cleanup()
    from atelier.metrics import psnr

    for m in MODELS:  # the distance saw the outputs the protocol scored
        for row in protocol[m]["rows"]:
            theirs = next(v["psnr"] for k, v in row.items() if k not in ("image", "bicubic"))
            mine = psnr(images[row["image"]][m], images[row["image"]]["hr"], channel="y", crop=SCALE)
            if abs(mine - theirs) > 1e-9:
                raise RuntimeError(f"{m} on {row['image']}: {mine} dB here, {theirs} in evaluate_sr")
    means = {m: {"psnr": protocol[m]["model_scores"]["psnr"], "ssim": protocol[m]["model_scores"]["ssim"],
                 "vgg": float(np.mean(list(distances[m].values())))} for m in MODELS}
    means["bicubic"] = {**protocol["sr-x4"]["bicubic"], "vgg": float(np.mean(list(distances["bicubic"].values())))}
    result.update(data=str(CSET5) + (" (96 px centre crops)" if quick else ""), protocol=protocol,
                  vgg_distance=distances, means=means, crop_sheet=sheet, seconds=time.perf_counter() - t0)
    plain, gan, bic = means["sr-x4"], means["sr-x4-perceptual"], means["bicubic"]
    where = "CSet5 x4" + (" crops" if quick else "")
    rows.append((PART, f"{where} PSNR-Y: bicubic / sr-x4 / perceptual", "- (perceptual expected lower)",
                 f"{bic['psnr']:.2f} / {plain['psnr']:.2f} / {gan['psnr']:.2f} dB", "-"))
    rows.append((PART, f"{where} SSIM-Y: bicubic / sr-x4 / perceptual", "- (perceptual expected lower)",
                 f"{bic['ssim']:.4f} / {plain['ssim']:.4f} / {gan['ssim']:.4f}", "-"))
    wins = gan["vgg"] < plain["vgg"]
    rows.append((PART, f"{where} VGG distance (LPIPS formula): bicubic / sr-x4 / perceptual",
                 "perceptual < sr-x4", f"{bic['vgg']:.4f} / {plain['vgg']:.4f} / {gan['vgg']:.4f}",
                 "-" if quick else ("PASS" if wins else "MISS")))
    per_image = sum(distances["sr-x4-perceptual"][k] < distances["sr-x4"][k] for k in distances["sr-x4"])
    rows.append((PART, f"{where} images where perceptual is closer (VGG)", "-",
                 f"{per_image} of {len(distances['sr-x4'])}", "-"))
    return rows, result


def main() -> None:
    from _report import print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", type=Path, default=HERE / "results" / "transfer_sr")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows, result = run(args.quick, args.work, args.seed)
    print_table(rows)
    path = args.work / ("transfer_sr_quick.json" if args.quick else "transfer_sr.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rows": rows, **result}, indent=1, default=str))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
