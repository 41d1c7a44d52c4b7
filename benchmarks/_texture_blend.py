"""Deep image blending against the Poisson clone (and a naive paste) on photo-into-painting
composites, by the region's style distance to the painting and the seam's gradient error.

Composites (:data:`COMPOSITES`): the centre square of a photos80 photo resized to ``S x S``
(``S`` 96-160 px), an elliptical mask inscribed in it (semi-axes 0.45 S and 0.38 S), pasted
into a painting of ``../shared/data/styles`` resized so that its longer side is 384-512 px,
the centre of the mask's box at ``at = (x, y)`` (the convention of
:func:`atelier.ops.composite.seamless_clone`'s ``center`` and
:func:`atelier.tasks.deep_blend.deep_blend`'s ``at``; the mask's outermost pixel is ignored
by both, and by the naive paste here, which copies the same region's pixels as they are).

Methods: ``naive`` (the region copied), ``poisson``
(:func:`~atelier.ops.composite.seamless_clone`, OpenCV's normal clone) and ``deep``
(:func:`~atelier.tasks.deep_blend.deep_blend`, two L-BFGS passes of ``steps`` each, started
from the Poisson clone). Poisson and deep are timed by ``_timing.measure`` (interleaved runs;
deep: a warm-up call and one timed call at full size). Measures, on the same pixels for every
method (:mod:`atelier.tasks.blend_measures`): ``style_distance`` (VGG19 Gram distance of the
region's box to the whole painting; lower is closer in style) and
``boundary_gradient_error`` (grey levels of gradient mismatch on the 2 px ring outside the
region; lower is a less visible seam). Target: deep's style distance below Poisson's on every
composite; the seam error is reported (deep trades some of it for the style).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# (photo, object side S, painting, painting's longer side, at = (x, y) in the resized painting)
COMPOSITES = (
    ("barn_sun_btulbiaoilnxcseh.jpg", 128, "starry_night.jpg", 512, (300, 120)),
    ("lighthouse_sun_akeqnxvbhbktajfl.jpg", 160, "the_scream.jpg", 512, (200, 130)),
    ("pagoda_sun_bnplkvpfjuzxhnjx.jpg", 112, "monet-charing_cross_bridge.jpg", 448, (300, 200)),
    ("aqueduct_sun_ancegghzusmmvzjn.jpg", 96, "starry_night.jpg", 384, (200, 80)),
)
AXES = (0.45, 0.38)
SHEET_CELL = 256


def make_composite(photos: Path, styles: Path, spec: tuple, scale: float = 1.0) -> dict[str, Any]:
    """Foreground, mask, background and ``at`` of one composite; ``scale`` shrinks it all (quick)."""
    import cv2

    from _style_feedforward import square_photo
    from _texture_inputs import fit_long_side, load_painting
    from atelier.image import load_image

    photo, side, painting, long_side, at = spec
    side, long_side = max(24, round(side * scale)), max(64, round(long_side * scale))
    fg = square_photo(load_image(photos / photo, mode="rgb"), side)
    mask = np.zeros((side, side), np.uint8)
    c = side // 2
    cv2.ellipse(mask, (c, c), (round(AXES[0] * side), round(AXES[1] * side)), 0, 0, 360, 255, -1)
    bg = fit_long_side(load_painting(styles, painting), long_side)
    return {"photo": photo, "painting": painting, "side": side, "background": list(bg.shape[:2]),
            "at": (round(at[0] * scale), round(at[1] * scale)), "fg": fg, "mask": mask, "bg": bg}


def naive_paste(fg: np.ndarray, mask: np.ndarray, bg: np.ndarray, at: tuple[int, int]) -> np.ndarray:
    """The region of ``fg`` (``mask`` without its outermost pixel, as the others) copied into ``bg``."""
    from atelier.tasks.deep_blend import place_mask

    p = place_mask(mask, fg.shape, bg.shape, at)
    out = bg.copy()
    region = p.region[p.sy : p.sy + p.h, p.sx : p.sx + p.w]
    window = out[p.y0 : p.y0 + p.h, p.x0 : p.x0 + p.w]
    window[region] = fg[p.sy : p.sy + p.h, p.sx : p.sx + p.w][region]
    return out


def _window(image: np.ndarray, at: tuple[int, int], side: int) -> np.ndarray:
    """The square of ``side`` around ``at`` (moved inside the image), resized to the sheet cell."""
    from _texture_inputs import resize

    h, w = image.shape[:2]
    side = min(side, h, w)
    x0 = min(max(0, at[0] - side // 2), w - side)
    y0 = min(max(0, at[1] - side // 2), h - side)
    return resize(image[y0 : y0 + side, x0 : x0 + side], SHEET_CELL, SHEET_CELL)


def blend_part(photos: Path, styles: Path, steps: int, timing: Any, sheet: Path, scale: float = 1.0,
               log=print) -> dict[str, Any]:
    """Every figure of the blend part, and the sheet (naive | poisson | deep per composite)."""
    from _texture_report import grid, label
    from _timing import measure
    from atelier.image import save_image
    from atelier.nets.vgg19 import VGG19
    from atelier.ops.composite import seamless_clone
    from atelier.tasks.blend_measures import MEASURE_TAPS, boundary_gradient_error, style_distance
    from atelier.tasks.deep_blend import deep_blend

    vgg = VGG19(taps=MEASURE_TAPS)
    out: dict[str, Any] = {"steps": steps, "composites": []}
    sheet_rows = []
    for k, spec in enumerate(COMPOSITES):
        c = make_composite(photos, styles, spec, scale)
        fg, mask, bg, at = c["fg"], c["mask"], c["bg"], c["at"]
        log(f"  {c['photo'].split('_sun')[0]} ({c['side']} px) into {c['painting']} ({bg.shape[1]}x{bg.shape[0]})")
        fns = {"poisson": lambda fg=fg, mask=mask, bg=bg, at=at: seamless_clone(bg, fg, mask, center=at),
               "deep": lambda fg=fg, mask=mask, bg=bg, at=at: deep_blend(fg, mask, bg, at=at, steps=steps)}
        if k % 2:
            fns = dict(reversed(list(fns.items())))
        times, _, outputs = measure(fns, timing, keep=tuple(fns))
        outputs["naive"] = naive_paste(fg, mask, bg, at)
        entry = {key: c[key] for key in ("photo", "painting", "side", "background")}
        entry["at"] = list(at)
        entry["seconds"] = {m: float(np.median(v)) for m, v in times.items()}
        entry["runs"] = {m: len(v) for m, v in times.items()}
        entry["time_ratio_deep_over_poisson"] = entry["seconds"]["deep"] / entry["seconds"]["poisson"]
        entry["style_distance"] = {m: style_distance(outputs[m], bg, mask, at=at, vgg=vgg)
                                   for m in ("naive", "poisson", "deep")}
        entry["boundary_error"] = {m: boundary_gradient_error(outputs[m], bg, mask, at=at)
                                   for m in ("naive", "poisson", "deep")}
        entry["deep_beats_poisson"] = entry["style_distance"]["deep"] < entry["style_distance"]["poisson"]
        out["composites"].append(entry)
        view = 2 * c["side"]
        sheet_rows.append([label(_window(outputs[m], at, view), f"{m} {k + 1}") for m in ("naive", "poisson", "deep")])
    sheet.parent.mkdir(parents=True, exist_ok=True)
    save_image(sheet, grid(sheet_rows), overwrite=True)
    out["sheet"] = str(sheet)
    out["deep_beats_poisson_everywhere"] = all(e["deep_beats_poisson"] for e in out["composites"])
    return out


def blend_rows(rows: list, r: dict[str, Any], judge: bool) -> None:
    from _texture_report import row, shown_path

    for k, e in enumerate(r["composites"]):
        part = (f"blend {k + 1} {e['photo'].split('_sun')[0]} {e['side']}px -> "
                f"{Path(e['painting']).stem} {max(e['background'])}px")
        sd, be = e["style_distance"], e["boundary_error"]
        row(rows, part, "naive paste: style distance / seam error", "", f"{sd['naive']:.4g} / {be['naive']:.2f}", None, judge)
        row(rows, part, "Poisson: style distance / seam error / time", "",
            f"{sd['poisson']:.4g} / {be['poisson']:.2f} / {e['seconds']['poisson'] * 1000:.1f} ms", None, judge)
        row(rows, part, f"deep x{r['steps']}: style distance / seam error / time", "",
            f"{sd['deep']:.4g} / {be['deep']:.2f} / {e['seconds']['deep']:.1f} s", None, judge)
        row(rows, part, "deep / Poisson style distance", "< 1", f"{sd['deep'] / sd['poisson']:.3f}",
            e["deep_beats_poisson"], judge)
        row(rows, part, "time deep / Poisson", "", f"{e['time_ratio_deep_over_poisson']:.3g}x", None, judge)
    wins = sum(e["deep_beats_poisson"] for e in r["composites"])
    row(rows, "blend", "deep's style distance < Poisson's", f"all {len(r['composites'])}",
        f"{wins} of {len(r['composites'])}; sheet {shown_path(r['sheet'])}", r["deep_beats_poisson_everywhere"], judge)
