"""``atelier composite FG --mask M --onto BG [--at x,y] [--method poisson|deep] -o OUT``: paste a
masked region of FG into BG, blended.

``--at x,y`` is where the centre of the mask's bounding box lands in BG (default: BG's middle),
for both methods. ``--method poisson`` (default) is OpenCV's Poisson cloning (``--mode normal``
or ``mixed``); ``--method deep`` is deep image blending (Zhang et al. 2020), which also gives
the region BG's style (``--steps`` L-BFGS steps per pass, default 50; about a minute on one CPU
thread for a 190 px region in a 512 px background).

Example
-------
$ atelier composite boat.png --mask boat_mask.png --onto painting.jpg --at 300,220 --method deep -o out.png
"""

from __future__ import annotations

from typing import Optional

import typer

from atelier.cli.outputs import check_image_output
from atelier.devices import DEVICE_HELP, select_device
from atelier.errors import InvalidArgument


def parse_at(text: Optional[str]) -> Optional[tuple[int, int]]:
    """``"120,80"`` -> ``(120, 80)``; None -> None; anything else one ``InvalidArgument`` line."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = tuple(int(p.strip()) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 2:
        raise InvalidArgument(f"--at {text}: give x,y in pixels (where the centre of the mask's box lands), e.g. --at 120,80")
    return values  # type: ignore[return-value]


def composite(
    foreground: str = typer.Argument(..., help="The picture to paste from."),
    mask: str = typer.Option(..., "--mask", help="White (nonzero) on the foreground's pixels to paste; the foreground's size."),
    onto: str = typer.Option(..., "--onto", help="The background to paste into (its size is kept)."),
    output: str = typer.Option(..., "--output", "-o", help="Output image file."),
    at: Optional[str] = typer.Option(None, "--at", help="x,y in the background where the centre of the mask's bounding box lands (default: the middle)."),
    method: str = typer.Option("poisson", "--method", help="poisson (OpenCV Poisson cloning, instant) or deep (deep image blending: also takes on the background's style)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="poisson only: normal (default) or mixed (the stronger of both gradients)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="deep only: L-BFGS steps in each of its two passes (default 50)."),
    init: Optional[str] = typer.Option(None, "--init", help="deep only: where its first pass starts: poisson (the Poisson clone, default), paste, or noise (the paper's; seeded by --seed)."),
    seed: int = typer.Option(0, "--seed", help="deep only: the seed of --init noise (the result is otherwise deterministic)."),
    device: str = typer.Option("auto", "--device", help=f"Where deep blending runs: {DEVICE_HELP}."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Paste the masked region of FOREGROUND into --onto, blended (Poisson cloning or deep image blending)."""
    from atelier.cli.progress import progress_bar
    from atelier.image import load_image, save_image
    from atelier.tasks.catalog.composite import DEEP_STEPS
    from atelier.tasks.registry import TaskContext, get_task

    check_image_output(output, overwrite=overwrite)
    spec = get_task("composite")
    params = {"method": method, "at": parse_at(at), "mode": mode, "steps": steps, "init": init}
    params = {k: v for k, v in params.items() if v is not None}
    ctx = TaskContext(seed=seed, device=device)
    spec.validate(params, ctx)  # wrong choices and options of the other method, before any file is read
    if method == "deep":
        select_device(device)
    inputs = {"image": load_image(foreground), "mask": load_image(mask), "background": load_image(onto)}
    total = 2 * (steps or DEEP_STEPS) if method == "deep" else 1
    with progress_bar("blending" if method == "deep" else "cloning", total=total) as advance:
        shown = [0]

        def report(done: int, _total: int, stage: str) -> None:
            if done > shown[0]:
                advance(done - shown[0], stage)
                shown[0] = done

        ctx.progress = report
        result = spec.run(inputs, params, ctx)
    save_image(output, result.images["image"], overwrite=True)
    typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("composite")(composite)
