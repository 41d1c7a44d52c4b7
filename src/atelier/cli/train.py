"""``atelier train``: train a model family on a dataset into a run folder; resume; fine-tune.

``atelier train sr --data PHOTOS --scale 4 --out RUN`` and ``atelier train denoise --data
PHOTOS --sigma 0:50 --out RUN`` train the restoration models (``sr`` = ``edsr``, ``denoise`` =
``dncnn``; ``espcn`` works too) on patches of a folder of photos, validating on held-out
photos (the last tenth, or ``--val DIR``) and keeping the best checkpoint.

``atelier train adain --data PHOTOS --style PAINTINGS --out RUN`` (``--style`` a folder of style
images, the same as ``--set styles=PAINTINGS``) trains the decoder of arbitrary style transfer
(Huang & Belongie 2017), validating on held-out photos paired with the styles.

``atelier train classifier --data FOLDER --backbone efficientnet-lite0 [--freeze-backbone |
--unfreeze-last N] [--size S] --out RUN`` fine-tunes the ImageNet EfficientNet-Lite0 on a
folder with one sub-folder of images per class (the class names are stored in the run).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from atelier.cli.progress import progress_bar, warnings_on_one_line
from atelier.errors import InvalidArgument
from atelier.tasks.training import (
    MODEL_ALIASES,
    backbone_freeze,
    check_run_folder,
    fine_tune_spec,
    resolve_run,
    resume_spec,
    run_step,
    train_run,
)


def train(
    model: Optional[str] = typer.Argument(None, help="Model family (see `atelier models`)."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset name or path."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Run folder to create."),
    sets: List[str] = typer.Option([], "--set", help="section.key=value (repeatable)."),
    config: Optional[str] = typer.Option(None, "--config", help="JSON file of settings."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue this run folder."),
    init_from: Optional[str] = typer.Option(
        None, "--init-from", help="Start from this run's model (fine-tuning)."
    ),
    freeze_d: int = typer.Option(0, "--freeze-d", min=0, help="Freeze the first k D blocks."),
    freeze: List[str] = typer.Option([], "--freeze", help="Freeze parameters by name prefix."),
    lr_scale: float = typer.Option(1.0, "--lr-scale", min=0.0, help="Multiply learning rates."),
    scale: Optional[int] = typer.Option(
        None, "--scale", help="Super-resolution factor 2, 3 or 4 (= --set model.scale=S)."
    ),
    sigma: Optional[str] = typer.Option(
        None, "--sigma", help="Denoising: noise range low:high in 0..255 (0:50) or one level."
    ),
    val: Optional[str] = typer.Option(
        None, "--val", help="Validation photos (default: the last tenth of --data's)."
    ),
    style: Optional[str] = typer.Option(
        None, "--style", help="Style image (atelier train style), or a folder of them (atelier train adain)."
    ),
    backbone: Optional[str] = typer.Option(
        None, "--backbone", help="Classifier: pretrained backbone efficientnet-lite0 (none: the small CNN)."
    ),
    freeze_backbone: bool = typer.Option(
        False, "--freeze-backbone", help="Classifier: train the new head alone (a linear probe)."
    ),
    unfreeze_last: Optional[int] = typer.Option(
        None, "--unfreeze-last", help="Classifier: train the head and the backbone's last N blocks only."
    ),
    size: Optional[int] = typer.Option(None, "--size", help="Image side the model trains at (= --set model.resolution=S)."),
) -> None:
    """Train MODEL on --data into --out, or continue a run with --resume RUN.

    MODEL is a family (`atelier models`) or a task: sr (= edsr), denoise (= dncnn).
    diffusion conditions on what --data gives unless --set cond=none|label|text says:
    captions (scenes, a folder with metadata.jsonl), else labels (idx:MNIST), else none.
    classifier takes its classes from --data (a folder: one sub-folder per class); with
    --backbone efficientnet-lite0 it fine-tunes the ImageNet network (all of it by default,
    the backbone at a 10x lower learning rate; --freeze-backbone or --unfreeze-last N).
    """
    flags: dict = {}
    if backbone is not None:
        flags["model.backbone"] = backbone
    if size is not None:
        flags["model.resolution"] = size
    if scale is not None:
        flags["model.scale"] = scale
    if sigma is not None:
        from atelier.train.objectives.restoration import parse_sigma_range

        flags["hyper.sigma"] = parse_sigma_range(sigma)
    if style is not None:
        # a family that trains on many styles (adain) takes data.styles, a folder or one file
        many = model is not None and "styles" in _data_fields(model)
        if not (Path(style).exists() if many else Path(style).is_file()):
            raise InvalidArgument(f"--style {style}: no such file" + (" or folder" if many else ""))
        flags["data.styles" if many else "data.style"] = style
    if val is not None:
        if not Path(val).is_dir():
            raise InvalidArgument(f"--val {val}: no such folder")
        flags["data.val"] = val
    if resume is not None:
        if flags or freeze_backbone or unfreeze_last is not None:
            raise InvalidArgument(
                "--scale, --sigma, --style, --val, --backbone, --size, --freeze-backbone and "
                "--unfreeze-last set up a new run; --resume keeps its own"
            )
        given = [
            name
            for name, value in (("--data", data), ("--out", out), ("--config", config), ("--init-from", init_from))
            if value is not None
        ]
        given += ["--freeze-d"] * bool(freeze_d) + ["--freeze"] * bool(freeze) + ["--lr-scale"] * (lr_scale != 1.0)
        if given:
            raise InvalidArgument(
                f"{', '.join(given)}: --resume RUN continues the run with its own data, folder and "
                "settings; change what may change with --set"
            )
        spec = resume_spec(resume, sets)
        if model is not None and MODEL_ALIASES.get(model, model) != spec["model"]:
            raise InvalidArgument(f"{resume} trains a {spec['model']}, not a {model}")
        run = Path(resume)
    else:
        if model is None or data is None or out is None:
            raise InvalidArgument("train needs MODEL, --data and --out (or --resume RUN)")
        run = Path(out)
        check_run_folder(run)
        if (run / "checkpoints").exists():
            raise InvalidArgument(f"{run} already holds a run; continue it with --resume {run}")
        spec = resolve_run(model, data=data, overrides=sets, config_file=config, flags=flags)
        freeze = [*freeze, *backbone_freeze(spec, freeze_backbone=freeze_backbone, unfreeze_last=unfreeze_last)]
        spec = fine_tune_spec(spec, init_from=init_from, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale,
                              overrides=sets, flags=flags)
    from atelier.train.distributed import DistributedEnv

    main = DistributedEnv.from_environ().is_main  # under torchrun, rank 0 alone reports
    steps = spec["train"]["steps"]
    start = run_step(run)
    best: dict = {}
    bar = progress_bar(f"training {spec['model']}", total=steps, completed=start) if main else _silent()
    with warnings_on_one_line(), bar as advance:
        last = [start]

        def on_progress(step: int) -> None:
            # every step: a bar on a terminal, a plain line every few seconds otherwise
            advance(step - last[0])
            last[0] = step

        def on_log(record: dict) -> None:
            if "images_per_s" not in record:  # a validation record
                metrics = " ".join(
                    f"{k} {_figure(v)}" for k, v in record.items() if k not in ("step", "best_step")
                )
                best_step = f" (best step {record['best_step']})" if "best_step" in record else ""
                typer.echo(f"step {record['step']}: {metrics}{best_step}", err=True)
                best.update(record)
                return
            losses = " ".join(
                f"{k} {_figure(v)}" for k, v in record.items() if k not in ("step", "images_per_s")
            )
            advance(0, f"{spec['model']} {losses} {record['images_per_s']:.0f} img/s")

        train_run(spec, run, on_log=on_log, on_progress=on_progress)
    if not main:
        return
    typer.echo(f"trained {spec['model']} for {steps} steps -> {run}", err=True)
    for key, value in best.items():
        if key.startswith("best_") and key != "best_step":
            typer.echo(f"exported the best {key[5:]} {value:.4g} (step {best['best_step']})", err=True)


def _data_fields(model: str) -> tuple[str, ...]:
    """The ``data`` options the objective of ``model`` (a family or an alias) declares."""
    from atelier.train.objectives import get_objective

    return tuple(getattr(get_objective(MODEL_ALIASES.get(model, model)), "data_fields", ()))


def _figure(value) -> str:
    """A logged figure for the progress line (the log writes a non-finite one as null)."""
    return "nan" if value is None else f"{value:.4g}"


@contextlib.contextmanager
def _silent() -> Iterator:
    yield lambda count=1, description=None: None


def register(app: typer.Typer) -> None:
    app.command("train")(train)
