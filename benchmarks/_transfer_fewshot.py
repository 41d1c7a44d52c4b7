"""Few-shot classification (issue 15): a pretrained backbone against training from scratch.

MNIST digits (``../shared/data/mnist10k``, IDX): the first K images of each digit among
images 0-7999 are written as PNG files into a labelled folder (``train/<digit>/<i>.png``,
the layout ``atelier train classifier --data FOLDER`` reads), for K = 5, 10, 20, 50 images
per class (each set contains the smaller ones); the held-out test set is the first
``TEST_PER_CLASS`` images of each digit among images 8000-9999, written the same way.

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
- ``scratch-cnn``: atelier's small CNN at 32 px (its default recipe: the generative
  benchmark's judge).

Target: ``pretrained`` beats each scratch arm at every shot count (one row per arm).

Measured (full run, one CPU thread, 605 s wall, 388 CPU-s): pretrained 66.0 / 69.0 / 80.0 /
80.0 % at 5 / 10 / 20 / 50 per class, the same network from scratch 36.7 / 52.7 / 43.0 /
38.0 % (PASS), the small CNN from scratch 79.3 / 88.0 / 97.3 / 87.3 % (MISS): on 28 px
digits, ImageNet features upsampled to 64 px lose to a small CNN made for them.

Run alone: ``.venv/bin/python benchmarks/_transfer_fewshot.py [--quick]``.
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

DATA = HERE.parent.parent / "shared" / "data" / "mnist10k"
PART = "fewshot-cls"
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


def command(arm: str, folder: str, out: str, steps: int, batch: int, seed: int) -> str:
    """The ``atelier train classifier`` command line an arm's training stands for."""
    a = ARMS[arm]
    parts = ["atelier train classifier", f"--data {folder}"]
    if "model.backbone" in a["flags"]:
        parts.append(f"--backbone {a['flags']['model.backbone']}")
    parts.append(f"--size {a['flags']['model.resolution']}")
    if a["unfreeze_last"]:
        parts.append(f"--unfreeze-last {a['unfreeze_last']}")
    sets = [*a["sets"], f"steps={steps}", f"batch_size={batch}", f"train.seed={seed}", "device=cpu"]
    parts += [f"--set {s}" for s in sets] + [f"--out {out}"]
    return " ".join(parts)


def train_arm(arm: str, folder: Path, out: Path, steps: int, batch: int, seed: int) -> dict[str, Any]:
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
    spec = resolve_run("classifier", data=str(folder), overrides=sets, flags=dict(a["flags"]))
    freeze = backbone_freeze(spec, unfreeze_last=a["unfreeze_last"])
    spec = fine_tune_spec(spec, freeze=freeze, overrides=sets, flags=dict(a["flags"]))
    last: dict[str, Any] = {}
    t0 = time.perf_counter()
    train_run(spec, out, on_log=last.update)
    return {"train_seconds": time.perf_counter() - t0, "last_log": last,
            "command": command(arm, str(folder), str(out), steps, batch, seed)}


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


def run(quick: bool, work: Path, seed: int = 0) -> tuple[list, dict[str, Any]]:
    """The few-shot rows ``(part, measure, target, measured, result)`` and every figure."""
    rows: list = []
    if not DATA.is_dir():
        rows.append((PART, "all", "", f"SKIP: {DATA} is absent (../shared/data/README.md)", "-"))
        return rows, {"skipped": str(DATA)}
    shots = (5,) if quick else SHOTS
    steps, batch = (2, 8) if quick else (STEPS, BATCH)
    test_per_class = 2 if quick else TEST_PER_CLASS
    work.mkdir(parents=True, exist_ok=True)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    result: dict[str, Any] = {"quick": quick, "seed": seed, "shots": list(shots), "steps": steps, "batch_size": batch,
                              "test_per_class": test_per_class, "arms": ARMS, "accuracy": {}, "runs": {}}
    try:
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            root = Path(tmp)
            test = write_digits(root / "test", TEST_POOL, test_per_class)
            for k in shots:
                folder = root / f"train-{k}"
                write_digits(folder, TRAIN_POOL, k)
                for arm in ARMS:
                    out = root / f"run-{arm}-{k}"
                    record = train_arm(arm, folder, out, steps, batch, seed)
                    record.update(evaluate(out, test))
                    result["runs"][f"{arm}/{k}"] = record
                    result["accuracy"].setdefault(arm, {})[k] = record["accuracy"]
                    print(f"  {arm:13s} {k:3d}/class: accuracy {record['accuracy']:.3f} "
                          f"(train {record['train_seconds']:.0f} s, eval {record['eval_seconds']:.0f} s)", flush=True)
    finally:
        torch.set_num_threads(threads)
    result["seconds"] = time.perf_counter() - t_start
    result["cpu_seconds"] = time.process_time() - cpu_start  # this process: all training and evaluation
    result["torch_threads"] = THREADS
    acc = result["accuracy"]
    for k in shots:
        for rival in ("scratch-same", "scratch-cnn"):
            ok = acc["pretrained"][k] > acc[rival][k]
            rows.append((PART, f"MNIST top-1, {k}/class, {steps} steps x {batch}", f"pretrained > {rival}",
                         f"{100 * acc['pretrained'][k]:.1f} % vs {100 * acc[rival][k]:.1f} %",
                         "-" if quick else ("PASS" if ok else "MISS")))
    times = {arm: sum(r["train_seconds"] for key, r in result["runs"].items() if key.startswith(arm + "/"))
             for arm in ARMS}
    rows.append((PART, "training wall time, all shot counts", "", ", ".join(f"{a} {t:.0f} s" for a, t in times.items()),
                 "-"))
    rows.append((PART, "whole part: wall, CPU time", "", f"{result['seconds']:.0f} s, {result['cpu_seconds']:.0f} CPU-s", "-"))
    result["train_seconds_by_arm"] = times
    return rows, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", default=str(HERE.parent / "runs" / "bench-fewshot"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="Write the figures here.")
    args = parser.parse_args()
    from _report import print_table

    rows, result = run(args.quick, Path(args.work), args.seed)
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
