"""The rows of the restoration benchmark's table: (part, measure, target, measured, result).

One function per part turns that part's result dict (``_restore_quality``, ``_restore_speed``,
``_restore_memory``) into rows; ``print_table`` prints them aligned. ``result`` is "pass",
"MISS" (a target not met, or a model that is not installed or does not load) or "-".
"""

from __future__ import annotations

from typing import Any


def row(rows: list, part: str, what: str, target: str, value: Any, ok: bool | None) -> None:
    rows.append((part, what, target, value, "-" if ok is None else ("pass" if ok else "MISS")))


def ps(s: dict[str, float]) -> str:
    return f"{s['psnr']:.2f} dB / {s['ssim']:.4f}"


def sr_rows(rows: list, r: dict[str, Any]) -> None:
    part, target = f"sr x{r['scale']}", f">= {r['target_psnr']} dB"
    row(rows, part, "bicubic PSNR / SSIM (Y)", "", ps(r["bicubic"]), None)
    if "model_scores" not in r:
        row(rows, part, f"{r['model']} PSNR / SSIM (Y)", target, r["status"], False)
        return
    m = r["model_scores"]
    row(rows, part, f"{r['model']} PSNR / SSIM (Y)", target,
        f"{ps(m)} ({m['psnr'] - r['bicubic']['psnr']:+.2f} over bicubic)", m["psnr"] >= r["target_psnr"])


def denoise_rows(rows: list, r: dict[str, Any]) -> None:
    part, sw = f"denoise s{r['sigma']:g}", r["nlm_sweep"]
    best, need = sw["best"]["psnr"], f">= +{r['margin_target_db']} dB"
    row(rows, part, "noisy input PSNR / SSIM (RGB)", "", ps(r["noisy"]), None)
    row(rows, part, f"NLM h={r['nlm_library_h']['h']:g} (atelier's table)", "", ps(r["nlm_library_h"]), None)
    edge = ", on the grid's edge" if sw["best_on_grid_edge"] else ""
    row(rows, part, f"NLM best h={sw['best_h']:g} ({sw['evaluated']} h tried{edge})", "", ps(sw["best"]), None)
    if "model_true_sigma" not in r:
        row(rows, part, f"{r['model']} - best NLM", need, r["status"], False)
        return
    for key, how in (("model_true_sigma", "blind" if r["blind"] else f"sigma={r['sigma']:g}"),
                     ("model_auto_sigma", "sigma=auto")):
        if key not in r:
            continue
        m = r[key]
        row(rows, part, f"{r['model']} ({how}) PSNR / SSIM", "", ps(m), None)
        row(rows, part, f"{r['model']} ({how}) - best NLM", need, f"{m['psnr'] - best:+.2f} dB",
            m["psnr"] - best >= r["margin_target_db"])


def speed_rows(rows: list, r: dict[str, Any], psnr: dict[str, str], model: str) -> None:
    side, mps, e = r["input"][0], r["mp_per_s"], r["esrgan"]
    part = f"speed x4 {side}px"
    row(rows, part, "Pillow bicubic (PIL in/out)", "", f"{mps['pillow-bicubic']:.1f} MP/s, {psnr['bicubic']}", None)
    row(rows, part, "atelier bicubic (numpy in/out)", "", f"{mps['atelier-bicubic']:.1f} MP/s", None)
    if "atelier-model" in mps:
        row(rows, part, f"atelier {model} (tile {r['tile']})", "",
            f"{mps['atelier-model']:.3g} MP/s, {psnr['model']}", None)
    else:
        row(rows, part, f"atelier {model}", "", r["model_status"], None)
    if e["status"] == "ok":
        row(rows, part, f"Real-ESRGAN x4plus ncnn CPU (tile {e['tile']})", "",
            f"{mps['realesrgan']:.3g} MP/s, {ps(e['cset5'])}", None)
    else:
        row(rows, part, "Real-ESRGAN x4plus ncnn CPU", "", e["status"], None)
    for peer, label in (("pillow-bicubic", "Pillow"), ("realesrgan", "Real-ESRGAN")):
        if "atelier-model" in mps and peer in mps:
            row(rows, part, f"speed atelier {model} / {label}", "", f"{mps['atelier-model'] / mps[peer]:.3g}x", None)


def memory_rows(rows: list, r: dict[str, Any]) -> None:
    part, limit = f"memory {r['size']}px x4", r["limit_mib"]
    if "runs" not in r:
        row(rows, part, f"peak RSS, {r['model']}", f"< {limit:.0f} MiB", r["status"], False)
        return
    for run in r["runs"]:
        default = " (CLI default)" if run["tile"] == r["cli_default_tile"] else ""
        what = f"peak RSS, {r['model']}, tile {run['tile']}{default}"
        if "error" in run:
            row(rows, part, what, f"< {limit:.0f} MiB", f"error: {run['error']}", False)
            continue
        row(rows, part, what, f"< {limit:.0f} MiB",
            f"{run['peak_rss_mib']:.0f} MiB (floor {run['floor_rss_mib']:.0f}, {run['seconds']:.1f} s)",
             run["peak_rss_mib"] < limit)
