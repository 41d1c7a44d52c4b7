"""``atelier tasks`` and ``atelier run TASK``: any registered task from the command line, with
the inputs and parameters the studio's form shows (both come from the task registry).

Inputs are ``name=FILE`` (``name=TEXT`` for a text input such as ``prompt``); a bare file is
the task's first image input. Parameters are ``-p name=value``, read and range-checked as the
registry declares them. The task's first image result goes to ``-o``, any other one beside it
as ``OUT-NAME.png``; its text and data are printed (``--json`` for all of it).

Example
-------
$ atelier tasks
$ atelier run upscale small.png -p scale=2 -o big.png
$ atelier run inpaint photo.jpg mask=scratches.png -p method=telea -o fixed.png
$ atelier run generate prompt="a red circle above a blue square" -p n=4 -o grid.png
$ atelier run caption photo.jpg --json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from atelier.devices import DEVICE_HELP
from atelier.errors import InvalidArgument


def tasks(as_json: bool = typer.Option(False, "--json", help="Print JSON (what GET /api/tasks gives).")) -> None:
    """List every task: its inputs, parameters (type, default, range) and what it does."""
    from rich.console import Console
    from rich.table import Table

    from atelier.cli.ops_list import _default
    from atelier.tasks.registry import list_tasks

    specs = list_tasks()
    if as_json:
        typer.echo(json.dumps([s.describe() for s in specs], indent=2))
        return
    table = Table()
    for col in ("task", "inputs", "parameters", "what it does"):
        table.add_column(col, overflow="fold")
    for s in specs:
        inputs = "\n".join(f"{i.name}: {i.kind}" + ("" if i.required else " (optional)") for i in s.inputs)
        params = "\n".join(f"{p.name}: {p.type_name} = {_default(p)}" + (f" in {p.range}" if p.range else "")
                           for p in s.params)
        table.add_row(s.name, inputs or "-", params or "-", s.summary)
    Console().print(table)


def _inputs(spec, given: List[str]) -> dict:
    from atelier.image import load_image

    images = [i for i in spec.inputs if i.kind != "text"]
    out: dict = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep:  # a bare file: the first image input not yet given
            free = [i for i in images if i.name not in out]
            if not free:
                raise InvalidArgument(f"{item}: task {spec.name} takes no more images; name the input (name=FILE)")
            name, value = free[0].name, item
        match = next((i for i in spec.inputs if i.name == name), None)
        if match is None:
            known = ", ".join(i.name for i in spec.inputs) or "none"
            raise InvalidArgument(f"task {spec.name} has no input {name!r} (inputs: {known})")
        if name in out:
            raise InvalidArgument(f"input {name} given twice")
        out[name] = value if match.kind == "text" else load_image(value)
    return out


def _params(spec, pairs: List[str]) -> dict:
    values: dict = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise InvalidArgument(f"-p {pair}: write name=value, e.g. -p scale=2")
        values[name] = spec.param(name).parse(text)
    return values


def run(
    task: str = typer.Argument(..., help="A task (see `atelier tasks`)."),
    inputs: List[str] = typer.Argument(None, help="Inputs: FILE (the first image input), name=FILE, or name=TEXT."),
    params: List[str] = typer.Option([], "--param", "-p", help="A parameter, name=value (repeatable)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Where the task's first image result goes."),
    seed: int = typer.Option(0, "--seed", help="Seed of anything random: same seed, same result."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
    as_json: bool = typer.Option(False, "--json", help="Print the result's text and data as JSON."),
) -> None:
    """Run one registered task on files: what the studio runs, from the command line."""
    from atelier.cli.outputs import check_image_output
    from atelier.cli.progress import warnings_on_one_line
    from atelier.cli.text_to_image import step_progress
    from atelier.image import save_image
    from atelier.tasks.registry import TaskContext, get_task

    spec = get_task(task)
    values = _params(spec, params)
    if output is not None:
        check_image_output(output, overwrite=overwrite)
    elif spec.outputs and not as_json:
        raise InvalidArgument(f"task {spec.name} makes an image: give -o OUT.png")
    given = _inputs(spec, inputs or [])
    with warnings_on_one_line(), step_progress(spec.name) as report:
        ctx = TaskContext(seed=seed, device=device, progress=lambda done, total, stage: report(done, total))
        result = spec.run(given, values, ctx)
    written = []
    if output is not None and result.images:
        out = Path(output)
        for k, (name, image) in enumerate(result.images.items()):
            path = out if k == 0 else out.with_name(f"{out.stem}-{name}{out.suffix}")
            save_image(path, image, overwrite=overwrite)
            written.append(str(path))
    if as_json:
        typer.echo(json.dumps({"text": result.text, "data": result.data, "written": written}, indent=2, default=str))
        return
    if result.text:
        typer.echo(result.text)
    for path in written:
        typer.echo(f"wrote {path}", err=True)


def register(app: typer.Typer) -> None:
    app.command("tasks")(tasks)
    app.command("run")(run)
