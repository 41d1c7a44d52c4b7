"""MNIST part of the text-to-image benchmark: the class-conditional diffusion model, judged
exactly as the generative benchmark judges the cGAN and the CVAE, in one table with them.

Data: ``../shared/data/mnist10k`` (``idx:``, 32 x 32 grey), with the generative benchmark's
splits: items 0-7,999 "train", 8,000-9,999 "held out".

Protocol (``generative.py`` and its parts ``_gen_quality``, ``_gen_diversity``, imported, not
copied):

* **judge**: the generative benchmark's classifier (``atelier train classifier``, 10 epochs
  of the 8,000, ``_gen_quality.train``), its held-out accuracy reported (>= 98 %); a finished
  one is reused from ``work`` or from the ``--work`` folder that
  ``benchmarks/results/generative.json`` names.
* **samples**: ``per_label`` (100) images of each digit, ``generate_images(labels=digit,
  sampler="ddim", steps=50)`` at the model's guidance (its ``recipe.json``; 3 without one), seed ``seed + digit`` (1,000 images); the cGAN and
  CVAE draw the same counts with ``sample_images`` and the same seeds. Images of another
  resolution are resized to 32 px (bilinear, antialiased) for the judge.
* **label accuracy**: the judge's argmax equals the asked digit (target >= 98 %);
  **classifier IS**: Inception Score of the judge's probabilities over the 1,000 (10 splits;
  target >= 9.3; 10 is the maximum); **FID / KID** in the judge's feature space against the
  8,000 train images, beside the **real floor**: the first 1,000 held-out images (the same N)
  against the same 8,000 (lower is better; the floor is what real data scores).
* **within-class diversity** (so a model drawing one image per label cannot pass): for each
  digit, ``_gen_diversity.class_diversity`` on the same samples (k-NN precision / recall,
  k = 3, against the held-out images of that digit, as a share of the real-vs-real recall of
  the same N; mean pairwise pixel distance as a ratio to real's); the worst digit is judged
  with the generative benchmark's targets (ratio >= 0.8, recall / floor >= 0.5).

Baselines: the cGAN and the CVAE trained with the generative benchmark's recipe and steps
(``generative.FULL_STEPS``) into ``work`` (``work/cgan``, ``work/cvae``: the generative
benchmark's ``--work`` layout, so either benchmark reuses the other's runs), or reused where a
finished run exists (``work``, or the folder ``generative.json`` names); their training time
is reported. With ``baselines=False`` nothing is trained: figures of a generative.json without
runs are shown (its own N and judge), else one "not run" row with the command that makes them.

Note: a diffusion run trained on ``idx:../shared/data/mnist10k`` without ``data.split`` saw
all 10,000 items but its last 64 (its validation), so the held-out images were in its
training data (the cGAN / CVAE trained on 0-7,999); the table says which data a run used.

Cost (measured 6 Dec 2026 on the 2-core CPU while two trainings ran, one torch thread): the
judge's 1,250 steps 15 min; DDIM 50 at guidance 3 of the 32 px, width-32 run 4 s per image
(200 images in 800 s), so the 1,000 samples are about an hour there (an idle machine with 2
threads: several times less); the baselines, when trained, add the generative benchmark's
cGAN (2,500 steps) and CVAE (6,000 steps), ~0.5 and ~0.15 s/step on the busy machine (~20
and ~15 min; the generative benchmark measured 0.2 and 0.045 s/step idle). Finished runs in
``work`` are reused, so only the sampling repeats.

``quick``: a throwaway 2-step diffusion run when ``model_source`` is None, a 4-step judge, 3-step
baselines, 8 samples per digit, 5 sampler steps, 400 real images: every code path, no target.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data" / "mnist10k"
GENERATIVE_JSON = HERE / "results" / "generative.json"
LABEL_ACCURACY, CLASSIFIER_IS, JUDGE_ACCURACY = 0.98, 9.3, 0.98
BASELINES = ("cgan", "cvae")
NAMES = {"cgan": "cGAN", "cvae": "CVAE"}
#: Settings of the ``quick`` throwaway diffusion run (32 px so the judge reads it as it is).
QUICK_DIFFUSION = ["cond=label", "resolution=32", "width=16", "channel_mults=[1,2]", "res_blocks=1",
                   "attention_resolutions=[]", "steps=2", "batch_size=4", "checkpoint_every=2",
                   "log_every=1", "val_images=0", "sample_images=0", "validate_every=2", "device=cpu"]
TRAIN_COMMAND = "atelier train diffusion --data idx:../shared/data/mnist10k --set cond=label --out RUN"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _as_judge_input(images, side: int = 32):
    """``(N, H, W, C)`` uint8 of ``generate_images`` -> ``(N, 1, side, side)`` float in [0, 1]."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[1] == 3:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if x.shape[-1] != side or x.shape[-2] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0.0, 1.0)


def _describe(model_source: Any, option: str) -> dict[str, Any]:
    """``_caption_runs.source`` (status, training minutes, data settings) of a diffusion model."""
    import _caption_runs as cr

    try:
        info = cr.source(str(model_source), option)
    except Exception as exc:  # a registry or config problem: described, not raised
        return {"model": str(model_source), "status": f"error: {exc}"}
    if info.get("kind") == "run" and str(info.get("command", "")).startswith("atelier train caption"):
        info["command"] = None  # command_of spells caption commands; the run's config.json is the record
    return info


def _quick_model(work: Path) -> dict[str, Any]:
    """A throwaway 2-step class-conditional diffusion run in ``work`` (reused when there)."""
    import _caption_runs as cr
    from atelier.tasks.training import resolve_run, train_run

    run = work / "quick-diffusion-mnist"
    if not (run / "model.safetensors").is_file():
        print("quick: a throwaway 2-step MNIST diffusion run...", flush=True)
        spec = resolve_run("diffusion", data=f"idx:{DATA.resolve()}", overrides=QUICK_DIFFUSION,
                           check_device=False)
        train_run(spec, run)
    return _describe(run, "--mnist-model")


def _data_note(info: dict[str, Any]) -> str:
    spec = info.get("spec") or {}
    options = spec.get("data_options") or {}
    split = options.get("split")
    if split is None:
        return "all 10,000 items but its last 64 (validation): held-out 8,000-9,999 seen"
    return f"data.split={split}"


def _generative_record(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _folders(work: Path, record: dict[str, Any]) -> list[Path]:
    """Where finished judge / baseline runs may be: ``work``, then the folder of every run
    ``generative.json`` names."""
    out = [work]
    runs = [record.get("classifier", {}).get("run")]
    runs += [v.get("run") for v in (record.get("quality") or {}).values() if isinstance(v, dict)]
    for run in runs:
        if run and Path(run).parent not in out and Path(run).is_dir():
            out.append(Path(run).parent)
    return out


def _run(name: str, data: str, steps: int, folders: list[Path], train: bool) -> dict[str, Any] | None:
    """The generative benchmark's ``name`` run of ``steps`` steps: reused from the first folder
    holding a finished one, else trained into ``folders[0]`` (``train``), else None."""
    import _gen_quality as gq

    for folder in folders:
        if gq._finished(folder / name, steps, []) is not None:
            return gq.train(name, data, steps, folder)
    if not train:
        return None
    print(f"mnist: training {name} ({steps} steps, the generative benchmark's recipe)...", flush=True)
    return gq.train(name, data, steps, folders[0])


def _replayed_diversity(by_class: dict, judge, real: dict, per_class: int, seed: int) -> dict[str, Any]:
    """``_gen_diversity.class_diversity`` on samples already drawn (``by_class``): its sampler
    call is answered from them, so the figures and the accuracy / IS / FID come from the same
    images (a diffusion model is no ``atelier.tasks.generate`` generator, and drawing 1,000
    more diffusion samples would double the part's time)."""
    from unittest import mock

    import _gen_diversity as gd
    import atelier.tasks.generate as generate

    def replay(gen, n, *, seed=0, labels=None, **_):
        return by_class[int(labels)][:n]

    with mock.patch.object(generate, "sample_images", replay):
        return gd.class_diversity(None, judge, real, per_class=per_class, seed=seed, conditional=True)


def _score(by_class: dict, judge, train_feats, real: dict, per_class: int, seed: int) -> dict[str, Any]:
    """Label accuracy, classifier IS, FID / KID against ``train_feats`` and per-class
    diversity of ``{digit: (n, 1, 32, 32)}``."""
    import numpy as np
    import torch

    from atelier.metrics import fid, inception_score, kid

    classes = sorted(by_class)
    images = torch.cat([by_class[c] for c in classes])
    asked = np.concatenate([np.full(len(by_class[c]), c) for c in classes])
    feats, probs = judge.features_and_probabilities(images)
    feats, probs = feats.numpy(), probs.numpy()
    hit = probs.argmax(1) == asked
    # IS splits are contiguous chunks: shuffle, or each split holds one digit and scores 1
    shuffled = probs[np.random.default_rng(seed).permutation(len(probs))]
    is_mean, is_std = inception_score(shuffled, splits=min(10, len(images)))
    kid_mean, kid_std = kid(feats, train_feats, seed=seed)
    return {
        "n_samples": int(len(images)), "samples_per_label": per_class, "n_train": int(len(train_feats)),
        "label_accuracy": float(hit.mean()),
        "per_label": {str(c): float(hit[asked == c].mean()) for c in classes},
        "classifier_is_mean": is_mean, "classifier_is_std": is_std,
        "fid_classifier": fid(feats, train_feats), "kid_classifier_mean": kid_mean, "kid_classifier_std": kid_std,
        "diversity": _replayed_diversity(by_class, judge, real, per_class, seed),
    }


def _floor(judge, held_x, held_y, train_feats, seed: int) -> dict[str, Any]:
    """The real-data row: ``len(held_x)`` held-out images scored as the samples are."""
    from atelier.metrics import fid, inception_score, kid

    feats, probs = judge.features_and_probabilities(held_x)
    feats, probs = feats.numpy(), probs.numpy()
    is_mean, is_std = inception_score(probs, splits=min(10, len(held_x)))
    kid_mean, kid_std = kid(feats, train_feats, seed=seed)
    return {"n_images": int(len(held_x)), "label_accuracy": float((probs.argmax(1) == held_y.numpy()).mean()),
            "classifier_is_mean": is_mean, "classifier_is_std": is_std,
            "fid_classifier": fid(feats, train_feats), "kid_classifier_mean": kid_mean,
            "kid_classifier_std": kid_std}


def _model_rows(rows, part: str, m: dict[str, Any], floor: dict[str, Any], judged: bool) -> None:
    import generative as g

    def ok(value: bool) -> bool | None:
        return value if judged else None

    acc, is_mean = m["label_accuracy"], m["classifier_is_mean"]
    rows.add(part, f"accuracy for the asked digit ({m['n_samples']} samples)",
             f">= {_pct(LABEL_ACCURACY)}" if judged else "", _pct(acc), ok(acc >= LABEL_ACCURACY))
    rows.add(part, "classifier IS (10 splits)", f">= {CLASSIFIER_IS}" if judged else "",
             f"{is_mean:.2f} +- {m['classifier_is_std']:.2f}", ok(is_mean >= CLASSIFIER_IS))
    rows.add(part, f"FID [judge features] vs {m['n_train']:,} train", "vs floor",
             f"{m['fid_classifier']:.3g} (floor {floor['fid_classifier']:.3g})")
    rows.add(part, f"KID x1e3 [judge features] vs {m['n_train']:,} train", "vs floor",
             f"{1e3 * m['kid_classifier_mean']:.3g} (floor {1e3 * floor['kid_classifier_mean']:.3g})")
    d = m["diversity"]
    w = d["worst"]
    rows.add(part, f"worst-digit diversity ratio (pixels, {d['samples_per_class']}/digit)",
             f">= {g.MIN_DIVERSITY_RATIO}" if judged else "", f"{w['diversity_ratio_pixels']:.3f}",
             ok(w["diversity_ratio_pixels"] >= g.MIN_DIVERSITY_RATIO and d["classes_scored"] == 10))
    rows.add(part, "worst-digit k-NN recall / real floor", f">= {g.MIN_RECALL_VS_FLOOR}" if judged else "",
             f"{w['recall_vs_floor']:.3f}", ok(w["recall_vs_floor"] >= g.MIN_RECALL_VS_FLOOR))
    rows.add(part, "worst-digit k-NN precision / diversity ratio (features)", "",
             f"{w['precision']:.3f} / {w['diversity_ratio_features']:.3f}")


def mnist_part(model_source: Any, *, work: Path, quick: bool, threads: int, sampler: str = "ddim",
               steps: int | None = None, guidance: float | None = None, per_label: int | None = None,
               seed: int = 0, baselines: bool = True, data: Path = DATA,
               generative_json: Path = GENERATIVE_JSON, option: str = "--mnist-model",
               ) -> tuple[list, dict[str, Any]]:
    """Rows ``(part, measure, target, measured, result)`` and every figure of the MNIST part.

    ``model_source``: a shipped name (``diffusion-mnist``) or a run folder; None in ``quick``
    trains a throwaway. ``steps`` (default 50, quick 5) and ``per_label`` (default 100, quick
    8; at least 5, the k-NN figures need k + 2) size the sampling; ``baselines``: train the cGAN / CVAE when no finished run is found
    (module docstring); ``option``: the flag named in the "model missing" row."""
    import torch

    import generative as g
    import _gen_diversity as gd
    import _gen_quality as gq
    from _caption_rows import Rows

    torch.set_num_threads(threads)
    t_start = time.perf_counter()
    rows = Rows(judge=not quick)
    part = "MNIST diffusion"
    data = Path(data)
    if not data.is_dir():
        rows.add(part, "data", "", f"SKIP: {data} is absent (../shared/data/mnist10k)", None)
        return rows, {"status": f"data absent: {data}"}
    steps = steps or (5 if quick else 50)
    per_label = per_label or (8 if quick else 100)
    work = Path(work)
    gwork = work / "t2i-mnist-quick" if quick else work
    gwork.mkdir(parents=True, exist_ok=True)
    data_spec = f"idx:{data.resolve()}"
    real_split, held_split = ((0, 400), (8000, 8400)) if quick else (gq.TRAIN_SPLIT, gq.HELD_SPLIT)
    clf_steps = 4 if quick else round(10 * 8000 / 64)  # generative.py's default: 10 epochs
    base_steps = g.QUICK_STEPS if quick else g.FULL_STEPS
    out: dict[str, Any] = {"settings": {
        "quick": quick, "data": data_spec, "sampler": sampler, "steps": steps, "guidance": guidance,
        "samples_per_label": per_label, "seed": seed, "threads": threads, "train_split": list(real_split),
        "held_out_split": list(held_split), "judge_steps": clf_steps, "baseline_steps":
        {m: base_steps[m] for m in BASELINES}, "baselines": baselines}, "seconds": {}}

    # the model first: a missing one is one row, nothing is trained
    from atelier.errors import AtelierError
    from atelier.tasks.diffusion_model import load_diffusion
    from atelier.tasks.diffusion_sample import generate_images

    if model_source is None and quick:
        info = _quick_model(gwork)
    elif model_source is None:
        info = {"model": "(none)", "status": f"no model given: pass a shipped name or a run folder with {option} RUN "
                                              f"(train one: {TRAIN_COMMAND})"}
    else:
        info = _describe(model_source, option)
    out["model"] = {k: v for k, v in info.items()}
    model = None
    if info["status"] == "ok":
        try:
            model = load_diffusion(info.get("path") or info["model"])
            if model.cond != "label" or int(model.net.config.num_classes) != 10:
                info["status"] = (f"{info['model']} is a {model.cond}-conditional model, not a 10-class "
                                  f"label model; pass an MNIST run with {option} RUN")
                model = None
        except AtelierError as exc:
            info["status"] = f"error: {exc}"
    if model is None:
        out["model"]["status"] = info["status"]
        rows.add(part, f"model {info['model']}", "", info["status"], False)
        return rows, out
    name = Path(info["model"]).name if info.get("kind") == "run" else info["model"]
    part = f"MNIST diffusion {name}"
    out["model"]["data_note"] = _data_note(info)
    out["model"]["resolution"] = model.resolution
    guidance = model.guidance if guidance is None else guidance  # None: the model's own (its recipe.json)
    out["settings"]["guidance"] = guidance

    # the judge, the real sets
    t0 = time.perf_counter()
    record = _generative_record(Path(generative_json)) if not quick else {}
    folders = _folders(gwork, record)
    tr = _run("classifier", data_spec, clf_steps, folders, train=True)
    from atelier.metrics.features import get_extractor

    judge = get_extractor(f"classifier:{tr['run']}", device="cpu", batch_size=256)
    acc = gq.classifier_accuracy(judge, data_spec, held_split)
    out["judge"] = {**tr, **acc}
    train_x, _ = gq.held_out(data_spec, real_split)
    train_feats = judge.features(train_x).numpy()
    held_x, held_y = gq.held_out(data_spec, held_split)
    n_floor = min(len(held_x), 10 * per_label)
    floor = _floor(judge, held_x[:n_floor], held_y[:n_floor], train_feats, seed)
    real = gd.real_by_class(data_spec, judge, real_split, held_split)
    out["floor"] = floor
    out["seconds"]["judge_and_real"] = time.perf_counter() - t0

    # the diffusion model
    t0 = time.perf_counter()
    print(f"mnist: {per_label} samples per digit, {sampler} {steps} steps, guidance {guidance}...", flush=True)
    by_class = {}
    for c in range(10):
        images = generate_images(model, labels=c, n=per_label, steps=steps, sampler=sampler, guidance=guidance,
                                 seed=seed + c, batch_size=min(per_label, 50))
        by_class[c] = _as_judge_input(images)
    sample_seconds = time.perf_counter() - t0
    m = _score(by_class, judge, train_feats, real, per_label, seed)
    m.update(sample_seconds=sample_seconds, images_per_s=10 * per_label / sample_seconds)
    out["diffusion"] = m
    out["seconds"]["diffusion"] = time.perf_counter() - t0

    rows.add("MNIST judge", f"classifier held-out accuracy ({acc['n']} images)", f">= {_pct(JUDGE_ACCURACY)}",
             _pct(acc["held_out_accuracy"]), acc["held_out_accuracy"] >= JUDGE_ACCURACY)
    reused = " (reused)" if tr.get("reused") else ""
    rows.add("MNIST judge", f"training time ({clf_steps} steps)", "", f"{tr['train_seconds'] / 60:.1f} min{reused}")
    fpart = f"MNIST real floor ({n_floor} held-out)"
    rows.add(fpart, "judge accuracy / classifier IS", "",
             f"{_pct(floor['label_accuracy'])} / {floor['classifier_is_mean']:.2f}")
    rows.add(fpart, f"FID / KID x1e3 [judge features] vs {len(train_feats):,} train", "",
             f"{floor['fid_classifier']:.3g} / {1e3 * floor['kid_classifier_mean']:.3g}")
    _model_rows(rows, part, m, floor, judged=True)
    rows.add(part, f"sampling ({sampler} {steps} steps, guidance {guidance}, torch threads {threads})", "",
             f"{sample_seconds:.0f} s ({m['images_per_s']:.2f} images/s)")
    minutes = info.get("minutes")
    rows.add(part, "training time / data", "",
             (f"{minutes:.1f} min" if minutes is not None else "unknown") + f"; {out['model']['data_note']}")

    # the generative benchmark's conditional models
    from atelier.tasks.generate import load_generator, sample_images

    for b in BASELINES:
        t0 = time.perf_counter()
        bpart = f"MNIST {NAMES[b]} ({base_steps[b]} steps)"
        tr_b = _run(b, data_spec, base_steps[b], folders, train=baselines or quick)
        if tr_b is None:
            earlier = (record.get("quality") or {}).get(b)
            if earlier and "label_accuracy" in earlier:
                w = earlier.get("diversity", {}).get("worst", {})
                rows.add(bpart, "from generative.json (its own judge and N)", "",
                         f"label accuracy {_pct(earlier['label_accuracy'])}, worst-digit diversity ratio "
                         f"{w.get('diversity_ratio_pixels', float('nan')):.3f}, recall / floor "
                         f"{w.get('recall_vs_floor', float('nan')):.3f}; IS / FID not there")
                out[b] = {"from_generative_json": earlier}
            else:
                rows.add(bpart, "not run", "", "train it: .venv/bin/python benchmarks/generative.py --only "
                         f"classifier,quality --models {','.join(BASELINES)} --work {work}, then pass the same work folder")
                out[b] = {"status": "not run"}
            continue
        gen = load_generator(tr_b["run"])
        samples = {c: sample_images(gen, per_label, seed=seed + c, labels=c) for c in range(10)}
        mb = _score(samples, judge, train_feats, real, per_label, seed)
        out[b] = {**tr_b, **mb}
        _model_rows(rows, bpart, mb, floor, judged=False)
        rows.add(bpart, "training time", "", f"{tr_b['train_seconds'] / 60:.1f} min" + (" (reused)" if tr_b.get("reused") else ""))
        out["seconds"][b] = time.perf_counter() - t0
    out["seconds"]["total"] = time.perf_counter() - t_start
    return rows, out
