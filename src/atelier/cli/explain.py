"""``atelier explain IMAGE --model RUN -o cam.png``: where a classifier looked, as a heat map.

Draws the class-activation map (Zhou et al. 2016; Grad-CAM, Selvaraju et al. 2017, for the
small CNN whose head is not global pooling + linear) of ``--class NAME`` (default: the
predicted class) over the image, at the image's size; see :mod:`atelier.tasks.explain`. An
unknown class name is one ``error:`` line listing the model's classes, exit code 2.

Example
-------
$ atelier explain photo.png --model runs/pets -o cam.png
$ atelier explain photo.png --model runs/pets --class cat --alpha 0.4 -o cat.png
"""

from __future__ import annotations

import typer

from atelier.cli.outputs import check_image_output
from atelier.devices import DEVICE_HELP, select_device
from atelier.errors import InvalidArgument
from atelier.image import DEFAULT_MAX_PIXELS


def explain(
    image: str = typer.Argument(..., help="The image to explain."),
    model: str = typer.Option(..., "--model", help="A run folder of `atelier train classifier`."),
    output: str = typer.Option(..., "--output", "-o", help="Output image file (the heat map over the image)."),
    class_name: str | None = typer.Option(None, "--class", help="The class to explain (default: the predicted one)."),
    alpha: float = typer.Option(0.5, "--alpha", help="Opacity of the heat map, 0 to 1."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Limit on input width x height."),
) -> None:
    """Draw the class-activation map of IMAGE for a class over it (CAM, or Grad-CAM)."""
    from atelier.image import load_image, save_image
    from atelier.tasks.classify import load_classifier
    from atelier.tasks.explain import explain_image

    check_image_output(output, overwrite=overwrite)
    if not 0.0 <= alpha <= 1.0:
        raise InvalidArgument(f"--alpha must be in [0, 1], got {alpha}")
    dev = str(select_device(device))
    loaded = load_classifier(model, device=dev)
    picture = load_image(image, mode="keep", alpha="composite", max_pixels=max_pixels)
    overlay, info = explain_image(picture, loaded, class_name=class_name, alpha=alpha, device=dev)
    save_image(output, overlay, overwrite=True)
    typer.echo(
        f"{info['method']} of {info['class']} (probability {info['probability']:.3f}; predicted "
        f"{info['predicted']} {info['predicted_probability']:.3f}) -> {output}", err=True,
    )


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
