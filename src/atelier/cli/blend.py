"""``atelier blend A B [C ...] --model VAE [--weights 0.3,0.7 | --steps 8] [--label K] -o OUT``:
mix images in a VAE's latent space (posterior means) and decode.

With ``--weights`` (default: equal) one blended image; with ``--steps N`` (two images) a strip
of N decodes from A to B (linear in the latent). Images are brought to the model's size and
channels; a conditional VAE (``cvae-mnist``) needs ``--label``.

Example
-------
$ atelier blend three.png eight.png --model vae-mnist --steps 8 -o strip.png
$ atelier blend a.png b.png c.png --model runs/vae --weights 0.5,0.3,0.2 -o mix.png
"""

from __future__ import annotations

from typing import List, Optional

import typer

from atelier.cli.outputs import check_image_output
from atelier.devices import DEVICE_HELP, select_device
from atelier.errors import InvalidArgument


def parse_weights(text: Optional[str]) -> Optional[list[float]]:
    """``"0.3,0.7"`` -> ``[0.3, 0.7]``; None -> None; anything else one ``InvalidArgument`` line."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidArgument(f"--weights {text}: give one number per image, separated by commas, e.g. 0.3,0.7") from None


def blend(
    images: List[str] = typer.Argument(..., help="Two or more images to blend."),
    model: str = typer.Option("vae-mnist", "--model", help="A VAE: shipped vae-mnist or cvae-mnist, or a vae, vaegan or cvae run folder."),
    output: str = typer.Option(..., "--output", "-o", help="Output image file (the blend, or the strip with --steps)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="One weight >= 0 per image, e.g. 0.3,0.7 (normalised; default equal)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="With two images: a strip of this many images from the first to the second."),
    label: Optional[int] = typer.Option(None, "--label", help="The images' class, for a conditional VAE (required there)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Blend IMAGES in a VAE's latent space: mix their codes (posterior means) and decode."""
    from atelier.image import load_image, save_image
    from atelier.tasks.latent_blend import latent_blend, load_vae, strip_image

    check_image_output(output, overwrite=overwrite)
    mix = parse_weights(weights)
    if len(images) < 2:
        raise InvalidArgument(f"give two or more images to blend, got {len(images)}")
    if mix is not None and steps is not None:
        raise InvalidArgument("give --weights (one blend) or --steps (a strip), not both")
    if mix is not None and len(mix) != len(images):
        raise InvalidArgument(f"--weights has {len(mix)} values for {len(images)} images; give one per image")
    net = load_vae(model, device=select_device(device))
    pictures = [load_image(path) for path in images]
    result = latent_blend(pictures, net, weights=mix, steps=steps, label=label)
    if steps is not None:  # a strip: the stack laid out in one row
        result = strip_image(result)
    save_image(output, result, overwrite=True)
    typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("blend")(blend)
