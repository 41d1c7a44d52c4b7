"""``atelier noise -o OUT --size WxH [--kind perlin|value|white]``: a procedural noise image.

Perlin (gradient) or value noise summed over ``--octaves`` (each ``--lacunarity`` times finer
and ``--persistence`` times weaker), or white noise, through the task ``noise``; grey unless
``--colour``, a seamless tile with ``--tileable``.

Example
-------
$ atelier noise -o clouds.png --size 512x512 --kind perlin --octaves 5 --seed 3
$ atelier noise -o tile.png --size 256x256 --scale 32 --tileable --colour
"""

from __future__ import annotations

import typer

from atelier.cli.outputs import check_image_output
from atelier.cli.sizes import parse_size
from atelier.image import DEFAULT_MAX_PIXELS


def noise(
    output: str = typer.Option(..., "--output", "-o", help="Output image file."),
    size: str = typer.Option("512x512", "--size", help="Size of the result, WIDTHxHEIGHT in pixels."),
    kind: str = typer.Option("perlin", "--kind", help="perlin (gradient noise), value or white."),
    scale: float = typer.Option(64.0, "--scale", help="Size of the largest features (lattice cell) in pixels."),
    octaves: int = typer.Option(4, "--octaves", help="Octaves summed (1 to 16), each finer than the last."),
    persistence: float = typer.Option(0.5, "--persistence", help="Weight of an octave relative to the previous one, in (0, 1]."),
    lacunarity: float = typer.Option(2.0, "--lacunarity", help="Frequency of an octave relative to the previous one, in (1, 16]."),
    colour: bool = typer.Option(False, "--colour", "--color", help="Colour noise (independent per channel) instead of grey."),
    tileable: bool = typer.Option(False, "--tileable", help="Make a seamless tile (it wraps around)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise: same seed, same image."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Limit on the result's width x height."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Draw a procedural noise image: Perlin, value or white noise, with fractal octaves."""
    from atelier.image import save_image
    from atelier.tasks.registry import TaskContext, get_task

    check_image_output(output, overwrite=overwrite)
    width, height = parse_size(size)
    params = {"kind": kind, "width": width, "height": height, "scale": scale, "octaves": octaves,
              "persistence": persistence, "lacunarity": lacunarity, "channels": 3 if colour else 1,
              "tileable": tileable}
    result = get_task("noise").run({}, params, TaskContext(seed=seed, max_pixels=max_pixels)).images["image"]
    save_image(output, result, overwrite=overwrite)
    typer.echo(f"wrote {output} ({width}x{height})", err=True)


def register(app: typer.Typer) -> None:
    app.command("noise")(noise)
