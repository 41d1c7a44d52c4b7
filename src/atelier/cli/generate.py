"""``atelier sample RUN``, ``atelier models``, ``atelier datasets``.

Examples
--------
$ atelier sample runs/cgan -n 64 -o grid.png --label 3 --seed 1
$ atelier sample runs/dcgan --interpolate --nrow 8 -o lerp.png
$ atelier sample runs/vae -n 1000 --each samples/      # 1000 PNG files, e.g. for other tools
$ atelier sample runs/diffusion-mnist -n 64 --label 3 --steps 25 --sampler dpm --guidance 3 -o grid.png
$ atelier models --json
"""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from atelier.cli.progress import progress_bar
from atelier.devices import DEVICE_HELP
from atelier.errors import InvalidArgument


def _parse_labels(text: Optional[str]):
    """``"3"`` -> 3, ``"0,1,2"`` -> [0, 1, 2], None -> None."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if not values:
        raise InvalidArgument(f"--label must be an integer class or a comma-separated list "
                              f"of them (e.g. 3 or 0,1,2), got {text!r}")
    return values[0] if len(values) == 1 else values


def sample(
    run: str = typer.Argument(..., help="Run folder (or any folder with model.safetensors + model.json)."),
    n: int = typer.Option(64, "-n", "--num", min=1, help="Number of samples (rows with --interpolate)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Grid PNG to write."),
    each: Optional[str] = typer.Option(None, "--each", help="Write n separate PNG files into this folder instead of a grid."),
    label: Optional[str] = typer.Option(None, "--label", help="Class for a conditional model: 3, or a list 0,1,2 (cycled)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise: same seed, same images."),
    do_interpolate: bool = typer.Option(False, "--interpolate", help="Rows of latent interpolations (slerp) instead of samples."),
    nrow: int = typer.Option(8, "--nrow", min=1, help="Images per grid row (steps per row with --interpolate)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    steps: Optional[int] = typer.Option(None, "--steps", help="Diffusion runs: sampling steps (default 25)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="Diffusion runs: ddim (default), ddpm or dpm."),
    guidance: Optional[float] = typer.Option(
        None, "--guidance", help="Class-conditional diffusion runs: classifier-free guidance scale (default: the model's, 3 unless its recipe says; 1: none)."
    ),
    eta: Optional[float] = typer.Option(None, "--eta", help="Diffusion runs with the ddim sampler: noise in [0, 1] (default 0)."),
) -> None:
    """Sample images from a trained generator into a grid PNG (or separate files with --each).

    GAN and VAE runs, and diffusion runs (unconditional, or class-conditional with --label;
    --steps, --sampler, --guidance and --eta set their sampling). With --interpolate the grid
    has n // nrow rows (at least 1) of nrow images, each row sliding (slerp) between two
    random latents (for diffusion: two starting noises, through DDIM or DPM-Solver).
    """
    from atelier.tasks.diffusion_model import is_diffusion_source
    from atelier.tasks.generate import (
        interpolate, load_generator, make_grid, sample_images, save_each, save_grid,
    )
    from atelier.devices import select_device

    if (output is None) == (each is None):
        raise InvalidArgument("give either -o GRID.png or --each FOLDER (one of them)")
    if each is not None and do_interpolate:
        raise InvalidArgument("--interpolate writes a grid: use -o GRID.png, not --each")
    diffusion_flags = [f for f, v in (("--steps", steps), ("--sampler", sampler), ("--guidance", guidance),
                                      ("--eta", eta)) if v is not None]
    if is_diffusion_source(run):
        return _sample_diffusion(run, n, output, each, label, seed, nrow, overwrite, device,
                                 steps, sampler, guidance, eta, do_interpolate)
    if diffusion_flags:
        raise InvalidArgument(f"{', '.join(diffusion_flags)} apply to diffusion runs; {run} is not one")
    from atelier.cli.outputs import check_image_output, check_output_folder

    if output is not None:
        check_image_output(output, overwrite=overwrite)
    else:
        check_output_folder(each, "--each")
    labels = _parse_labels(label)
    dev = select_device(device)
    model = load_generator(run, device=dev)
    if do_interpolate:
        rows = max(1, n // nrow)
        images = interpolate(model, nrow, seed=seed, rows=rows, labels=labels, device=dev)
    else:
        with progress_bar("sampling", total=n) as advance:
            def step(k: int) -> None:
                for _ in range(k):
                    advance()

            images = sample_images(model, n, seed=seed, labels=labels, device=dev, progress=step)
    if each is not None:
        paths = save_each(each, images, overwrite=overwrite)
        typer.echo(f"{len(paths)} images written to {each}", err=True)
        return
    save_grid(output, make_grid(images, nrow=nrow), overwrite=overwrite)
    typer.echo(f"{len(images)} images written to {output}", err=True)


def _sample_diffusion(run, n, output, each, label, seed, nrow, overwrite, device, steps, sampler, guidance, eta,
                      do_interpolate=False):
    """``atelier sample`` for a diffusion run: unconditional, or class-conditional with --label;
    with --interpolate, rows of slerped starting noise through a deterministic sampler."""
    from atelier.cli.progress import warnings_on_one_line
    from atelier.cli.text_to_image import check_outputs, check_sampling_options, step_progress, write_images
    from atelier.devices import select_device
    from atelier.tasks.diffusion_model import load_diffusion
    from atelier.tasks.diffusion_sample import generate_images, interpolate_noise

    check_sampling_options(steps, guidance, eta)
    if do_interpolate and (sampler == "ddpm" or eta):
        raise InvalidArgument("--interpolate needs a deterministic sampler: --sampler ddim (eta 0) or dpm")
    check_outputs(output, each, overwrite)
    labels = _parse_labels(label)
    dev = select_device(device)
    model = load_diffusion(run, device=dev)
    if labels is not None and model.cond != "label":
        what = "text-conditional" if model.cond == "text" else "unconditional"
        hint = f"; give it a prompt with `atelier generate PROMPT --model {run}`" if model.cond == "text" else ""
        raise InvalidArgument(f"{run} is a {what} diffusion model: it takes no --label{hint}")
    if guidance is not None and model.cond != "label":
        raise InvalidArgument(f"--guidance guides the labels of a class-conditional run here; {run} takes no label "
                              "(a text run is guided by its prompt in `atelier generate`)")
    noise = None
    if do_interpolate:
        rows = max(1, n // nrow)
        noise, n = interpolate_noise(model, rows, nrow, seed=seed), rows * nrow
        if labels is not None:  # one label per row, as for GANs
            listed = labels if isinstance(labels, list) else [labels]
            labels = [listed[r % len(listed)] for r in range(rows) for _ in range(nrow)]
        elif model.cond == "label":
            labels = [r % model.net.config.num_classes for r in range(rows) for _ in range(nrow)]
    with warnings_on_one_line(), step_progress("sampling") as report:
        images = generate_images(
            model, labels=labels, n=n, steps=25 if steps is None else steps, sampler=sampler or "ddim",
            guidance=guidance, eta=eta or 0.0, seed=seed, device=dev,
            progress=report, dtype="float32", noise=noise,
        )
    write_images(images, output, each, nrow, overwrite)


def models(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the model families: what each is, and its config fields with defaults."""
    from atelier.models import list_models

    specs = list_models()
    if as_json:
        data = [{"name": s.name, "summary": s.summary, "config": s.config_fields()} for s in specs]
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table()
    for col in ("model", "what it is", "config (defaults; set with --set key=value)"):
        table.add_column(col, overflow="fold")
    for s in specs:
        fields = "\n".join(f"{k} = {v}" for k, v in s.config_fields().items())
        table.add_row(s.name, s.summary.replace("``", ""), fields)
    Console().print(table)


def datasets(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the datasets: name, what it is, and whether it needs a path (NAME:PATH)."""
    from atelier.data import list_datasets

    specs = list_datasets()
    if as_json:
        data = [{"name": s.name, "summary": s.summary, "needs_path": s.needs_path} for s in specs]
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table()
    for col in ("dataset", "what it is", "path"):
        table.add_column(col, overflow="fold")
    for s in specs:
        table.add_row(s.name, s.summary.replace("``", ""), f"{s.name}:PATH" if s.needs_path else "-")
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
    app.command("models")(models)
    app.command("datasets")(datasets)
