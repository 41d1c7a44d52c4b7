"""``atelier texture SAMPLE -o OUT --size WxH``: grow a texture of any size from a sample image.

Through the task ``texture``: ``--method quilting`` (image quilting, Efros & Freeman 2001;
``--patch`` and ``--overlap`` set its patches) or ``--method gatys`` (VGG19 Gram matrices
matched from noise, Gatys et al. 2015; ``--steps`` L-BFGS steps) or ``--method adain``
(colour Perlin noise given the sample's VGG19 statistics by an AdaIN model, ``--model``). ``--tileable`` makes a
seamless tile, ``--seed`` the random choices (the same seed gives the same texture).

Example
-------
$ atelier texture grass.png -o field.png --size 1024x768
$ atelier texture bricks.png -o tile.png --size 512x512 --tileable --patch 48 --seed 3
$ atelier texture starry.png -o sky.png --size 512x384 --method gatys --steps 200
"""

from __future__ import annotations

import typer

from atelier.cli.outputs import check_image_output
from atelier.cli.sizes import parse_size
from atelier.devices import DEVICE_HELP
from atelier.image import DEFAULT_MAX_PIXELS


def texture(
    sample: str = typer.Argument(..., help="The texture sample (an image file)."),
    output: str = typer.Option(..., "--output", "-o", help="Output image file."),
    size: str = typer.Option("512x512", "--size", help="Size of the result, WIDTHxHEIGHT in pixels."),
    method: str = typer.Option("quilting", "--method", help="How to synthesise: quilting (image quilting, seconds), gatys (VGG19 Gram matching, minutes) or adain (an AdaIN model, one pass)."),
    tileable: bool = typer.Option(False, "--tileable", help="Make a seamless tile (it wraps around)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random choices: same seed, same texture."),
    patch: int | None = typer.Option(None, "--patch", help="Side of the quilting patches in pixels (default: a third of the sample's shorter side, at most 64)."),
    overlap: int | None = typer.Option(None, "--overlap", help="Overlap of the patches in pixels (default: a quarter of the patch)."),
    steps: int = typer.Option(300, "--steps", help="gatys: L-BFGS steps in all."),
    model: str = typer.Option("adain", "--model", help="adain: the AdaIN model (shipped name or run folder)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Limit on the sample's and the result's width x height."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Grow a texture of any size (or a seamless tile) from the sample image SAMPLE."""
    from atelier.cli.text_to_image import step_progress
    from atelier.image import load_image, save_image
    from atelier.tasks.registry import TaskContext, get_task

    check_image_output(output, overwrite=overwrite)
    width, height = parse_size(size)
    spec = get_task("texture")
    params = {"method": method, "width": width, "height": height, "tileable": tileable,
              "patch": patch, "overlap": overlap, "steps": steps,
              "model": model}
    spec.validate(params, TaskContext(max_pixels=max_pixels))
    picture = load_image(sample, max_pixels=max_pixels)
    with step_progress(method) as report:
        ctx = TaskContext(seed=seed, max_pixels=max_pixels, device=device,
                          progress=lambda done, total, stage: report(done, total))
        result = spec.run({"sample": picture}, params, ctx).images["image"]
    save_image(output, result, overwrite=overwrite)
    typer.echo(f"wrote {output} ({width}x{height})", err=True)


def register(app: typer.Typer) -> None:
    app.command("texture")(texture)
