"""``atelier upscale`` and ``atelier denoise``: neural restoration of files, folders and globs.

The model is loaded (and checked against ``--scale``) before any file is touched, so a wrong
scale, corrupt weights or missing shipped weights is one ``error:`` line and exit code 2.
Then each image is loaded, restored (tiled) and saved as ``atelier edit`` does: folders keep
their tree, a bad file is reported and skipped, exit code 1 when some files failed and 2
when none could be done.

Example
-------
$ atelier upscale photo.jpg -o photo-x4.png
$ atelier upscale photos/ -o big/ --scale 2 --model runs/sr-x2
$ atelier denoise scans/*.png -o clean/ --sigma 25
"""

from __future__ import annotations

import os
from typing import Any, List, Optional

import typer

from atelier.cli.files import run_files
from atelier.cli.progress import progress_bar
from atelier.devices import DEVICE_HELP, select_device
from atelier.errors import InvalidArgument
from atelier.image import DEFAULT_MAX_PIXELS
from atelier.tasks.ensemble import ENSEMBLE_HELP
from atelier.tasks.tiling import AUTO, tile_argument
from atelier.tasks.batch import SaveOptions, TaskEdit, check_format, plan_jobs
from atelier.tasks.registry import TaskContext, get_task


def parse_sigma(text: str) -> float | str:
    """``"auto"`` or a number in [0, 255] (8-bit units)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(f"--sigma must be a number (8-bit units, e.g. 25) or auto, got {text!r}") from None
    if not 0 <= value <= 255:
        raise InvalidArgument(f"--sigma must be in [0, 255] (8-bit units), got {text}")
    return value


def _run_batch(
    label: str,
    processor: Any,
    jobs: list,
    output: str,
    *,
    format: Optional[str],
    quality: int,
    overwrite: bool,
    workers: int,
    max_pixels: int,
) -> None:
    options = SaveOptions(format=format, quality=quality, overwrite=overwrite, max_pixels=max_pixels)
    if workers > 1:  # files in parallel: share the cores among them instead of oversubscribing
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    run_files(label, jobs, processor, workers=workers, options=options, output=output)


_INPUTS = typer.Argument(..., help="Image files, folders or globs.")
_OUTPUT = typer.Option(..., "--output", "-o", help="Output file (one input) or folder.")
_TILE = typer.Option(AUTO, "--tile", min=0, help="Largest tile side in input pixels (bounds memory; the result does not depend on it); 0 (default): auto, 256 or more for a network that sees far.")
_FORMAT = typer.Option(None, "--format", help="png, jpg, webp, tif or bmp.")
_QUALITY = typer.Option(95, "--quality", min=1, max=100, help="JPEG/WebP quality.")
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace existing files.")
_WORKERS = typer.Option(1, "--workers", "-j", min=1, help="Files restored at once (they share the cores).")
_DEVICE = typer.Option("auto", "--device", help=DEVICE_HELP)
_MAX_PIXELS = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Limit on input and output width x height.")
_ENSEMBLE = typer.Option(False, "--self-ensemble", help=ENSEMBLE_HELP + ".")


def upscale(
    inputs: List[str] = _INPUTS,
    output: str = _OUTPUT,
    scale: int = typer.Option(4, "--scale", help="2, 3 or 4."),
    model: Optional[str] = typer.Option(
        None, "--model", help="A run folder, its model.safetensors, a shipped name (sr-x2, sr-x3, sr-x4) or "
        "bicubic; default: the shipped model for --scale."
    ),
    tile: int = _TILE,
    self_ensemble: bool = _ENSEMBLE,
    format: Optional[str] = _FORMAT,
    quality: int = _QUALITY,
    overwrite: bool = _OVERWRITE,
    workers: int = _WORKERS,
    device: str = _DEVICE,
    max_pixels: int = _MAX_PIXELS,
) -> None:
    """Upscale images 2, 3 or 4 times with a super-resolution network (alpha kept)."""
    from atelier.tasks.catalog.upscale import load_upscaler

    check_format(format)
    ctx = TaskContext(device=str(select_device(device)), max_pixels=max_pixels)
    spec = get_task("upscale")
    params = spec.validate({"scale": scale, "model": model or "auto", "tile": tile,
                            "self_ensemble": self_ensemble}, ctx)
    jobs = plan_jobs(inputs, output, format=format, overwrite=overwrite)  # every -o mistake first
    load_upscaler(ctx, params["scale"], params["model"], params["tile"],
                  params["self_ensemble"])  # every model error before any image
    _run_batch("upscaling", TaskEdit(spec, params, ctx), jobs, output, format=format, quality=quality,
               overwrite=overwrite, workers=workers, max_pixels=max_pixels)


def denoise(
    inputs: List[str] = _INPUTS,
    output: str = _OUTPUT,
    sigma: str = typer.Option(
        "auto", "--sigma", help="Noise level in 8-bit units (e.g. 25), or auto to estimate it per image."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", help="A run folder, its model.safetensors, a shipped name (denoise, denoise-real), "
        "or nlm (OpenCV non-local means); default: the shipped denoiser."
    ),
    jpeg: bool = typer.Option(
        False, "--jpeg", help="For JPEG artefacts with noise (phone pictures, re-saved JPEGs): the shipped "
        "denoise-real, a blind model trained on Real-ESRGAN's degradations (no --sigma)."
    ),
    tile: int = _TILE,
    self_ensemble: bool = _ENSEMBLE,
    format: Optional[str] = _FORMAT,
    quality: int = _QUALITY,
    overwrite: bool = _OVERWRITE,
    workers: int = _WORKERS,
    device: str = _DEVICE,
    max_pixels: int = _MAX_PIXELS,
) -> None:
    """Remove noise with a learned denoiser (alpha kept).

    With --sigma auto the level is estimated per image and printed on stderr
    (`photo.png: estimated noise sigma 23.4`). --jpeg removes JPEG blocking and ringing with
    the noise.
    """
    from atelier.tasks.catalog.denoise import load_denoise_net

    check_format(format)
    level = parse_sigma(sigma)
    if jpeg:
        if model is not None:
            raise InvalidArgument("give --jpeg or --model, not both (--jpeg is --model denoise-real)")
        if level != "auto":
            raise InvalidArgument("--jpeg takes no --sigma: its model is blind (it finds the level itself)")
        model = "denoise-real"
    ctx = TaskContext(device=str(select_device(device)), max_pixels=max_pixels)
    spec = get_task("denoise")
    params = spec.validate({"sigma": None if level == "auto" else level, "model": model or "denoise",
                            "tile": tile, "self_ensemble": self_ensemble}, ctx)
    jobs = plan_jobs(inputs, output, format=format, overwrite=overwrite)  # every -o mistake first
    net = load_denoise_net(ctx, params["model"], params["tile"], params["sigma"],
                           params["self_ensemble"])  # every model error before any image
    blind = net != "nlm" and net.blind  # it does not use the level: no estimate to report
    note = (lambda result: f"estimated noise sigma {result.data['sigma']:.1f}") if level == "auto" and not blind else None
    _run_batch("denoising", TaskEdit(spec, params, ctx, note), jobs, output, format=format, quality=quality,
               overwrite=overwrite, workers=workers, max_pixels=max_pixels)


def register(app: typer.Typer) -> None:
    app.command("upscale")(upscale)
    app.command("denoise")(denoise)


def evaluate_restoration(
    task: str,
    *,
    data: str,
    model: Optional[str],
    scale: int,
    sigma: float,
    seed: int,
    tile: int,
    device: str,
    as_json: bool,
    self_ensemble: bool = False,
) -> None:
    """``atelier evaluate sr|denoise``: the benchmark protocol's table (or JSON) with its baseline."""
    import json

    from rich.console import Console
    from rich.table import Table

    from atelier.tasks.restoration_eval import evaluate_denoise, evaluate_sr, list_images

    device = str(select_device(device))
    total = len(list_images(data))
    with progress_bar(f"evaluating {task}", total=total) as advance:
        step = lambda name: advance()  # noqa: E731
        if task == "sr":
            scores = evaluate_sr(model, data, scale, tile=tile_argument(tile), device=device, on_image=step,
                                 self_ensemble=self_ensemble)
            title = f"x{scale} super-resolution on {data} (Y channel, {scale} px border cropped)"
        else:
            scores = evaluate_denoise(model, data, sigma, seed, tile=tile_argument(tile), device=device, on_image=step,
                                      self_ensemble=self_ensemble)
            title = f"denoising at sigma {sigma:g} on {data} (RGB, noise seed {seed}, NLM h {scores.setting['nlm_h']:g})"
    if as_json:
        typer.echo(json.dumps(scores.as_dict(), indent=2))
        return
    table = Table(title=title)
    table.add_column("image")
    for m in scores.methods:
        table.add_column(f"{m} PSNR", justify="right")
        table.add_column(f"{m} SSIM", justify="right")
    for row in scores.rows + [{"image": "mean", **scores.mean}]:
        cells = [row["image"]]
        for m in scores.methods:
            cells += [f"{row[m]['psnr']:.2f}", f"{row[m]['ssim']:.4f}"]
        table.add_row(*cells, end_section=row is scores.rows[-1])
    Console().print(table)
