"""``atelier stylize CONTENT (--style STYLE... | --model RUN_OR_NAME) -o OUT``: style transfer.

With ``--model adain`` (the shipped AdaIN model, or a run folder holding one) and ``--style``:
arbitrary style transfer in one pass (Huang & Belongie 2017): several styles mixed by
``--style-weights``, ``--alpha`` for the content-style trade-off, ``--mask`` one region per
style, ``--preserve-color``; at the content's size unless ``--size``.

With ``--style``: optimisation (Gatys) — one or more style images, weighted with
``--style-weights 0.7,0.3``; the result's longer side is ``--size``; ``--steps`` L-BFGS (or
Adam) steps, coarse-to-fine over ``--scales``. With ``--model``: one pass of a trained
feed-forward network (``atelier train style``), at the content's size unless ``--size``.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from atelier.cli.outputs import check_image_output
from atelier.cli.progress import progress_bar
from atelier.devices import DEVICE_HELP, select_device
from atelier.errors import InvalidArgument


def _weights(text: Optional[str], count: int) -> Optional[list[float]]:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidArgument(f"--style-weights {text}: give numbers separated by commas, e.g. 0.7,0.3") from None
    if len(values) != count:
        raise InvalidArgument(f"--style-weights has {len(values)} values for {count} --style images")
    return values


def stylize(
    content: str = typer.Argument(..., help="The content image."),
    style: List[str] = typer.Option([], "--style", help="A style image (repeatable): optimisation, or AdaIN with --model adain."),
    model: Optional[str] = typer.Option(None, "--model", help="A trained style network (run folder or shipped name); adain: any --style."),
    output: str = typer.Option(..., "--output", "-o", help="Output image file."),
    style_weights: Optional[str] = typer.Option(None, "--style-weights", help="One weight per --style, e.g. 0.7,0.3."),
    size: Optional[int] = typer.Option(None, "--size", min=16, help="Longer side of the result (default 512 with --style, the content's with --model)."),
    steps: int = typer.Option(300, "--steps", min=1, help="Optimiser steps in all."),
    content_weight: float = typer.Option(1.0, "--content-weight", min=0.0, help="Content against style."),
    tv_weight: float = typer.Option(0.0, "--tv-weight", min=0.0, help="Total-variation smoothing."),
    optimizer: str = typer.Option("lbfgs", "--optimizer", help="lbfgs or adam."),
    scales: int = typer.Option(2, "--scales", min=1, help="Coarse-to-fine levels (1: full size only; 2: 60 percent of the steps at half size first)."),
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the content's colours."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="AdaIN: content-style trade-off in [0, 1] (default 1: full style)."),
    mask: List[str] = typer.Option([], "--mask", help="AdaIN: a mask image per --style (repeatable): where each style goes."),
    init: str = typer.Option("content", "--init", help="Start from the content or from noise."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise start."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Paint CONTENT in the style of --style images (Gatys et al. 2016) or with a --model;
    --model adain with --style: arbitrary style transfer in one pass (AdaIN)."""
    from atelier.image import load_image, save_image
    from atelier.tasks.adain import is_adain_source
    from atelier.tasks.stylize import stylize as stylize_image

    check_image_output(output, overwrite=overwrite)
    arbitrary = model is not None and is_adain_source(model)
    if arbitrary and not style:
        raise InvalidArgument(f"--model {model} is an adain model: give one or more --style images")
    if not arbitrary and bool(style) == bool(model):
        raise InvalidArgument("give exactly one of --style STYLE (optimisation) and --model RUN (a trained network), "
                              "or both with an adain model (--model adain)")
    if not arbitrary and (alpha is not None or mask):
        raise InvalidArgument("--alpha and --mask apply to arbitrary style transfer: --model adain --style STYLE")
    if mask and len(mask) != len(style):
        raise InvalidArgument(f"give one --mask per --style: {len(mask)} masks for {len(style)} styles")
    if mask and style_weights is not None:
        raise InvalidArgument("give --style-weights (mix the styles everywhere) or --mask (one region per style), not both")
    if optimizer not in ("lbfgs", "adam"):
        raise InvalidArgument(f"--optimizer must be lbfgs or adam, got {optimizer!r}")
    if init not in ("content", "noise"):
        raise InvalidArgument(f"--init must be content or noise, got {init!r}")
    mix = _weights(style_weights, len(style))
    dev = select_device(device)
    image = load_image(content)
    if arbitrary:
        from atelier.tasks.adain import adain_stylize

        result = adain_stylize(
            image, [load_image(path, mode="rgb") for path in style], style_weights=mix,
            alpha=1.0 if alpha is None else alpha, masks=[load_image(path, mode="grey") for path in mask] or None,
            preserve_color=preserve_color, size=size, model=model, device=dev,
        )
    elif model is not None:
        from atelier.tasks.stylize import stylize_with_model

        result = stylize_with_model(image, model, size=size, device=dev)
    else:
        styles = [load_image(path, mode="rgb") for path in style]
        with progress_bar("stylizing", total=steps) as advance:
            result = stylize_image(
                image, styles, style_weights=mix, size=size or 512, steps=steps, content_weight=content_weight,
                tv_weight=tv_weight, optimizer=optimizer, scales=scales, preserve_color=preserve_color,
                init=init, seed=seed, device=dev, on_step=lambda loss: advance(1, f"loss {loss:.4g}"),
            )
    save_image(output, result, overwrite=True)
    typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("stylize")(stylize)
