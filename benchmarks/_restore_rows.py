"""The rows of the restoration benchmark's table: (part, measure, target, measured, result).

One function per part turns that part's result dict (``_restore_quality``, ``_restore_denoise``,
``_restore_speed``, ``_restore_memory``, ``_restore_real``) into rows (denoise: one call per
set and sigma; real: one call per set);
``print_table`` prints them aligned. ``result`` is "pass", "MISS" (a target not met, or not
measured: a model that is not installed or does not load, CBM3D missing) or "-".
"""

from __future__ import annotations

from typing import Any

import numpy as np


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
    for key, label in (("model_scores", r["model"]), ("model_x8_scores", f"{r['model']} x8 self-ensemble")):
        if key in r:
            m = r[key]
            row(rows, part, f"{label} PSNR / SSIM (Y)", target,
                f"{ps(m)} ({m['psnr'] - r['bicubic']['psnr']:+.2f} over bicubic)", m["psnr"] >= r["target_psnr"])


def _secs(t: dict[str, Any]) -> str:
    return f"{t['seconds_per_image']:.3g} s/image"


def denoise_rows(rows: list, r: dict[str, Any], set_name: str, c: dict[str, Any]) -> None:
    """Rows of one set at one sigma (``c``, a ``_restore_denoise.denoise_case`` result)."""
    part, need, model = f"denoise {set_name} s{c['sigma']:g}", f">= +{r['margin_target_db']} dB", r["model"]
    row(rows, part, "noisy input PSNR / SSIM (RGB)", "", ps(c["noisy"]), None)
    row(rows, part, f"NLM h={c['nlm_library_h']['h']:g} (atelier's table)", "", ps(c["nlm_library_h"]), None)
    sw = c.get("nlm_sweep")
    if sw is not None:
        edge = ", on the grid's edge" if sw["best_on_grid_edge"] else ""
        row(rows, part, f"NLM best h={sw['best_h']:g} ({sw['evaluated']} h tried{edge})", "", ps(sw["best"]), None)
    nlm, nlm_name = (sw["best"], "best NLM") if sw is not None else (c["nlm_library_h"], "NLM (no sweep)")
    b = c["cbm3d"]
    row(rows, part, f"CBM3D (sigma={c['sigma']:g}) PSNR / SSIM", "",
        f"{ps(b['mean'])}, {_secs(b)}" if b["status"] == "ok" else f"not measured: {b['status']}", None)
    if "model_true_sigma" not in c:
        row(rows, part, f"{model} - best NLM", need, r["status"], False)
        row(rows, part, f"{model} - CBM3D", "> 0 dB", r["status"], False)
        return
    true = "blind" if r["blind"] else f"sigma={c['sigma']:g}"
    for key, how in (("model_true_sigma", true), ("model_auto_sigma", "sigma=auto"),
                     ("model_x8", f"{true}, x8 self-ensemble")):
        if key not in c:
            continue
        m = c[key]
        timed = f", {_secs(c['model_time'])}" if key == "model_true_sigma" else ""
        row(rows, part, f"{model} ({how}) PSNR / SSIM", "", ps(m) + timed, None)
        d = m["psnr"] - nlm["psnr"]
        row(rows, part, f"{model} ({how}) - {nlm_name}", need if sw is not None else "", f"{d:+.2f} dB",
            d >= r["margin_target_db"] if sw is not None else None)
        if key != "model_auto_sigma":
            ok = b["status"] == "ok"
            row(rows, part, f"{model} ({how}) - CBM3D", "> 0 dB",
                f"{m['psnr'] - b['mean']['psnr']:+.2f} dB" if ok else f"not measured: {b['status']}",
                ok and m["psnr"] > b["mean"]["psnr"])


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


def _measured(m: dict[str, Any], timed: bool = True) -> str:
    if m.get("status") != "ok":
        return str(m.get("status", "not measured"))
    s = m["mean"]
    return f"{ps(s)}, VGG {s['vgg']:.4f}" + (f", {s['seconds']:.3g} s/image" if timed else "")


def _versus(rows: list, part: str, what: str, target: str, ours: dict[str, Any],
            peer: dict[str, Any], key: str, lower: bool, *, strict: bool = True) -> None:
    """A target row: ``ours`` beats ``peer`` on ``key`` (lower is better when ``lower``; ties
    lose unless not ``strict``); a side that was not measured makes it a miss that says why."""
    for side in (ours, peer):
        if side.get("status") != "ok":
            row(rows, part, what, target, f"not measured: {side.get('status', 'not measured')}", False)
            return
    a, b = ours["mean"][key], peer["mean"][key]
    unit = " dB" if key == "psnr" else ""
    ok = (a < b if strict else a <= b) if lower else (a > b if strict else a >= b)
    row(rows, part, what, target, f"{a:.4g} vs {b:.4g} ({a - b:+.3g}{unit})", ok)


def real_rows(rows: list, r: dict[str, Any], set_name: str) -> None:
    """Rows of one set of the real part (``_restore_real.real_part``)."""
    entry, loaded = r["sets"][set_name], r["loaded"]

    def got(methods: dict[str, Any], key: str) -> dict[str, Any]:  # a method's scores, or why none
        return methods.get(key) or {"status": loaded.get(key, {}).get("status", "not measured")}

    if "sr" in entry:
        part, ms = f"real sr x4 {set_name}", entry["sr"]["methods"]
        sr, real = loaded["sr"]["spec"], loaded["sr_real"]["spec"]
        row(rows, part, "bicubic PSNR / SSIM (Y)", "", _measured(ms["bicubic"]), None)
        for key, label in (("sr", f"PSNR model {sr}"), ("sr_real", f"real model {real}"),
                           ("realesrgan", "Real-ESRGAN x4plus (ncnn)")):
            row(rows, part, f"{label} PSNR / SSIM (Y)", "", _measured(got(ms, key)), None)
        ours, peer, esr = got(ms, "sr_real"), got(ms, "sr"), got(ms, "realesrgan")
        _versus(rows, part, f"real model PSNR-Y > {sr}'s", "higher", ours, peer, "psnr", False)
        _versus(rows, part, f"real model VGG distance < {sr}'s", "lower", ours, peer, "vgg", True)
        _versus(rows, part, "real model VGG distance <= Real-ESRGAN's (stretch)", "lower or equal", ours, esr,
                "vgg", True, strict=False)
    if "denoise" in entry:
        part, ms = f"real denoise {set_name}", entry["denoise"]["methods"]
        dn, real = loaded["denoise"]["spec"], loaded["denoise_real"]["spec"]
        sig = np.mean([x["estimated_sigma"] for x in ms["input"]["rows"]])
        row(rows, part, "noisy JPEG input PSNR / SSIM (RGB)", "",
            f"{_measured(ms['input'], timed=False)}; estimated sigma {sig:.1f}", None)
        row(rows, part, "NL-means (sigma auto) PSNR / SSIM", "", _measured(ms["nlm"]), None)
        for key, label in (("denoise", f"Gaussian denoiser {dn} (sigma auto)"),
                           ("denoise_real", f"real denoiser {real} (sigma auto)")):
            row(rows, part, f"{label} PSNR / SSIM", "", _measured(got(ms, key)), None)
        ours = got(ms, "denoise_real")
        _versus(rows, part, f"real denoiser PSNR > {dn}'s (auto)", "higher", ours, got(ms, "denoise"), "psnr", False)
        _versus(rows, part, "real denoiser PSNR > NL-means' (auto)", "higher", ours, ms["nlm"], "psnr", False)
