"""Task ``train``: train a generator on a built-in dataset (or a folder the studio holds), into a
named run; the same run name again continues it exactly (the Trainer's resume)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from atelier.errors import InvalidArgument
from atelier.ops.registry import Range
from atelier.tasks.registry import TaskContext, TaskResult, is_safe_name, register_task

#: Datasets a training job may name without a path.
BUILT_IN_DATA = ("shapes", "digits", "faces", "scenes", "shapes-captions")


def dataset_source(ctx: TaskContext, data: str) -> str:
    """A built-in dataset's name, or (a plain name) a folder under ``work_dir/datasets``;
    with ``allow_paths`` any folder path."""
    if data in BUILT_IN_DATA:
        return data
    if ctx.allow_paths and not is_safe_name(data):
        return data
    if not is_safe_name(data):
        raise InvalidArgument(f"dataset {data!r}: give a dataset's name, not a path")
    folder = (ctx.work_dir or Path(".")) / "datasets" / data
    if not folder.is_dir():
        raise InvalidArgument(f"unknown dataset {data!r} (built in: {', '.join(BUILT_IN_DATA)}; "
                              f"or a folder of images under {folder.parent})")
    return str(folder)


def _overrides(settings: str) -> list[str]:
    pairs = settings.split()
    for pair in pairs:
        if not re.fullmatch(r"[A-Za-z_][\w.]*=\S+", pair):
            raise InvalidArgument(f"settings: expected key=value pairs separated by spaces, got {pair!r}")
    return pairs


def _precheck(ctx: TaskContext, params: dict[str, Any]) -> None:
    _overrides(params["settings"])
    if params["run"] is not None and not is_safe_name(params["run"]):
        raise InvalidArgument(f"run name {params['run']!r}: use letters, digits, - _ and . only")
    if params["run"] is None or not (ctx.runs_dir() / params["run"] / "checkpoints").is_dir():
        dataset_source(ctx, params["data"])  # a new run: its data must exist


@register_task("train", category="train", outputs=("samples",), long=True, precheck=_precheck)
def train_task(
    ctx: TaskContext,
    *,
    model: Annotated[Literal["dcgan", "cgan", "vae", "cvae", "vaegan", "diffusion"], "model family"] = "dcgan",
    data: Annotated[str, "a built-in dataset (shapes, digits, faces, scenes) or a folder under the studio's datasets"] = "shapes",
    steps: Annotated[int, Range(1, 10_000_000), "training steps in all"] = 1000,
    settings: Annotated[str, "more settings as key=value pairs, e.g. 'resolution=32 batch_size=32'"] = "",
    run: Annotated[str | None, "name of the run (none: made from the model, data and time); an existing run continues"] = None,
) -> TaskResult:
    """Train a generator (GAN, VAE, diffusion) with a live loss curve and sample grids; resumable."""
    from atelier.tasks.training import resolve_run, resume_spec, run_step, train_run

    name = run or f"{model}-{Path(data).name}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    folder = ctx.runs_dir() / name
    overrides = [*_overrides(settings), f"steps={steps}", f"train.device={ctx.device}", f"train.seed={ctx.seed}"]
    if (folder / "checkpoints").is_dir() and run_step(folder) > 0:
        spec = resume_spec(folder, [o for o in overrides if not o.startswith("train.seed=")])
        if spec["model"] != model:
            raise InvalidArgument(f"run {name} trains a {spec['model']}, not a {model}")
    else:
        spec = resolve_run(model, data=dataset_source(ctx, data), overrides=overrides)
        spec["fine_tune"] = {"init_from": None, "freeze_d": 0, "freeze": [], "lr_scale": 1.0}
    folder.mkdir(parents=True, exist_ok=True)
    total = spec["train"]["steps"]
    seen = {p.name for p in (folder / "samples").glob("*.png")}

    def on_progress(step: int) -> None:
        ctx.report(step, total, "training")

    def on_log(record: dict[str, Any]) -> None:
        ctx.event("log", {"run": name, **record})
        for path in sorted((folder / "samples").glob("step-*.png")):
            if path.name not in seen:
                seen.add(path.name)
                ctx.event("sample", {"run": name, "file": path.name})

    ctx.report(run_step(folder), total, "training")
    train_run(spec, folder, on_log=on_log, on_progress=on_progress)
    samples = sorted((folder / "samples").glob("step-*.png"))
    images = {}
    if samples:
        from atelier.image import load_image

        images["samples"] = load_image(samples[-1])
    return TaskResult(images=images, data={"run": name, "steps": total, "model": spec["model"]})
