"""Few-shot classification (issue 15): a pretrained backbone against training from scratch.

Two labelled sets, each written as PNG files into labelled folders (``train/<class>/<i>.png``,
the layout ``atelier train classifier --data FOLDER`` reads), for K = 5, 10, 20, 50 images
per class (each set contains the smaller ones), and a held-out test set of
``TEST_PER_CLASS`` images per class written the same way:

- ``mnist``: grey digits (``../shared/data/mnist10k``, IDX). Training images are the first
  K of each digit among images 0-7999, test images the first of each among 8000-9999.
- ``emoji``: colour drawings (``../shared/data/emoji72``), 4 categories from the CLDR names
  (:func:`emoji_category`): ``face`` (120 base emoji), ``person`` (270), ``symbol`` (153),
  ``other`` (1,103: animals, food, objects, places). Skin-tone variants are left out, so no
  near-copy of a test image is in training. Each category's files in name order are shuffled
  with a fixed seed; the last ``TEST_PER_CLASS`` are the test set, training takes the first K.

Each arm trains through the command's own code path (``resolve_run`` with the CLI's flags,
``backbone_freeze``, ``fine_tune_spec``, ``train_run``: what ``atelier train classifier``
calls), for the same number of steps and batch size, and is evaluated by
:func:`atelier.tasks.classify.probabilities` (what ``atelier classify`` calls) on the test
PNGs, top-1 accuracy:

- ``pretrained``: EfficientNet-Lite0 with its ImageNet weights, at 64 px, the head and the
  last ``UNFREEZE`` backbone stages trained (``--unfreeze-last``), the default fine-tuning
  recipe otherwise (head lr 1e-3, backbone lr 1e-4, label smoothing 0.1, crops and flips);
- ``scratch-same``: the same network and recipe from a random init (``pretrained=false``),
  every layer trained at lr 1e-3 (nothing to preserve);
- ``scratch-cnn``: atelier's small CNN (its default recipe: the generative benchmark's
  judge) at 32 px on MNIST, 64 px on emoji.

Target: ``pretrained`` beats each scratch arm at every shot count on each set (one row per
arm).

Measured (full runs, one CPU thread). MNIST (605 s wall, 388 CPU-s): pretrained 66.0 / 69.0 /
80.0 / 80.0 % at 5 / 10 / 20 / 50 per class, the same network from scratch 36.7 / 52.7 / 43.0
/ 38.0 % (PASS), the small CNN from scratch 79.3 / 88.0 / 97.3 / 87.3 % (MISS): on 28 px
digits, ImageNet features upsampled to 64 px lose to a small CNN made for them. Emoji
categories (1,445 s wall with two trainings beside it, 540 CPU-s; 120 test images):
pretrained 55.8 / 77.5 / 78.3 / 85.8 %, the same network from scratch 46.7 / 64.2 / 55.8 /
72.5 %, the small CNN 54.2 / 70.0 / 68.3 / 75.0 % (PASS on every row; at 5 per class by two
test images).

Run alone: ``.venv/bin/python benchmarks/_transfer_fewshot.py [--quick] [--sets mnist,emoji]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SHARED = HERE.parent.parent / "shared" / "data"
DATA = SHARED / "mnist10k"
EMOJI = SHARED / "emoji72"
PART = "fewshot-cls"
SETS = ("mnist", "emoji")
EMOJI_SEED = 0
#: The small CNN's input size per set (the pretrained arms work at 64 px on both).
CNN_SIZE = {"mnist": 32, "emoji": 64}
SHOTS = (5, 10, 20, 50)
TRAIN_POOL, TEST_POOL = (0, 8000), (8000, 10000)
TEST_PER_CLASS = 30
STEPS, BATCH = 100, 32
#: Torch threads during the part. One: on a 2-core machine shared with other jobs, two
#: OpenMP threads made every small op wait at a barrier for a core (a 32 px EfficientNet
#: forward measured 2.9 s with 2 threads, 21 ms with 1).
THREADS = 1
UNFREEZE = 3
#: arm -> (CLI flags, --set settings, freeze options): the command each arm stands for.
ARMS: dict[str, dict[str, Any]] = {
    "pretrained": {"flags": {"model.backbone": "efficientnet-lite0", "model.resolution": 64},
                   "sets": [], "unfreeze_last": UNFREEZE},
    "scratch-same": {"flags": {"model.backbone": "efficientnet-lite0", "model.resolution": 64},
                     "sets": ["pretrained=false", "lr_backbone=0.001"], "unfreeze_last": None},
    "scratch-cnn": {"flags": {"model.resolution": 32}, "sets": [], "unfreeze_last": None},
}


def write_digits(root: Path, pool: tuple[int, int], per_class: int) -> dict[int, list[Path]]:
    """The first ``per_class`` images of each digit in ``pool`` as ``root/<digit>/<index>.png``."""
    import numpy as np

    from atelier.data.idx import _labels_for, find_idx_images, read_idx
    from atelier.image import save_image

    images_file = find_idx_images(DATA)[0]
    images, labels = read_idx(images_file), read_idx(_labels_for(images_file))
    files: dict[int, list[Path]] = {d: [] for d in range(10)}
    for i in range(*pool):
        d = int(labels[i])
        if len(files[d]) < per_class:
            path = root / str(d) / f"{i:05d}.png"
            save_image(path, np.ascontiguousarray(images[i]), overwrite=True)
            files[d].append(path)
        if all(len(v) == per_class for v in files.values()):
            break
    return files


#: Words that put a base emoji in a category, checked in this order (first match wins).
PERSON_WORDS = ("man", "woman", "person", "boy", "girl", "baby", "men", "women", "people", "family", "couple", "kiss")
SYMBOL_WORDS = ("button", "square", "circle", "keycap", "sign", "symbol", "mark", "arrow", "diamond", "triangle")


def emoji_category(name: str) -> str:
    """The category of an emoji from its CLDR short name.

    Example
    -------
    >>> [emoji_category(n) for n in ("grinning face", "woman scientist", "up arrow", "lemon")]
    ['face', 'person', 'symbol', 'other']
    """
    words = name.replace(":", " ").split()
    if "face" in words:
        return "face"
    if words and words[0] in PERSON_WORDS:
        return "person"
    if any(w in SYMBOL_WORDS for w in words):
        return "symbol"
    return "other"


def emoji_split(test_per_class: int) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """``(pool, test)``: per category, the training pool (in order) and the test files."""
    import random

    rows = [json.loads(line) for line in (EMOJI / "metadata.jsonl").read_text("utf-8").splitlines() if line.strip()]
    groups: dict[str, list[Path]] = {}
    for r in sorted(rows, key=lambda r: r["file_name"]):
        if "skin tone" not in r["text"]:
            groups.setdefault(emoji_category(r["text"]), []).append(EMOJI / r["file_name"])
    pool, test = {}, {}
    for name in sorted(groups):
        files = groups[name]
        random.Random(f"{EMOJI_SEED}/{name}").shuffle(files)
        pool[name], test[name] = files[:-test_per_class], files[-test_per_class:]
    return pool, test


def copy_files(root: Path, files: dict[Any, list[Path]], per_class: int) -> dict[Any, list[Path]]:
    """The first ``per_class`` files of each class copied to ``root/<class>/``."""
    import shutil

    out: dict[Any, list[Path]] = {}
    for label, paths in files.items():
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        out[label] = [Path(shutil.copy(p, root / str(label) / p.name)) for p in paths[:per_class]]
    return out


def arm_flags(arm: str, dataset: str) -> dict[str, Any]:
    """The CLI flags of ``arm`` on ``dataset`` (the small CNN's size depends on the set)."""
    flags = dict(ARMS[arm]["flags"])
    if arm == "scratch-cnn":
        flags["model.resolution"] = CNN_SIZE[dataset]
    return flags


def command(arm: str, folder: str, out: str, steps: int, batch: int, seed: int, dataset: str = "mnist") -> str:
    """The ``atelier train classifier`` command line an arm's training stands for."""
    a = {**ARMS[arm], "flags": arm_flags(arm, dataset)}
    parts = ["atelier train classifier", f"--data {folder}"]
    if "model.backbone" in a["flags"]:
        parts.append(f"--backbone {a['flags']['model.backbone']}")
    parts.append(f"--size {a['flags']['model.resolution']}")
    if a["unfreeze_last"]:
        parts.append(f"--unfreeze-last {a['unfreeze_last']}")
    sets = [*a["sets"], f"steps={steps}", f"batch_size={batch}", f"train.seed={seed}", "device=cpu"]
    parts += [f"--set {s}" for s in sets] + [f"--out {out}"]
    return " ".join(parts)


def train_arm(arm: str, folder: Path, out: Path, steps: int, batch: int, seed: int,
              dataset: str = "mnist") -> dict[str, Any]:
    """Train one arm as ``atelier train classifier`` does; wall time and the last log record."""
    from atelier.tasks.training import (
        backbone_freeze,
        fine_tune_spec,
        resolve_run,
        train_run,
    )

    a = ARMS[arm]
    sets = [*a["sets"], f"steps={steps}", f"batch_size={batch}", f"train.seed={seed}", "device=cpu",
            f"checkpoint_every={steps}", f"log_every={steps}", "keep_checkpoints=1"]
    spec = resolve_run("classifier", data=str(folder), overrides=sets, flags=arm_flags(arm, dataset))
    freeze = backbone_freeze(spec, unfreeze_last=a["unfreeze_last"])
    spec = fine_tune_spec(spec, freeze=freeze, overrides=sets, flags=arm_flags(arm, dataset))
    last: dict[str, Any] = {}
    t0 = time.perf_counter()
    train_run(spec, out, on_log=last.update)
    return {"train_seconds": time.perf_counter() - t0, "last_log": last,
            "command": command(arm, str(folder), str(out), steps, batch, seed, dataset)}


def evaluate(run: Path, test: dict[int, list[Path]]) -> dict[str, Any]:
    """Top-1 accuracy of a run on the test PNGs, through atelier.tasks.classify."""
    import numpy as np

    from atelier.image import load_image
    from atelier.tasks.classify import class_names, load_classifier, probabilities

    model = load_classifier(run)
    names = class_names(model)
    paths = [(d, p) for d, files in test.items() for p in files]
    t0 = time.perf_counter()
    probs = probabilities([load_image(p, mode="keep", alpha="composite") for _, p in paths], model)
    predicted = [names[int(i)] for i in probs.argmax(1)]
    correct = np.array([pred == str(d) for (d, _), pred in zip(paths, predicted)])
    return {"accuracy": float(correct.mean()), "test_images": len(paths),
            "eval_seconds": time.perf_counter() - t0}


def _set_files(dataset: str, root: Path, test_per_class: int):
    """``(test files, writer of the K-per-class training folder)`` for ``dataset``."""
    if dataset == "mnist":
        return write_digits(root / "test", TEST_POOL, test_per_class), (
            lambda folder, k: write_digits(folder, TRAIN_POOL, k))
    pool, test = emoji_split(test_per_class)
    return copy_files(root / "test", test, test_per_class), (lambda folder, k: copy_files(folder, pool, k))


def run_set(dataset: str, shots, steps: int, batch: int, test_per_class: int, work: Path, seed: int) -> dict[str, Any]:
    """Every arm at every shot count on one labelled set: accuracies and run records."""
    result: dict[str, Any] = {"accuracy": {}, "runs": {}}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        root = Path(tmp)
        test, write_train = _set_files(dataset, root, test_per_class)
        result["classes"] = sorted(str(c) for c in test)
        for k in shots:
            folder = root / f"train-{k}"
            write_train(folder, k)
            b = min(batch, k * len(test))  # 5 emoji of each of 4 classes are less than a batch
            for arm in ARMS:
                out = root / f"run-{arm}-{k}"
                record = train_arm(arm, folder, out, steps, b, seed, dataset)
                record["batch_size"] = b
                record.update(evaluate(out, test))
                result["runs"][f"{arm}/{k}"] = record
                result["accuracy"].setdefault(arm, {})[k] = record["accuracy"]
                print(f"  {dataset} {arm:13s} {k:3d}/class: accuracy {record['accuracy']:.3f} "
                      f"(train {record['train_seconds']:.0f} s, eval {record['eval_seconds']:.0f} s)", flush=True)
    return result


def run(quick: bool, work: Path, seed: int = 0, sets=SETS) -> tuple[list, dict[str, Any]]:
    """The few-shot rows ``(part, measure, target, measured, result)`` and every figure."""
    rows: list = []
    folders = {"mnist": DATA, "emoji": EMOJI}
    present = [d for d in sets if folders[d].is_dir()]
    for d in sets:
        if d not in present:
            rows.append((PART, d, "", f"SKIP: {folders[d]} is absent (../shared/data/README.md)", "-"))
    if not present:
        return rows, {"skipped": [str(folders[d]) for d in sets]}
    shots = (5,) if quick else SHOTS
    steps, batch = (2, 8) if quick else (STEPS, BATCH)
    test_per_class = 2 if quick else TEST_PER_CLASS
    work.mkdir(parents=True, exist_ok=True)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    result: dict[str, Any] = {"quick": quick, "seed": seed, "shots": list(shots), "steps": steps, "batch_size": batch,
                              "test_per_class": test_per_class, "arms": ARMS, "cnn_size": CNN_SIZE, "sets": {}}
    try:
        for dataset in present:
            result["sets"][dataset] = run_set(dataset, shots, steps, batch, test_per_class, work, seed)
    finally:
        torch.set_num_threads(threads)
    result["seconds"] = time.perf_counter() - t_start
    result["cpu_seconds"] = time.process_time() - cpu_start  # this process: all training and evaluation
    result["torch_threads"] = THREADS
    for dataset in present:
        acc, label = result["sets"][dataset]["accuracy"], {"mnist": "MNIST", "emoji": "emoji categories"}[dataset]
        for k in shots:
            for rival in ("scratch-same", "scratch-cnn"):
                ok = acc["pretrained"][k] > acc[rival][k]
                b = result["sets"][dataset]["runs"][f"pretrained/{k}"]["batch_size"]
                rows.append((PART, f"{label} top-1, {k}/class, {steps} steps x {b}", f"pretrained > {rival}",
                             f"{100 * acc['pretrained'][k]:.1f} % vs {100 * acc[rival][k]:.1f} %",
                             "-" if quick else ("PASS" if ok else "MISS")))
        runs = result["sets"][dataset]["runs"]
        times = {arm: sum(r["train_seconds"] for key, r in runs.items() if key.startswith(arm + "/")) for arm in ARMS}
        rows.append((PART, f"{label}: training wall time, all shot counts", "",
                     ", ".join(f"{a} {t:.0f} s" for a, t in times.items()), "-"))
        result["sets"][dataset]["train_seconds_by_arm"] = times
    rows.append((PART, "whole part: wall, CPU time", "", f"{result['seconds']:.0f} s, {result['cpu_seconds']:.0f} CPU-s", "-"))
    return rows, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", default=str(HERE.parent / "runs" / "bench-fewshot"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", default=",".join(SETS), help="Comma-separated: mnist, emoji.")
    parser.add_argument("--json", default=None, help="Write the figures here.")
    args = parser.parse_args()
    from _report import print_table

    sets = tuple(s for s in args.sets.split(",") if s)
    if not set(sets) <= set(SETS):
        parser.error(f"--sets takes {', '.join(SETS)}")
    rows, result = run(args.quick, Path(args.work), args.seed, sets)
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
