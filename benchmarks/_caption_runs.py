"""Captioners for the captioning benchmark: where each comes from, how it was trained, and
the runs the benchmark trains itself (``--quick`` throwaways, the random-encoder baseline).

A model is a shipped name (``caption-scenes``, ``caption-emoji``) or a run folder. ``source``
describes it without loading it: its status ("ok", or one line saying what is missing and how
to pass a run), the resolved training settings (``spec``, as ``resolve_run`` gives them: data,
data options, model config, recipe), the training command and minutes (``recipe.json`` of a
shipped model, ``config.json`` + ``log.jsonl`` of a run through ``run_recipe``).

``train`` trains a spec into ``work/NAME`` through ``atelier.tasks.training`` exactly as
``atelier train caption`` would (device cpu); a run that an earlier benchmark run finished
there with the same settings is reused (``benchmark_train.json`` records them).
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: Settings of the ``--quick`` throwaway captioners: 64 px encoder input (ImageNet weights),
#: a 1-layer 32-wide decoder, 32 px data, a few steps.
QUICK_SETS = ["image_size=64", "d_model=32", "layers=1", "heads=2", "finetune_blocks=1", "data.size=32",
              "steps=3", "batch_size=8", "checkpoint_every=3", "log_every=1", "warmup_steps=1",
              "freeze_encoder_steps=2", "val_images=4"]  # fmt: skip
#: Settings that say where a run goes, not how it trains (left out when comparing runs).
_PLACE = ("device",)
#: The train-section settings of a recipe that ``command_of`` spells out.
_RECIPE_TRAIN = ("steps", "batch_size", "seed", "precision", "grad_clip", "ema_decay", "validate_every")


def abs_data(data: str) -> str:
    """``data`` with a relative folder made absolute: against the current folder when it
    exists there, else against the repository root (recipes say ``../shared/data/...``)."""
    prefix, sep, rest = data.partition(":")
    path = rest if sep and prefix in ("captions", "coco") else data
    if not path or path in ("scenes", "shapes", "shapes-captions") or Path(path).is_absolute():
        return data
    for base in (Path.cwd(), ROOT):
        if (base / path).exists():
            found = str((base / path).resolve())
            return f"{prefix}:{found}" if sep and prefix in ("captions", "coco") else found
    return data


def parse_command(command: str) -> tuple[str, str, list[str]]:
    """(model, data, --set values) of an ``atelier train MODEL --data D --set K=V ...`` line."""
    words = shlex.split(command)
    if "train" not in words:
        raise ValueError(f"not an `atelier train` command: {command!r}")
    words = words[words.index("train") + 1 :]
    model, data, sets = words[0], None, []
    i = 1
    while i < len(words):
        word = words[i]
        key, eq, value = word.partition("=")
        if key in ("--data", "--set") and not eq:
            if i + 1 >= len(words):
                raise ValueError(f"{key} without a value in {command!r}")
            value, i = words[i + 1], i + 1
        if key == "--data":
            data = value
        elif key == "--set":
            sets.append(value)
        i += 1
    if data is None:
        raise ValueError(f"no --data in {command!r}")
    return model, data, sets


def _spec_from_recipe(recipe: dict[str, Any], fallback_command: str) -> dict[str, Any]:
    """The training settings of a shipped model: its command resolved, then the recipe's
    model config, hyper-parameters, steps and batch size over it."""
    from atelier.tasks.training import resolve_run

    command = recipe.get("command") or fallback_command
    try:
        model, data, sets = parse_command(command)
    except ValueError:  # a recipe of several resumed runs: the registry's command + the recipe
        model, data, sets = parse_command(fallback_command)
    sets = [s for s in sets if s.split("=", 1)[0] not in ("device", "train.device")]
    spec = resolve_run(model, data=abs_data(data), overrides=sets, check_device=False)
    if recipe.get("data"):  # recipes keep the run's data settings (run_recipe)
        spec["data"] = abs_data(recipe["data"])
        spec["data_options"] = dict(recipe.get("data_options") or {})
    spec["model_config"].update(recipe.get("model_config") or {})
    spec["hyper"].update(recipe.get("hyper") or {})
    for key in ("steps", "batch_size"):
        if recipe.get(key) is not None:
            spec["train"][key] = recipe[key]
    return spec


def source(spec: str, option: str) -> dict[str, Any]:
    """Describe model ``spec`` (a shipped name or a run folder); ``option`` is the flag that
    passes a run instead (named in the status line when the model is missing)."""
    from atelier.errors import AtelierError
    from atelier.pretrained import PRETRAINED, is_installed, pretrained_dir, pretrained_recipe, run_recipe
    from atelier.tasks.training import load_run_spec

    info: dict[str, Any] = {"model": spec, "status": "ok"}
    if spec in PRETRAINED:
        entry = PRETRAINED[spec]
        if not is_installed(spec):
            info["status"] = (f"{spec} is not installed (not trained yet): pass a run folder with {option} RUN "
                              f"(train one: {entry.train_command})")
            info["spec"] = _spec_from_recipe({}, entry.train_command)
            return info
        recipe = pretrained_recipe(spec) or {}
        info.update(kind="shipped", path=str(pretrained_dir(spec)), command=recipe.get("command"),
                    minutes=recipe.get("minutes"), best=recipe.get("best"))
        info["spec"] = _spec_from_recipe(recipe, entry.train_command)
        return info
    run = Path(spec).expanduser()
    if run.is_file():
        run = run.parent
    if not (run / "model.safetensors").is_file():
        info["status"] = f"{spec}: no such run folder (no model.safetensors); pass a run folder with {option} RUN"
        return info
    info.update(kind="run", path=str(run.resolve()))
    try:
        stored = load_run_spec(run)
    except AtelierError as exc:
        info["status"] = f"error: {exc}"
        return info
    stored["data"] = abs_data(stored["data"])
    info["spec"] = stored
    done = run / "benchmark_train.json"
    if done.is_file():
        record = json.loads(done.read_text())
        info.update(command=record["command"], minutes=round(record["train_seconds"] / 60, 1))
    elif (run / "log.jsonl").is_file():
        command = command_of(stored)
        recipe = run_recipe(run, command)
        info.update(command=command, minutes=recipe["minutes"], best=recipe["best"])
    return info


def command_of(spec: dict[str, Any]) -> str:
    """An ``atelier train`` line that gives ``spec`` (every data option, model and recipe
    setting spelled out)."""
    def value(v: Any) -> str:  # --set values are read as JSON, else as a string
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))

    sets = [f"data.{k}={value(v)}" for k, v in spec["data_options"].items()]
    sets += [f"model.{k}={value(v)}" for k, v in spec["model_config"].items() if k != "vocab_size"]
    sets += [f"hyper.{k}={value(v)}" for k, v in spec["hyper"].items()]
    sets += [f"train.{k}={value(spec['train'][k])}" for k in _RECIPE_TRAIN if k in spec["train"]]
    return (f"atelier train caption --data {shlex.quote(spec['data'])} "
            + " ".join(f"--set {shlex.quote(s)}" for s in sets) + " --out RUN")


def quick_spec(data: str, data_sets: list[str], pretrained: bool = True) -> dict[str, Any]:
    """The settings of a ``--quick`` throwaway captioner on ``data``."""
    from atelier.tasks.training import resolve_run

    sets = QUICK_SETS + data_sets + [f"pretrained={str(pretrained).lower()}", "device=cpu"]
    return resolve_run("caption", data=abs_data(data), overrides=sets, check_device=False)


def random_encoder_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with a randomly initialised encoder (``model.pretrained=false``), on the CPU."""
    from atelier.tasks.training import resolve_run

    base = json.loads(json.dumps(spec))
    base["model_config"]["pretrained"] = False
    base["fine_tune"] = {"init_from": None, "freeze_d": 0, "freeze": [], "lr_scale": 1.0}
    base["train"]["device"] = "cpu"
    return resolve_run(base["model"], data=base["data"], base=base, check_device=False)


def _comparable(spec: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(spec))
    for key in _PLACE:
        out["train"].pop(key, None)
    out["model_config"].pop("vocab_size", None)  # set from the tokenizer during training
    return out


def train(spec: dict[str, Any], work: Path, name: str) -> dict[str, Any]:
    """Train ``spec`` into ``work/NAME-HASH`` (``HASH``: of the settings, so a run an earlier
    benchmark finished there with the same settings is reused, and an unfinished one is
    continued); returns the ``source`` description of the run plus the wall time."""
    import hashlib

    from atelier.tasks.training import train_run

    same = _comparable(spec)
    digest = hashlib.sha1(json.dumps(same, sort_keys=True).encode()).hexdigest()[:8]
    run = work / f"{name}-{digest}"
    done = run / "benchmark_train.json"
    if (run / "model.safetensors").is_file() and done.is_file():
        record = json.loads(done.read_text())
        print(f"  reusing {run} (trained in {record['train_seconds'] / 60:.1f} min)", flush=True)
        return {**source(str(run), "--work"), "train_seconds": record["train_seconds"], "reused": True}
    spec = json.loads(json.dumps(spec))
    spec["train"]["device"] = "cpu"
    t0 = time.perf_counter()
    train_run(spec, run)
    seconds = time.perf_counter() - t0
    record = {"spec": same, "train_seconds": seconds, "command": command_of(spec)}
    done.write_text(json.dumps(record, indent=1))
    return {**source(str(run), "--work"), "train_seconds": seconds, "reused": False}
