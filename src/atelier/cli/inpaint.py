"""``atelier inpaint IMAGE (--mask MASK.png | --box x,y,w,h ...) [--method telea|ns|biharmonic|inpaint|RUN|diffusion[:RUN]] -o OUT``.

``--method diffusion:RUN`` fills with a diffusion model (RePaint), steered by ``--prompt`` (text
models) or ``--label`` (class models); ``--steps``, ``--resample``, ``--sampler``,
``--guidance`` and ``--seed`` set its sampling.

Example
-------
$ atelier inpaint photo.png --mask m.png --method diffusion:runs/t2i --prompt "a red circle" -o out.png
"""

from __future__ import annotations

from typing import List, Optional

import typer

from atelier.cli.outputs import check_image_output
from atelier.devices import DEVICE_HELP, select_device
from atelier.errors import InvalidArgument


def _box(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InvalidArgument(f"--box {text}: give x,y,w,h in pixels, e.g. --box 40,30,64,48")
    return values


def inpaint(
    image: str = typer.Argument(..., help="The image to repair."),
    output: str = typer.Option(..., "--output", "-o", help="Output image file."),
    mask: Optional[str] = typer.Option(None, "--mask", help="Mask image, white (nonzero) where to fill."),
    box: List[str] = typer.Option([], "--box", help="A rectangle x,y,w,h to fill (repeatable)."),
    method: str = typer.Option(
        "telea", "--method", help="telea, ns, biharmonic, or a learned model: inpaint (shipped), a run folder or "
        ".safetensors; diffusion[:RUN] fills with a diffusion model (RePaint; default model t2i-scenes)."
    ),
    radius: float = typer.Option(5.0, "--radius", min=0.5, help="Neighbourhood of telea / ns, in pixels."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    device: str = typer.Option("auto", "--device", help=f"Where a learned model runs: {DEVICE_HELP}."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Diffusion: what to fill with (text models)."),
    label: Optional[int] = typer.Option(None, "--label", help="Diffusion: the class to fill with (class models)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Diffusion: sampling steps (default 25)."),
    resample: Optional[int] = typer.Option(None, "--resample", help="Diffusion: times each step is redone (RePaint's r, default 5; 1: none)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="Diffusion: ddim (default), ddpm or dpm."),
    guidance: Optional[float] = typer.Option(None, "--guidance", help="Diffusion: classifier-free guidance scale (default: the model's, 3 unless its recipe says; 1: none)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Diffusion: seed of the noise (default 0)."),
) -> None:
    """Fill the masked part of IMAGE; every other pixel is kept exactly."""
    from atelier.image import load_image, save_image
    from atelier.tasks.inpaint import box_mask, diffusion_source
    from atelier.tasks.inpaint import inpaint as inpaint_image

    check_image_output(output, overwrite=overwrite)
    if (mask is None) == (not box):
        raise InvalidArgument("give exactly one of --mask MASK.png and --box x,y,w,h")
    boxes = [_box(b) for b in box]
    flags = {"prompt": prompt, "label": label, "steps": steps, "resample": resample, "sampler": sampler,
             "guidance": guidance, "seed": seed}
    options = {k: v for k, v in flags.items() if v is not None}
    diffusion = diffusion_source(method) is not None
    if options and not diffusion:
        named = ", ".join(f"--{k}" for k in options)
        raise InvalidArgument(f"{named}: options of --method diffusion[:RUN], not of --method {method}")
    if steps is not None and steps < 1:
        raise InvalidArgument(f"--steps must be 1 or more, got {steps}")
    if resample is not None and resample < 1:
        raise InvalidArgument(f"--resample must be 1 or more (1: no resampling), got {resample}")
    if guidance is not None and not guidance >= 0:
        raise InvalidArgument(f"--guidance must be 0 or more (1 = no guidance), got {guidance}")
    dev = str(select_device(device))
    picture = load_image(image)
    holes = load_image(mask) if mask is not None else box_mask(picture.shape, boxes)
    if diffusion:
        from atelier.cli.progress import warnings_on_one_line
        from atelier.cli.text_to_image import step_progress

        with warnings_on_one_line(), step_progress("inpainting") as report:
            filled = inpaint_image(picture, holes, method, radius=radius, device=dev, progress=report, **options)
    else:
        filled = inpaint_image(picture, holes, method, radius=radius, device=dev)
    save_image(output, filled, overwrite=True)
    typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("inpaint")(inpaint)
