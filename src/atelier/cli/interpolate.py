"""``atelier interpolate A B --alpha 0.8 --out RUN``: blend two trained models weight by weight.

ESRGAN's network interpolation (:mod:`atelier.models.interpolate`): ``A`` is typically a
PSNR-oriented model and ``B`` its perceptual (GAN) fine-tune; ``--alpha`` moves from ``A``
(0) to ``B`` (1). The result is a model folder (``model.json`` + ``model.safetensors``) that
every command taking ``--model RUN`` accepts.

Example
-------
$ atelier interpolate sr-x4 runs/my-perceptual-sr --alpha 0.6 --out runs/sr-blend
$ atelier upscale photo.png --model runs/sr-blend -o big.png
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from atelier.cli.outputs import check_output_folder
from atelier.errors import InvalidArgument


def interpolate(
    first: str = typer.Argument(..., help="Model at alpha 0: a shipped name, a run folder or a model.safetensors."),
    second: str = typer.Argument(..., help="Model at alpha 1 (a fine-tune of the first)."),
    alpha: float = typer.Option(..., "--alpha", help="0: the first model, 1: the second."),
    out: str = typer.Option(..., "--out", "-o", help="Folder to write the blended model into."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model already in --out."),
) -> None:
    """Blend two trainings of one architecture: (1 - alpha) * FIRST + alpha * SECOND (ESRGAN)."""
    from atelier.models.interpolate import interpolate_models
    from atelier.models.registry import WEIGHTS_FILE, save_model
    from atelier.pretrained import load_restoration_model

    check_output_folder(out, "--out")
    if not 0.0 <= alpha <= 1.0:
        raise InvalidArgument(f"--alpha must be in [0, 1], got {alpha}")
    if not overwrite and (Path(out) / WEIGHTS_FILE).exists():
        raise InvalidArgument(f"{out} already holds a model; pass --overwrite to replace it")
    blended = interpolate_models(load_restoration_model(first), load_restoration_model(second), alpha)
    Path(out).mkdir(parents=True, exist_ok=True)
    save_model(blended, out)
    typer.echo(json.dumps({"out": out, "model": type(blended).model_name, "first": first, "second": second,
                           "alpha": alpha}))


def register(app: typer.Typer) -> None:
    app.command("interpolate")(interpolate)
