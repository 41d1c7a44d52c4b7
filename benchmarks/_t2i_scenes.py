"""Prompt adherence of text-to-image models on ``scenes``, read by the attribute judge.

The prompts are the captions of images of the model's own data (read with its run
``config.json`` or shipped ``recipe.json`` settings, as the run reads them): part ``test``
(held-out images of seen attribute combinations) and part ``compositional`` (images holding a
held-out combination: red triangle, large shape in the bottom row, blue on yellow), the first
``limit`` images of each. Each prompt is drawn ``per_prompt`` times by a
``draw(prompts, seed) -> (N, 3, H, W) float [0, 1]`` callable (any generator plugs in:
``diffusion_draw``, ``text_gan_draw``); ``_t2i_judge.judge_images`` reads every image back
and ``_t2i_judge.score`` compares it with the prompt's scene, attribute by attribute.

A diffusion model is drawn at several guidance scales with the same seed (the same starting
noise), so the settings are compared on the same noise; the real images of the prompts, read
by the same judge, are the reference (what a perfect generator scores).

Example
-------
    sets = {p: prompt_set(spec, p, 128) for p in PARTS}
    r = adherence(diffusion_draw(model, steps=50, sampler="ddim", guidance=3.0), sets["test"], judge, 2, 0)
    r["scores"]["all"]                              # all-attribute accuracy, in [0, 1]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from _t2i_judge import ATTRIBUTES, judge_images, mean_scores

#: Scenes parts whose captions are the prompts: part -> label in the table.
PARTS = {"test": "seen", "compositional": "held-out"}
SEEN_TARGET, HELD_OUT_TARGET = 0.90, 0.70
Draw = Callable[[Sequence[str], int], torch.Tensor]


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def per_attribute(s: dict[str, float]) -> str:
    return " / ".join(pct(s[k]) for k in ATTRIBUTES if k != "all")


PER_ATTRIBUTE = "per attribute: shape / colour / size / position / background"


# ----------------------------------------------------------------------------- prompts


def scenes_dataset(spec: dict[str, Any], part: str):
    """The scenes data of a resolved run ``spec`` for ``part``, as the run reads it."""
    from atelier.train.objectives.diffusion import open_dataset

    size = int(spec["model_config"].get("resolution", 48))
    return open_dataset(spec["data"], spec["data_options"], size=size, channels=None, labels=None, split=part)


def prompt_set(spec: dict[str, Any], part: str, limit: int, start: int = 0) -> dict[str, Any]:
    """``limit`` images of ``part`` from its ``start``-th: their ids, captions (the prompts),
    scenes, the real images (``(n, 3, H, W)`` float) and the part's size."""
    ds = scenes_dataset(spec, part)
    if not hasattr(ds, "scene_objects"):
        raise ValueError(f"{spec['data']} is not scenes data (no scene_objects): the scenes part needs a model "
                         "trained on --data scenes")
    ids = [int(i) for i in ds.image_ids[start : start + limit]]
    real = torch.stack([ds.image_tensor(i) for i in ids]) if ids else torch.zeros(0, 3, 48, 48)
    return {"part": part, "ids": ids, "prompts": [ds.captions(i)[0] for i in ids],
            "scenes": [ds.scene_objects(i) for i in ids], "real": real, "part_images": int(len(ds.image_ids)),
            "held_out_rules": list(getattr(ds, "held_out", ()))}


# ----------------------------------------------------------------------------- generators


def diffusion_draw(model: Any, *, steps: int, sampler: str, guidance: float, batch_size: int = 32) -> Draw:
    """``draw`` of a diffusion model (``generate_images``, float output)."""
    from atelier.tasks.diffusion_sample import generate_images

    def draw(prompts: Sequence[str], seed: int) -> torch.Tensor:
        images = generate_images(model, prompts=list(prompts), n=len(prompts), steps=steps, sampler=sampler,
                                 guidance=guidance, seed=seed, batch_size=batch_size, dtype=np.float32)
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()

    return draw


def text_gan_draw(model: Any) -> Draw:
    """``draw`` of a text-GAN (``atelier.tasks.text_gan.generate_text_gan``: uint8 NHWC out)."""
    from atelier.tasks.text_gan import generate_text_gan

    def draw(prompts: Sequence[str], seed: int) -> torch.Tensor:
        images = np.asarray(generate_text_gan(model, list(prompts), len(prompts), seed=seed))
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    return draw


# ----------------------------------------------------------------------------- scoring


def adherence(draw: Draw, prompts: dict[str, Any], judge: Any, per_prompt: int, seed: int,
              keep: int = 0, keep_all: bool = False) -> dict[str, Any]:
    """Draw every prompt of ``prompts`` (a ``prompt_set``) ``per_prompt`` times, judge the
    images against the prompts' scenes: mean scores, scores per held-out rule, seconds per
    image; ``keep``: the images of the first ``keep`` prompts are returned for a sample sheet
    (``"kept"``); ``keep_all``: every image too (``"images"``, for the feature distances)."""
    from atelier.data.scenes import held_out_combinations

    texts = [p for p in prompts["prompts"] for _ in range(per_prompt)]
    targets = [s for s in prompts["scenes"] for _ in range(per_prompt)]
    t0 = time.perf_counter()
    images = draw(texts, seed)
    seconds = time.perf_counter() - t0
    if tuple(images.shape[:2]) != (len(texts), 3):
        raise ValueError(f"draw returned {tuple(images.shape)} for {len(texts)} prompts; expected (N, 3, H, W)")
    judged = judge_images(judge, images)
    out: dict[str, Any] = {"scores": mean_scores(judged, targets), "n_prompts": len(prompts["prompts"]),
                           "per_prompt": per_prompt, "seconds": seconds,
                           "s_per_image": seconds / max(len(texts), 1), "resolution": int(images.shape[-1])}
    rules = prompts.get("held_out_rules") or []
    if prompts["part"] == "compositional" and rules:
        by_rule = {}
        for rule in rules:
            pick = [k for k, t in enumerate(targets) if rule in held_out_combinations(t, rules)]
            if pick:
                by_rule[rule] = mean_scores([judged[k] for k in pick], [targets[k] for k in pick])
        out["by_rule"] = by_rule
    out["examples"] = [{"prompt": texts[k], "judged": _caption(judged[k])} for k in range(min(len(texts), 8))]
    if keep:
        out["kept"] = images[: keep * per_prompt].clone()
    if keep_all:
        out["images"] = images
    return out


# ----------------------------------------------------------------------------- feature distances

#: Real images of part ``train`` that the generated images of the seen prompts are compared to.
FID_REFERENCE = 2000


def _real_features(extractor: Any, spec: dict[str, Any], part: str, limit: int, work: Path) -> np.ndarray:
    """EfficientNet-Lite0 features of the first ``limit`` real images of ``part`` (cached)."""
    from _t2i_features import cached_features

    size = int(spec["model_config"].get("resolution", 48))
    key = [spec["data"], spec.get("data_options") or {}, part, limit, size]
    return cached_features(extractor, key, lambda: prompt_set(spec, part, limit)["real"], work, "scenes-real")


def feature_distances(generated: dict[str, torch.Tensor], spec: dict[str, Any], work: Path, seed: int,
                      rows: Any) -> dict[str, Any]:
    """FID and KID (EfficientNet-Lite0 features) of each generator's images of the seen
    prompts (``label -> (N, 3, H, W)``) against ``FID_REFERENCE`` real training images; the
    floor is as many real held-out images (part ``test``) against the same reference."""
    from atelier.metrics import fid, kid
    from atelier.metrics.features import get_extractor

    if not generated:
        return {}
    eff = get_extractor("efficientnet-lite0", device="cpu", batch_size=64)
    ref = _real_features(eff, spec, "train", FID_REFERENCE, work)
    n = max(int(x.shape[0]) for x in generated.values())
    floor = _real_features(eff, spec, "test", n, work)
    out: dict[str, Any] = {"reference": int(len(ref)), "floor": {"n": int(len(floor)), "fid": fid(floor, ref)}}
    out["floor"]["kid_mean"], out["floor"]["kid_std"] = kid(floor, ref, seed=seed)
    tag = f"scenes FID (seen prompts vs {len(ref)} real training images)"
    rows.add(tag, f"floor: {len(floor)} real held-out images [efficientnet-lite0]", "",
             f"FID {out['floor']['fid']:.2f}, KID x1e3 {1e3 * out['floor']['kid_mean']:.2f}")
    for label, images in generated.items():
        feats = eff.features(images).numpy()
        d = {"n": int(len(feats)), "fid": fid(feats, ref)}
        d["kid_mean"], d["kid_std"] = kid(feats, ref, seed=seed)
        out[label] = d
        rows.add(tag, f"{label}: {d['n']} images [efficientnet-lite0]", "vs floor",
                 f"FID {d['fid']:.2f}, KID x1e3 {1e3 * d['kid_mean']:.2f} +- {1e3 * d['kid_std']:.2f}")
    return out


def _caption(scene: Any) -> str:
    from atelier.data.scenes import scene_caption

    return scene_caption(scene) if scene.objects else f"(no object) on a {scene.background} background"


def reference(prompts: dict[str, Any], judge: Any) -> dict[str, float]:
    """The judge on the real images of the prompts (what a perfect generator scores)."""
    return mean_scores(judge_images(judge, prompts["real"]), prompts["scenes"])


# ----------------------------------------------------------------------------- sample sheet


def sample_sheet(path: Path, rows: list[tuple[str, list[torch.Tensor]]], columns: list[str], cell: int = 96) -> None:
    """A PNG of a few prompts (one row each: the prompt's text, then one image per column,
    scaled to ``cell`` px, nearest) with the column names on top."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    text_w, pad, head = 330, 4, 16
    width = text_w + len(columns) * (cell + pad) + pad
    height = head + len(rows) * (cell + pad) + pad
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    ink = ImageDraw.Draw(sheet)
    for j, name in enumerate(columns):
        ink.text((text_w + j * (cell + pad) + pad, 2), name, fill=(0, 0, 0), font=font)
    for i, (prompt, images) in enumerate(rows):
        y = head + i * (cell + pad)
        words, lines, line = prompt.split(), [], ""
        for w in words:
            if len(line) + len(w) + 1 > 52:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}".strip()
        lines.append(line)
        for k, text in enumerate(lines[:7]):
            ink.text((pad, y + 2 + 12 * k), text, fill=(0, 0, 0), font=font)
        for j, img in enumerate(images):
            a = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            tile = Image.fromarray(a).resize((cell, cell), Image.NEAREST)
            sheet.paste(tile, (text_w + j * (cell + pad) + pad, y))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


# ----------------------------------------------------------------------------- the part


def judge_rows(rows: Any, record: dict[str, Any], judged: bool) -> None:
    """The judge's own accuracy on held-out real images (target >= 99 % per attribute)."""
    acc = record["accuracy"]["clean"]
    n = acc["n"]
    how = "reused from --work" if record.get("reused") else f"trained here in {record['train_seconds']:.0f} s"
    for k in ATTRIBUTES:
        if k == "all":
            rows.add("scenes judge", f"all attributes ({n} held-out real images)", "", pct(acc[k]))
        else:
            rows.add("scenes judge", f"{k} ({n} held-out real images)", ">= 99.0 %", pct(acc[k]),
                     acc[k] >= 0.99 if judged else None)
    if "augmented" in record["accuracy"]:
        aug = record["accuracy"]["augmented"]
        rows.add("scenes judge", "same images blurred / noised / jittered: all attrs; " + PER_ATTRIBUTE[15:], "",
                 f"{pct(aug['all'])}; {per_attribute(aug)}")
    rows.add("scenes judge", "training", "",
             f"{record['settings']['steps']} steps x {record['settings']['batch']} of "
             f"{record['settings']['train_images']} images (seed {record['train_seed']}, all parts), {how}")


def model_rows(rows: Any, label: str, runs: list[dict[str, Any]], judged: bool) -> None:
    """Rows of one generator's runs (``part``, ``setting``, ``result``): per part, every
    setting's all-attribute accuracy and per-attribute figures, then the best setting against
    the part's target, and the time per image."""
    for part, name in PARTS.items():
        mine = [r for r in runs if r["part"] == part]
        if not mine:
            continue
        first = mine[0]["result"]
        tag = f"scenes {name} ({first['n_prompts']} prompts x {first['per_prompt']})"
        for r in mine:
            s = r["result"]["scores"]
            rows.add(tag, f"{label} {r['setting']}: all attributes", "", pct(s["all"]))
            rows.add(tag, f"{label} {r['setting']}: {PER_ATTRIBUTE}", "", per_attribute(s))
            for rule, rs in r["result"].get("by_rule", {}).items():
                rows.add(tag, f"{label} {r['setting']}: all attributes, {rule} prompts ({rs['n']} images)", "",
                         pct(rs["all"]))
        best = max(mine, key=lambda r: r["result"]["scores"]["all"])
        target = SEEN_TARGET if part == "test" else HELD_OUT_TARGET
        if len(mine) > 1:
            value = best["result"]["scores"]["all"]
            rows.add(tag, f"{label} best ({best['setting']}): all attributes", f">= {pct(target)}", pct(value),
                     value >= target if judged else None)
        else:
            value = first["scores"]["all"]
            rows.add(tag, f"{label} {mine[0]['setting']}: all attributes (judged)", f">= {pct(target)}",
                     pct(value), value >= target if judged else None)
    times = ", ".join(f"{r['setting']} {r['result']['s_per_image']:.3g}" for r in runs if r["part"] == "test")
    if times:
        rows.add("scenes time", f"{label}: s per image ({runs[0]['result']['resolution']} px)", "", times)


def scenes_part(
    model: Any,
    label: str,
    spec: dict[str, Any],
    judge: Any,
    *,
    limit: int,
    per_prompt: int,
    guidances: Sequence[float],
    sampler: str,
    steps: int,
    seed: int,
    rows: Any,
    work: Path,
    text_gan: tuple[Any, str, dict[str, Any] | None] | None = None,
    sheet_prompts: int = 4,
    offset: int = 0,
) -> dict[str, Any]:
    """The scenes adherence part for a loaded diffusion ``model`` (None: only the text-GAN,
    with the prompts of ``spec``) and an optional loaded text-GAN ``(model, label, its run
    spec or None)`` (prompted from its own data settings when they differ from ``spec``'s);
    adds its rows to ``rows``, writes the sample sheet(s) into ``work`` and returns every
    figure (``runs``: the diffusion ones, for the speed part's quality check). ``offset``: the
    prompts of each part start at its ``offset``-th image (a set no earlier choice has seen)."""
    judged = rows.judge
    sets = {part: prompt_set(spec, part, limit, offset) for part in PARTS}
    result: dict[str, Any] = {"settings": {"limit": limit, "offset": offset, "per_prompt": per_prompt,
                                           "guidances": list(guidances),
                                           "sampler": sampler, "steps": steps, "seed": seed,
                                           "data": spec["data"], "data_options": spec["data_options"]},
                              "prompts": {p: {"n": len(s["ids"]), "part_images": s["part_images"],
                                              "ids": s["ids"]} for p, s in sets.items()}}
    ref = {p: reference(s, judge) for p, s in sets.items()}
    result["reference"] = ref
    for part, name in PARTS.items():
        rows.add("scenes judge", f"real images of the {name} prompts ({ref[part]['n']}): all attributes", "",
                 f"{pct(ref[part]['all'])} ({per_attribute(ref[part])})")
    runs: list[dict[str, Any]] = []
    columns: dict[str, list] = {}  # part -> [(column name, images of the sheet's prompts)]
    generated: dict[str, torch.Tensor] = {}  # the seen prompts' images of each setting, for FID
    if model is not None:
        for part in PARTS:
            for g in guidances:
                setting = f"{sampler.upper()} {steps}, guidance {g:g}"
                print(f"scenes: {label} {setting}, {PARTS[part]} prompts "
                      f"({len(sets[part]['ids'])} x {per_prompt})...", flush=True)
                draw = diffusion_draw(model, steps=steps, sampler=sampler, guidance=g)
                r = adherence(draw, sets[part], judge, per_prompt, seed, keep=sheet_prompts, keep_all=part == "test")
                if part == "test":
                    generated[f"{label} {setting}"] = r.pop("images")
                columns.setdefault(part, []).append((f"guidance {g:g}", r.pop("kept")[::per_prompt]))
                runs.append({"part": part, "setting": setting, "sampler": sampler, "steps": steps, "guidance": g,
                             "result": r})
        model_rows(rows, label, runs, judged)
        result["runs"] = runs
    sheets = []
    if text_gan is not None:
        gan, gan_label, gan_spec = text_gan
        own = gan_spec is not None and (gan_spec["data"], gan_spec["data_options"]) != (spec["data"],
                                                                                      spec["data_options"])
        gan_sets = {part: prompt_set(gan_spec, part, limit, offset) for part in PARTS} if own else sets
        if own:
            rows.add("scenes text-GAN", f"text-GAN {gan_label}: prompts", "",
                     f"from its own data settings ({gan_spec['data']} {gan_spec['data_options']})")
        gan_runs, gan_columns = [], {}
        for part in PARTS:
            print(f"scenes: text-GAN {gan_label}, {PARTS[part]} prompts...", flush=True)
            try:
                r = adherence(text_gan_draw(gan), gan_sets[part], judge, per_prompt, seed, keep=sheet_prompts,
                              keep_all=part == "test" and not own)
                if "images" in r:
                    generated[f"text-GAN {gan_label}"] = r.pop("images")
            except Exception as exc:  # noqa: BLE001 - another engineer's generator: a failure is a row
                rows.add("scenes text-GAN", f"text-GAN {gan_label}", "", f"error: {type(exc).__name__}: {exc}",
                         False if judged else None)
                gan_runs = []
                break
            gan_columns[part] = [("text-GAN", r.pop("kept")[::per_prompt])]
            gan_runs.append({"part": part, "setting": "one setting", "result": r})
        if gan_runs:
            model_rows(rows, f"text-GAN {gan_label}", gan_runs, judged)
            if own or model is None:
                sheets.append((f"text-gan-{gan_label}", gan_sets, gan_columns))
            else:
                for part in PARTS:
                    columns[part] += gan_columns[part]
        result["text_gan_runs"] = gan_runs
    try:
        result["fid"] = feature_distances(generated, spec, work, seed, rows)
    except Exception as exc:  # noqa: BLE001 - the distances are one part of the table: a failure is a row
        rows.add("scenes FID", "feature distances", "", f"error: {type(exc).__name__}: {exc}")
    if model is not None:
        sheets.insert(0, (label, sets, columns))
    for name, prompt_sets, cols in sheets:
        path = work / f"scenes-samples-{Path(name).name}.png"
        lines = []
        for part in PARTS:
            for k in range(min(sheet_prompts, len(prompt_sets[part]["ids"]))):
                images = [prompt_sets[part]["real"][k]] + [imgs[k] for _, imgs in cols[part]]
                lines.append((f"[{PARTS[part]}] {prompt_sets[part]['prompts'][k]}", images))
        sample_sheet(path, lines, ["real"] + [c for c, _ in cols["test"]])
        result.setdefault("sample_sheets", []).append(str(path))
        rows.add("scenes time", "sample sheet (a few prompts: real image, then each setting)", "", str(path))
    return result
