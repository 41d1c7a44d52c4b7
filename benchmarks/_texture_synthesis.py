"""Texture synthesis: image quilting, Gatys' Gram matching and AdaIN texture from three painting
samples, by Gatys' texture loss and wall time; Gatys' loss against time; tileable seams.

Per sample (:data:`_texture_inputs.SAMPLES`, 128 x 128) and output side ``n``:

- ``quilt``: :func:`atelier.ops.texture.quilt` (defaults: 42 px patches, 10 px overlap,
  tolerance 0.1, seed 0).
- ``gatys``: :func:`atelier.tasks.texture_gatys.synthesize_gatys` (``steps`` L-BFGS steps,
  its defaults: 3 scales, half the steps at the coarse levels, seed 0), with an ``on_step``
  callback recording the loss and the elapsed time after every step (a list append: no cost).
- ``adain`` (when a model is loaded): :func:`atelier.tasks.adain.adain_stylize` with seeded
  uniform noise (``n x n``) as the content and the sample as the style at its own size
  (``style_size=128``, the scale Gatys and quilting see); Huang & Belongie's decoder turns
  the noise's features, given the sample's channel statistics at ``relu4_1``, into texture.

Each method runs once per case, timed with ``time.perf_counter`` around the call (Gatys
builds its VGG19 inside the call: that is its wall time); the order rotates from case to
case (quilt gatys adain, gatys adain quilt, ...) so no method always follows the same one.
Each output is then scored by :func:`atelier.tasks.texture_gatys.texture_loss` against its
sample (lower: closer Gram statistics). The speed figures are ratios of these times within
the same case.

Loss against time: the recorded curve of each Gatys run at the checkpoints 1/6, 1/3, 2/3 and
all of the steps (50, 100, 200, 300). The loss passed to ``on_step`` is that of the level
being optimised: before the last half of the steps it is the loss of a 1/4- or 1/2-size
image against the sample at 1/4 or 1/2 size, not comparable with the full-size loss; the
checkpoint says which level it is on.

Tileable (at ``tile_size``, 256 px): ``quilt(tileable=True)`` and
``synthesize_gatys(tileable=True)`` against the plain ones (the same calls as above). The
seam ratio is the wrap-around error over the interior error::

    seam     = (mean |I[:, -1] - I[:, 0]| + mean |I[-1, :] - I[0, :]|) / 2
    interior = (mean |I[:, 1:] - I[:, :-1]| + mean |I[1:, :] - I[:-1, :]|) / 2

(grey levels, all channels): about 1 when the right edge continues into the left and the
bottom into the top as any two neighbouring columns do. Target for the tileable outputs:
ratio <= 1.5; the plain ones are shown for contrast.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

CURVE_FRACTIONS = (1 / 6, 1 / 3, 2 / 3, 1.0)
SEAM_TARGET = 1.5


def seam_ratio(image: np.ndarray) -> dict[str, float]:
    """The wrap-around seam error over the interior error (see the module docstring)."""
    f = image.astype(np.float64)
    col_seam, row_seam = np.abs(f[:, -1] - f[:, 0]).mean(), np.abs(f[-1] - f[0]).mean()
    col_inner, row_inner = np.abs(np.diff(f, axis=1)).mean(), np.abs(np.diff(f, axis=0)).mean()
    return {"seam": float((col_seam + row_seam) / 2), "interior": float((col_inner + row_inner) / 2),
            "ratio": float((col_seam + row_seam) / max(col_inner + row_inner, 1e-12)),
            "ratio_columns": float(col_seam / max(col_inner, 1e-12)),
            "ratio_rows": float(row_seam / max(row_inner, 1e-12))}


def _levels(steps: int, side: int, sample_side: int) -> list[tuple[int, int]]:
    """(first step, divisor) of each level of synthesize_gatys' defaults (3 scales, half the
    steps coarse), as its code splits them."""
    from atelier.tasks.stylize import MIN_SIDE

    scales = max(1, min(3, 1 + int(math.log2(min(side, sample_side) / MIN_SIDE))))
    coarse = round(steps * 0.5) if scales > 1 else 0
    per_level = [coarse // (scales - 1)] * (scales - 1) + [0] if scales > 1 else [0]
    per_level[-1] = steps - sum(per_level)
    out, first = [], 1
    for k, n in zip(range(scales - 1, -1, -1), per_level):
        out.append((first, 2**k))
        first += n
    return out


def curve_points(curve: list[tuple[float, float]], steps: int, side: int, sample_side: int) -> list[dict[str, Any]]:
    """The recorded (seconds, loss) at the checkpoints, each with the level it was on."""
    levels = _levels(steps, side, sample_side)
    points = []
    for frac in CURVE_FRACTIONS:
        step = max(1, round(steps * frac))
        if step > len(curve):
            continue
        divisor = [d for first, d in levels if first <= step][-1]
        seconds, loss = curve[step - 1]
        points.append({"step": step, "seconds": seconds, "loss": loss,
                       "level": "full size" if divisor == 1 else f"1/{divisor} size"})
    return points


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def texture_part(samples: dict[str, dict[str, Any]], sizes: list[int], steps: int, tile_size: int,
                 adain_net: Any, adain_status: str, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every figure of the texture part (see the module docstring)."""
    from atelier.ops.texture import quilt
    from atelier.tasks.texture_gatys import synthesize_gatys, texture_loss

    out: dict[str, Any] = {"sizes": sizes, "steps": steps, "tile_size": tile_size, "adain_status": adain_status,
                           "samples": {k: {"source": v["source"], "crop": v["crop"]} for k, v in samples.items()},
                           "cases": {}, "tileable": {}}
    adain = None
    if adain_net is not None:
        from atelier.tasks.adain import adain_stylize

        def adain(sample: np.ndarray, n: int) -> np.ndarray:
            noise = np.random.default_rng(0).integers(0, 256, (n, n, 3), dtype=np.uint8)
            return adain_stylize(noise, [sample], style_size=sample.shape[0], model=adain_net)

        adain(next(iter(samples.values()))["image"], min(sizes))  # warm-up, untimed
    plain: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    case = 0
    for name, s in samples.items():
        sample = s["image"]
        for n in sizes:
            curve: list[tuple[float, float]] = []

            def gatys(sample=sample, n=n, curve=curve) -> np.ndarray:
                t0 = time.perf_counter()
                return synthesize_gatys(sample, n, n, steps=steps,
                                        on_step=lambda value: curve.append((time.perf_counter() - t0, value)))

            fns: dict[str, Callable[[], np.ndarray]] = {"quilt": lambda sample=sample, n=n: quilt(sample, n, n),
                                                        "gatys": gatys}
            if adain is not None:
                fns["adain"] = lambda sample=sample, n=n: adain(sample, n)
            order = list(fns)[case % len(fns) :] + list(fns)[: case % len(fns)]
            case += 1
            log(f"  {name} {n}px: {' '.join(order)}")
            images, seconds = {}, {}
            for m in order:
                images[m], seconds[m] = _timed(fns[m])
            plain[(name, n)] = images
            entry = {"order": order, "seconds": seconds,
                     "loss": {m: texture_loss(images[m], sample) for m in fns},
                     "gatys_curve": curve_points(curve, steps, n, sample.shape[0]),
                     "gatys_curve_all": [[round(t, 3), loss] for t, loss in curve],
                     "time_ratio_gatys_over": {m: seconds["gatys"] / seconds[m] for m in fns if m != "gatys"}}
            out["cases"][f"{name}/{n}"] = entry
    for k, (name, s) in enumerate(samples.items()):
        sample, n = s["image"], tile_size
        log(f"  tileable {name} {n}px")
        fns = {"quilt": lambda sample=sample, n=n: quilt(sample, n, n, tileable=True),
               "gatys": lambda sample=sample, n=n: synthesize_gatys(sample, n, n, steps=steps, tileable=True)}
        order = list(fns)[k % 2 :] + list(fns)[: k % 2]
        tiles, seconds = {}, {}
        for m in order:
            tiles[m], seconds[m] = _timed(fns[m])
        before = plain.get((name, n)) or {"quilt": quilt(sample, n, n),
                                           "gatys": synthesize_gatys(sample, n, n, steps=steps)}
        out["tileable"][f"{name}/{n}"] = {
            m: {"plain": seam_ratio(before[m]), "tileable": seam_ratio(tiles[m]), "tileable_seconds": seconds[m],
                "tileable_loss": texture_loss(tiles[m], sample)}
            for m in fns
        }
    return out


def texture_rows(rows: list, r: dict[str, Any], judge: bool) -> None:
    from _texture_report import row, short

    names = {"quilt": "quilt", "gatys": f"Gatys x{r['steps']}", "adain": "AdaIN texture"}
    big = max(r["sizes"])
    if not any("adain" in e["seconds"] for e in r["cases"].values()):
        row(rows, "texture", "AdaIN texture", "", f"skipped: {short(r['adain_status'])}", None)
    for key, e in r["cases"].items():
        name, n = key.split("/")
        part = f"texture {name} {n}px"
        for m in (m for m in names if m in e["seconds"]):
            row(rows, part, f"{names[m]}: texture loss / seconds", "",
                f"{e['loss'][m]:.4g} / {e['seconds'][m]:.2f} s", None, judge)
        for m, ratio in e["time_ratio_gatys_over"].items():
            row(rows, part, f"time Gatys / {names[m]}", "", f"{ratio:.3g}x", None, judge)
        if int(n) == big:
            points = "; ".join(f"{p['step']}: {p['loss']:.3g} @ {p['seconds']:.0f} s"
                               + ("" if p["level"] == "full size" else f" ({p['level']})") for p in e["gatys_curve"])
            row(rows, part, "Gatys loss @ time by step", "", points, None, judge)
    for key, e in r["tileable"].items():
        name, n = key.split("/")
        part = f"tileable {name} {n}px"
        for m, v in e.items():
            label = names[m]
            row(rows, part, f"{label} plain: seam / interior", "", f"{v['plain']['ratio']:.2f}", None, judge)
            row(rows, part, f"{label} tileable: seam / interior", f"<= {SEAM_TARGET}",
                f"{v['tileable']['ratio']:.2f} ({v['tileable']['seam']:.1f} / {v['tileable']['interior']:.1f})",
                v["tileable"]["ratio"] <= SEAM_TARGET, judge)
