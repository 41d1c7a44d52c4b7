"""The rows of the captioning benchmark's table: (part, measure, target, measured, result).

``result`` is "PASS" or "MISS" for a target, "-" for a figure without one, and "-" for every
row of a ``--quick`` run (``judge=False``: its figures are not meaningful).
"""

from __future__ import annotations

from typing import Any

SEEN_EXACT, SEEN_ATTRIBUTES, COMPOSITIONAL_ATTRIBUTES = 0.90, 0.97, 0.85
MAX_TRAIN_MINUTES = 40.0
ATTRIBUTES = ("shape", "color", "size", "position", "background")


class Rows(list):
    def __init__(self, judge: bool) -> None:
        super().__init__()
        self.judge = judge

    def add(self, part: str, what: str, target: str, value: Any, ok: bool | None = None) -> None:
        result = "-" if ok is None or not self.judge else ("PASS" if ok else "MISS")
        self.append((part, what, target, value, result))


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def text(r: dict[str, Any]) -> str:
    return (f"BLEU-4 {r['bleu_4']:.3f}, CIDEr-D {r['cider_d']:.3f}, ROUGE-L {r['rouge_l']:.3f}, "
            f"word F1 {r['word_f1']:.3f}, exact {pct(r['exact'])}")


def missing_row(rows: Rows, part: str, info: dict[str, Any]) -> None:
    rows.add(part, f"model {info['model']}", "", info["status"], False)


def scenes_rows(rows: Rows, r: dict[str, Any]) -> None:
    for part, label, exact_target, attr_target in (
        ("test", "scenes seen", SEEN_EXACT, SEEN_ATTRIBUTES),
        ("compositional", "scenes compositional", None, COMPOSITIONAL_ATTRIBUTES),
    ):
        m = r[part]
        a = m["attributes"]
        rows.add(label, "images scored (of the part)", "", f"{m['n_images']} (of {m['part_images']})")
        if exact_target is None:
            rows.add(label, "exact match", "", pct(m["exact"]))
        else:
            rows.add(label, "exact match", f">= {pct(exact_target)}", pct(m["exact"]), m["exact"] >= exact_target)
        rows.add(label, "attribute accuracy (mean of 5)", f">= {pct(attr_target)}", pct(a["attributes"]),
                 a["attributes"] >= attr_target)
        rows.add(label, "per attribute: " + " / ".join(ATTRIBUTES), "",
                 " / ".join(pct(a[k]) for k in ATTRIBUTES))
        rows.add(label, "captions parsed / right object count", "", f"{pct(a['parsed'])} / {pct(a['objects'])}")
        rows.add(label, "text metrics (greedy)", "", text(m))


def emoji_rows(rows: Rows, r: dict[str, Any], names: dict[str, str]) -> None:
    for subset, label in ((None, "emoji72 all names"), ("base", "emoji72 base names")):
        first = True
        for key in ("model", "nn", "random"):
            if key not in r:
                continue
            m = r[key] if subset is None else r[key].get(subset)
            if not m or not m.get("n_images"):
                continue
            if first:
                rows.add(label, "images scored (of the test part)", "", f"{m['n_images']} (of {r['part_images']})"
                         if subset is None else m["n_images"])
                first = False
            rows.add(label, names[key], "", text(m))
    if r.get("split_warning"):
        rows.add("emoji72 all names", "split warning", "", r["split_warning"])
    if "model" not in r:
        return
    cider = r["model"]["cider_d"]
    rows.add("emoji72 all names", "CIDEr-D model - NN retrieval", "> 0",
             f"{cider - r['nn']['cider_d']:+.3f}", cider > r["nn"]["cider_d"])
    if "random" in r:
        rnd = r["random"]["cider_d"]
        ratio = f" ({cider / rnd:.2f}x)" if rnd > 0 else ""
        rows.add("emoji72 all names", "CIDEr-D gap pretrained - random encoder", "> 0",
                 f"{cider - rnd:+.3f}{ratio}", cider > rnd)


def speed_rows(rows: Rows, r: dict[str, Any], model: str) -> None:
    rate = r["captions_per_s"]
    side = r["input"][-1]
    for name, value in rate.items():
        if name.startswith("encoder"):
            continue
        batch = name.rsplit(" ", 1)[-1]
        peer = rate[f"encoder only, batch {batch}"]
        rows.add(f"speed {r['threads']} threads", f"{model} {name} ({side} px)", "",
                 f"{value:.3g} captions/s ({value / peer:.2f} of encoder-only {peer:.3g} images/s)")


def train_rows(rows: Rows, label: str, info: dict[str, Any], judged: bool) -> None:
    minutes = info.get("minutes")
    target = f"<= {MAX_TRAIN_MINUTES:.0f} min" if judged else ""
    if minutes is None:
        rows.add("training time", label, target, "unknown (no recipe.json or log.jsonl)", False if judged else None)
        return
    reused = " (reused from --work)" if info.get("reused") else ""
    rows.add("training time", label, target, f"{minutes:.1f} min{reused}",
             minutes <= MAX_TRAIN_MINUTES if judged else None)
