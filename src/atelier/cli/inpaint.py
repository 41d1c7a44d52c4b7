"""``atelier inpaint IMAGE (--mask MASK.png | --box x,y,w,h ...) [--method telea|ns|biharmonic|inpaint|RUN] -o OUT``."""

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
        "telea", "--method", help="telea, ns, biharmonic, or a learned model: inpaint (shipped), a run folder or .safetensors."
    ),
    radius: float = typer.Option(5.0, "--radius", min=0.5, help="Neighbourhood of telea / ns, in pixels."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    device: str = typer.Option("auto", "--device", help=f"Where a learned model runs: {DEVICE_HELP}."),
) -> None:
    """Fill the masked part of IMAGE; every other pixel is kept exactly."""
    from atelier.image import load_image, save_image
    from atelier.tasks.inpaint import box_mask
    from atelier.tasks.inpaint import inpaint as inpaint_image

    check_image_output(output, overwrite=overwrite)
    if (mask is None) == (not box):
        raise InvalidArgument("give exactly one of --mask MASK.png and --box x,y,w,h")
    boxes = [_box(b) for b in box]
    dev = str(select_device(device))
    picture = load_image(image)
    holes = load_image(mask) if mask is not None else box_mask(picture.shape, boxes)
    save_image(output, inpaint_image(picture, holes, method, radius=radius, device=dev), overwrite=True)
    typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("inpaint")(inpaint)
