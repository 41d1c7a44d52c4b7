"""emoji72 part of the text-to-image benchmark: the text-conditional diffusion model drawing
emoji from their names, against the real set, with a memorisation check and a sample sheet.

Data: the model's own data settings (a run's ``config.json``, a shipped model's
``recipe.json``; normally ``../shared/data/emoji72``, 3,543 Noto emoji with their CLDR names,
read by atelier's captioned-folder dataset: transparency composited on white, resized to the
model's resolution). Its training part (``data.split`` / ``data.train_split``, default
``train``) gives the **seen names**; when that is ``train``, the held-out ``test`` part gives
the **unseen names** (about 10 % of the emoji, by a hash of ``group_by``'s key: with the
default ``group_by=file`` an unseen name may be a skin-tone variant of a seen one).

Protocol
--------
* **samples**: ``n`` (1,000) images, one per seen name (names of distinct training images in
  a seeded random order, cycled if there are fewer), and one per unseen name (``n_unseen``,
  default all of them; a name with no word the model's vocabulary knows cannot be drawn and
  is counted apart), ``generate_images(sampler="ddim", steps=50, guidance=3)``.
* **FID / KID** (KID x 1e3 in the table) on pooled ImageNet EfficientNet-Lite0 features
  (1280-d; the extractor resizes every image to 224 px the same way, bilinear antialiased,
  after the dataset read the real ones at the model's resolution, where the samples are
  drawn). The real set is split in two halves by a hash of the emoji's base name (its first
  caption without skin-tone modifiers: every skin-tone variant on one side, so the floor is
  not flattered by near-copies); the samples are compared with half B, and the **floor** is
  as many real images of half A (equal N, since FID grows as N shrinks) against the same
  half B. Lower is better; the floor is what real data scores.
* **memorisation**: for each sample, the distance to its nearest training image (Euclidean,
  in the same EfficientNet-Lite0 feature space; and in pixels, RMS difference in 8-bit units
  at the model's resolution), against the training images' nearest-neighbour distances among
  themselves (each to its nearest other training image). Reported: the share of samples
  nearer to a training image than the 5th percentile of those real-real distances (lower is
  better). A copy machine that returns training images scores 100 %; real held-out images
  (the unseen part's own pictures) are scored beside it as the reference of fresh drawings
  (near 5 % where they are as far from the training set as training images are from one
  another; skin-tone siblings across parts push it up).
* **sample sheet**: 16 seen and 16 unseen names (32 seen without an unseen part), 2 images
  each, the name written under them (Pillow), saved as ``work/t2i-emoji-sheet.png``; its
  path is in the returned dict (``sheet``).

Cost: sampling dominates. The recipe's default 32 px U-Net (width 64, 12.9 M parameters) took
0.23 s per image and DDIM step with guidance on one busy CPU thread (December 2026): the
~1,430 images of a full run at 50 steps are hours there; pass ``steps`` / ``sampler="dpm"``,
``n`` or ``n_unseen`` smaller for a shorter run (the settings go into the JSON).

No target is judged here (issue 13 sets none for emoji72): the table gives each figure beside
its floor or reference. ``quick``: a throwaway 2-step 16 px run when ``model_source`` is None,
16 seen and 8 unseen names, 3 sampler steps, 128 real images: every code path, no meaning.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

DATA = HERE.parent.parent / "shared" / "data" / "emoji72"
SHEET = "t2i-emoji-sheet.png"
PERCENTILE = 5.0
TRAIN_COMMAND = "atelier train diffusion --data ../shared/data/emoji72 --set cond=text --out RUN"
#: Settings of the ``quick`` throwaway text-conditional run.
QUICK_DIFFUSION = ["cond=text", "resolution=16", "width=16", "channel_mults=[1,2]", "res_blocks=1",
                   "attention_resolutions=[]", "text_dim=32", "text_layers=1", "steps=2", "batch_size=4",
                   "checkpoint_every=2", "log_every=1", "val_images=0", "sample_images=0", "validate_every=2",
                   "device=cpu"]


def _quick_model(work: Path, data: Path) -> dict[str, Any]:
    """A throwaway 2-step text-conditional run on ``data`` in ``work`` (reused when there)."""
    from _t2i_mnist import _describe
    from atelier.tasks.training import resolve_run, train_run

    run = work / "quick-t2i-emoji"
    if not (run / "model.safetensors").is_file():
        print("quick: a throwaway 2-step emoji72 diffusion run...", flush=True)
        spec = resolve_run("diffusion", data=str(data.resolve()), overrides=QUICK_DIFFUSION, check_device=False)
        train_run(spec, run)
    return _describe(run, "--emoji-model")


def _tensor(images):
    """``(N, H, W, C)`` uint8 -> ``(N, C, H, W)`` float32 in [0, 1]."""
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


def _usable(model, prompts: list[str]) -> tuple[list[str], int, int]:
    """The prompts the model can draw (at least one known word), how many were dropped (no
    known word) and how many of the kept ones have unknown words (read as [UNK])."""
    from atelier.errors import InvalidArgument
    from atelier.tasks.diffusion_model import check_prompt

    kept, dropped, partial = [], 0, 0
    limit = int(model.net.config.text_max_length)
    for p in prompts:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                check_prompt(p, model.tokenizer, limit)
            except InvalidArgument:
                dropped += 1
                continue
        partial += any("unknown" in str(w.message).lower() or "[unk]" in str(w.message).lower() for w in caught)
        kept.append(p)
    return kept, dropped, partial


def _generate(model, prompts: list[str], *, steps: int, sampler: str, guidance: float, seed: int):
    """One image per prompt, ``(N, H, W, C)`` uint8; a line every 10 % of a long run."""
    from atelier.tasks.diffusion_sample import generate_images

    t0, shown = time.perf_counter(), [0]

    def progress(done: int, total: int) -> None:
        tenth = 10 * done // total
        if len(prompts) >= 100 and tenth > shown[0]:
            shown[0] = tenth
            print(f"  {10 * tenth} % ({time.perf_counter() - t0:.0f} s)", flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown words were counted by _usable
        return generate_images(model, prompts=prompts, n=len(prompts), steps=steps, sampler=sampler,
                               guidance=guidance, seed=seed, batch_size=32, progress=progress)


def _nn_distances(queries, keys, exclude_self: bool = False):
    """Distance of each row of ``queries`` to its nearest row of ``keys`` (Euclidean), in
    blocks; ``exclude_self``: queries are keys (a row's own distance does not count)."""
    import numpy as np
    import torch

    q, k = torch.as_tensor(queries, dtype=torch.float32), torch.as_tensor(keys, dtype=torch.float32)
    out = []
    for start in range(0, len(q), 256):
        d = torch.cdist(q[start:start + 256], k)
        if exclude_self:
            rows = torch.arange(d.shape[0])
            d[rows, rows + start] = float("inf")
        out.append(d.min(1).values)
    return np.asarray(torch.cat(out).numpy(), dtype=np.float64)


def _memorisation(samples: dict[str, Any], train: Any, held: Any | None) -> dict[str, Any]:
    """Share of each set of ``samples`` (and of ``held``, real held-out) nearer to a training
    image than the 5th percentile of the training images' NN distances among themselves."""
    import numpy as np

    real_nn = _nn_distances(train, train, exclude_self=True)
    threshold = float(np.percentile(real_nn, PERCENTILE))
    out: dict[str, Any] = {"threshold": threshold, "real_real_nn_median": float(np.median(real_nn)),
                           "n_train": int(len(train)), "percentile": PERCENTILE}
    sets = dict(samples)
    if held is not None and len(held):
        sets["real_held_out"] = held
    for name, x in sets.items():
        if x is None or not len(x):
            continue
        d = _nn_distances(x, train)
        out[name] = {"n": int(len(x)), "share_below": float((d <= threshold).mean()),
                     "nn_median": float(np.median(d))}
    return out


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _wrap(draw, text: str, font, width: int, lines: int) -> list[str]:
    """``text`` in at most ``lines`` lines of at most ``width`` px (the last cut with "...")."""
    words, out, line = text.split(), [], ""
    for w in words:
        trial = f"{line} {w}".strip()
        if draw.textlength(trial, font=font) <= width or not line:
            line = trial
        else:
            out.append(line)
            line = w
    if line:
        out.append(line)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1] + "..."
    for i, s in enumerate(out):  # a single over-long word
        while draw.textlength(s, font=font) > width and len(s) > 4:
            s = s[:-4] + "..."
        out[i] = s
    return out


def sample_sheet(groups: list[tuple[str, list[tuple[str, Any, Any]]]], path: Path, cell: int = 96,
                 cols: int = 8) -> Path:
    """A PNG of titled groups of ``(caption, image_a, image_b)`` (``H x W x C`` uint8): each
    pair side by side at ``cell`` px (nearest-neighbour when enlarged), its caption under it."""
    from PIL import Image, ImageDraw

    font, title_font = _font(11), _font(14)
    pad, line_h, n_lines, title_h = 8, 13, 3, 24
    cell_w, cell_h = 2 * cell + 2, cell + n_lines * line_h + 4
    width = pad + cols * (cell_w + pad)
    height = pad + sum(title_h + -(-len(items) // cols) * (cell_h + pad) for _, items in groups)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    y = pad
    for title, items in groups:
        draw.text((pad, y + 4), title, fill="black", font=title_font)
        y += title_h
        for i, (caption, a, b) in enumerate(items):
            x0, y0 = pad + (i % cols) * (cell_w + pad), y + (i // cols) * (cell_h + pad)
            for j, img in enumerate((a, b)):
                im = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
                resample = Image.NEAREST if im.width < cell else Image.LANCZOS
                sheet.paste(im.convert("RGB").resize((cell, cell), resample), (x0 + j * (cell + 2), y0))
            for k, line in enumerate(_wrap(draw, caption, font, cell_w, n_lines)):
                draw.text((x0, y0 + cell + 2 + k * line_h), line, fill="black", font=font)
        y += -(-len(items) // cols) * (cell_h + pad)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _real_set(spec: dict[str, Any], model, limit: int | None, seed: int) -> dict[str, Any]:
    """Every real image at the model's resolution (``limit``: a seeded subset), its id, base
    name, and which part (train / test) it is in, with the parts' captions."""
    import numpy as np
    import torch

    from atelier.data.captioned import group_hash, strip_skin_tones
    from atelier.train.objectives.diffusion import open_dataset

    options = dict(spec.get("data_options") or {})
    kw = dict(size=model.resolution, channels=model.channels, labels=False)
    whole = open_dataset(spec["data"], options, split=None, **kw)
    train_split = options.get("split") or options.get("train_split", "train")
    train = open_dataset(spec["data"], options, split=train_split, **kw)
    test = open_dataset(spec["data"], options, split="test", **kw) if train_split == "train" else None
    ids = np.asarray(whole.image_ids)
    if limit is not None and limit < len(ids):
        ids = np.sort(np.random.default_rng(seed).choice(ids, limit, replace=False))
    images, kept = [], []
    for i in ids:
        try:
            images.append(whole.image_tensor(int(i)))
            kept.append(int(i))
        except Exception:  # a corrupt file: left out, as the dataset leaves it out of training
            continue
    ids = np.asarray(kept)
    half_b = np.array([group_hash(strip_skin_tones(whole.captions(int(i))[0])) >= 0.5 for i in ids])
    in_train = np.isin(ids, np.asarray(train.image_ids))
    in_test = np.isin(ids, np.asarray(test.image_ids)) if test is not None else np.zeros(len(ids), bool)
    return {"images": torch.stack(images), "ids": ids, "half_b": half_b, "in_train": in_train,
            "in_test": in_test, "train_split": train_split,
            "train_captions": [train.captions(int(i))[0] for i in train.image_ids],
            "test_captions": [] if test is None else [test.captions(int(i))[0] for i in test.image_ids],
            "n_images": int(whole.num_images) if hasattr(whole, "num_images") else len(whole.image_ids)}


def emoji_part(model_source: Any, *, work: Path, quick: bool, threads: int, sampler: str = "ddim",
               steps: int | None = None, guidance: float = 3.0, n: int | None = None,
               n_unseen: int | None = None, seed: int = 0, data: Path = DATA,
               option: str = "--emoji-model") -> tuple[list, dict[str, Any]]:
    """Rows ``(part, measure, target, measured, result)`` and every figure of the emoji part.

    ``model_source``: a shipped name (``t2i-emoji``) or a run folder; None in ``quick`` trains a
    throwaway. ``n`` seen-name samples (default 1,000, quick 16), ``n_unseen`` unseen-name
    samples (default all, quick 8), ``steps`` (default 50, quick 3); ``data``: the emoji72
    folder of the quick throwaway; ``option``: the flag named in the "model missing" row."""
    import numpy as np
    import torch

    from _caption_rows import Rows
    from _t2i_features import cached_features
    from _t2i_mnist import _describe
    from atelier.errors import AtelierError
    from atelier.metrics import fid, kid
    from atelier.metrics.features import get_extractor
    from atelier.tasks.diffusion_model import load_diffusion

    torch.set_num_threads(threads)
    t_start = time.perf_counter()
    rows = Rows(judge=not quick)  # no target in this part: only a missing model reads MISS
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    steps = steps or (3 if quick else 50)
    n = n or (16 if quick else 1000)
    if n_unseen is None and quick:
        n_unseen = 8
    out: dict[str, Any] = {"settings": {"quick": quick, "sampler": sampler, "steps": steps, "guidance": guidance,
                                        "n_seen": n, "n_unseen": n_unseen, "seed": seed, "threads": threads,
                                        "features": "efficientnet-lite0", "percentile": PERCENTILE},
                           "seconds": {}}
    part = "emoji72 t2i"
    if model_source is None and quick:
        if not (Path(data) / "metadata.jsonl").is_file():
            rows.add(part, "data", "", f"SKIP: {data}/metadata.jsonl is absent (../shared/data/emoji72)")
            return rows, {**out, "status": "data absent"}
        info = _quick_model(work / "t2i-emoji-quick", Path(data))
    elif model_source is None:
        info = {"model": "(none)", "status": f"no model given: pass a shipped name or a run folder with {option} RUN "
                                              f"(train one: {TRAIN_COMMAND})"}
    else:
        info = _describe(model_source, option)
    model = None
    if info["status"] == "ok":
        try:
            model = load_diffusion(info.get("path") or info["model"])
            if model.cond != "text":
                info["status"] = f"{info['model']} is a {model.cond}-conditional model, not a text one; pass a run with {option} RUN"
                model = None
        except AtelierError as exc:
            info["status"] = f"error: {exc}"
    out["model"] = {k: v for k, v in info.items()}
    if model is None:
        rows.add(part, f"model {info['model']}", "", info["status"], False)
        return rows, out
    name = Path(info["model"]).name if info.get("kind") == "run" else info["model"]
    part = f"emoji72 t2i {name}"
    spec = info["spec"]
    out["model"]["resolution"] = model.resolution

    # the real set and its features
    t0 = time.perf_counter()
    print(f"emoji72: real images at {model.resolution} px, EfficientNet-Lite0 features...", flush=True)
    real = _real_set(spec, model, 128 if quick else None, seed)
    eff = get_extractor("efficientnet-lite0", device="cpu", batch_size=64)
    real_feats = cached_features(  # the slowest step: ~9 min for 3,543 images on one busy thread
        eff, [spec["data"], spec.get("data_options") or {}, list(real["images"].shape[1:]), real["ids"].tolist()],
        lambda: real["images"], work, "emoji-real", rows=len(real["ids"]))
    out["seconds"]["real_features"] = time.perf_counter() - t0

    # the prompts: seen names (distinct training images, seeded order), unseen (test part)
    rng = np.random.default_rng(seed)
    train_captions = real["train_captions"]
    order = rng.permutation(len(train_captions))
    seen = [train_captions[order[i % len(order)]] for i in range(n)]
    unseen_all = [real["test_captions"][i] for i in rng.permutation(len(real["test_captions"]))]
    if n_unseen is not None:
        unseen_all = unseen_all[:n_unseen]
    seen, seen_dropped, seen_partial = _usable(model, seen)
    unseen, unseen_dropped, unseen_partial = _usable(model, unseen_all)

    t0 = time.perf_counter()
    print(f"emoji72: {len(seen)} seen + {len(unseen)} unseen names, {sampler} {steps} steps, guidance {guidance}...",
          flush=True)
    fake_seen = _generate(model, seen, steps=steps, sampler=sampler, guidance=guidance, seed=seed)
    fake_unseen = (_generate(model, unseen, steps=steps, sampler=sampler, guidance=guidance, seed=seed + 1)
                   if unseen else None)
    sample_seconds = time.perf_counter() - t0
    n_drawn = len(seen) + len(unseen)
    out["sampling"] = {"seconds": sample_seconds, "images": n_drawn, "images_per_s": n_drawn / sample_seconds,
                       "seen_dropped_no_known_word": seen_dropped, "seen_with_unknown_words": seen_partial,
                       "unseen_names": len(real["test_captions"]), "unseen_dropped_no_known_word": unseen_dropped,
                       "unseen_with_unknown_words": unseen_partial}

    # FID / KID against half B, beside real half A of the same N
    t0 = time.perf_counter()
    feats = {"seen": eff.features(_tensor(fake_seen)).numpy()}
    if fake_unseen is not None:
        feats["unseen"] = eff.features(_tensor(fake_unseen)).numpy()
    ref = real_feats[real["half_b"]]
    half_a = real_feats[~real["half_b"]][rng.permutation(int((~real["half_b"]).sum()))]
    dist: dict[str, Any] = {"reference": "real half B", "n_reference": int(len(ref)), "n_half_a": int(len(half_a))}
    for key, f in feats.items():
        m = min(len(f), len(half_a))
        fk, fks = kid(f, ref, seed=seed)
        rk, rks = kid(half_a[:m], ref, seed=seed)
        dist[key] = {"n": int(len(f)), "fid": fid(f, ref), "kid_mean": fk, "kid_std": fks,
                     "floor_n": int(m), "floor_fid": fid(half_a[:m], ref), "floor_kid_mean": rk, "floor_kid_std": rks}
    out["distribution"] = dist

    # memorisation: features and pixels
    train_mask, test_mask = real["in_train"], real["in_test"]
    pixels = (real["images"].reshape(len(real["images"]), -1) * 255.0).numpy()
    root_d = float(pixels.shape[1]) ** 0.5  # RMS in 8-bit units: Euclidean / sqrt(D)

    def px(images):
        return None if images is None else _tensor(images).reshape(len(images), -1).numpy() * 255.0 / root_d

    mem = {"features": _memorisation(feats, real_feats[train_mask], real_feats[test_mask]),
           "pixels_rms": _memorisation({"seen": px(fake_seen), "unseen": px(fake_unseen)},
                                       pixels[train_mask] / root_d, pixels[test_mask] / root_d)}
    out["memorisation"] = mem
    out["seconds"]["metrics"] = time.perf_counter() - t0

    # the sample sheet: 16 seen + 16 unseen names (32 seen without an unseen part), 2 images each
    t0 = time.perf_counter()
    sheet_seen = list(dict.fromkeys(seen))[: 16 if unseen else 32]
    sheet_unseen = list(dict.fromkeys(unseen))[:16]
    groups = []
    for title, names, s in (("seen names (training part)", sheet_seen, seed + 2),
                            ("unseen names (held-out test part)", sheet_unseen, seed + 3)):
        if not names:
            continue
        imgs = _generate(model, [p for p in names for _ in range(2)], steps=steps, sampler=sampler,
                         guidance=guidance, seed=s)
        groups.append((title, [(p, imgs[2 * i], imgs[2 * i + 1]) for i, p in enumerate(names)]))
    sheet = sample_sheet(groups, work / SHEET)
    out["sheet"] = str(sheet)
    out["sheet_prompts"] = {"seen": sheet_seen, "unseen": sheet_unseen}
    out["seconds"]["sheet"] = time.perf_counter() - t0
    out["seconds"]["total"] = time.perf_counter() - t_start

    # rows
    rows.add(part, "real images / train part / test part (at the model's px)", "",
             f"{len(real['ids'])} / {int(train_mask.sum())} / {int(test_mask.sum())} ({model.resolution} px, "
             f"train split {real['train_split']!r})")
    for key, label in (("seen", "seen names"), ("unseen", "unseen names")):
        if key not in dist:
            continue
        d = dist[key]
        rows.add(part, f"FID [efficientnet-lite0] {label}, {d['n']} vs real half B ({len(ref)})", "vs floor",
                 f"{d['fid']:.2f} (floor: {d['floor_n']} real of half A {d['floor_fid']:.2f})")
        rows.add(part, f"KID x1e3 [efficientnet-lite0] {label}", "vs floor",
                 f"{1e3 * d['kid_mean']:.2f} +- {1e3 * d['kid_std']:.2f} (floor {1e3 * d['floor_kid_mean']:.2f})")
    if "unseen" not in dist:
        rows.add(part, "unseen names", "", "none: the run's training split is not 'train' (no test part)")
    for space, label in (("features", "features"), ("pixels_rms", "pixels, RMS 8-bit")):
        mm = mem[space]
        shares = ", ".join(f"{k} {100 * mm[k]['share_below']:.1f} %" for k in ("seen", "unseen", "real_held_out")
                           if k in mm)
        rows.add(part, f"memorisation [{label}]: share nearer a training image than real-real p5",
                 "lower; copy = 100 %", shares)
    s = out["sampling"]
    rows.add(part, "names with no known word (not drawn) / with unknown words ([UNK])", "",
             f"seen {s['seen_dropped_no_known_word']} / {s['seen_with_unknown_words']} of {n}; unseen "
             f"{s['unseen_dropped_no_known_word']} / {s['unseen_with_unknown_words']} of {len(unseen_all)}")
    rows.add(part, f"sampling ({sampler} {steps} steps, guidance {guidance}, torch threads {threads})", "",
             f"{n_drawn} images in {sample_seconds:.0f} s ({s['images_per_s']:.2f} images/s)")
    minutes = info.get("minutes")
    rows.add(part, "training time", "", f"{minutes:.1f} min" if minutes is not None else "unknown")
    rows.add(part, "sample sheet (32 names x 2)", "", str(sheet))
    return rows, out
