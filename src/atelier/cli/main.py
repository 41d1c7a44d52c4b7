"""Entry point of the ``atelier`` command: builds the Typer app and turns errors into one line.

A user error (any ``AtelierError``) prints ``error: <what was wrong, what to do>`` to stderr and
exits with code 2; a traceback means a bug in atelier.

Example
-------
$ atelier ops
$ atelier edit photo.jpg -o out.png "equalize | unsharp amount=1.5"
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from atelier.cli import caption, compare, demo, edit, info, ops_list, train
from atelier.cli import evaluate, generate
from atelier.cli import classify, explain
from atelier.cli import blend, composite
from atelier.cli import noise, texture
from atelier.cli import inpaint, interpolate, restore, run_task, serve, stylize, text_to_image, weights
from atelier.cli.memory import tune_allocator
from atelier.errors import AtelierError

app = typer.Typer(
    name="atelier",
    help="Deep-learning image generation and editing: train, sample, edit, measure — offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("atelier")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"atelier {_version()}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    """Deep-learning image generation and editing: train, sample, edit, measure — offline."""


edit.register(app)
ops_list.register(app)
compare.register(app)
info.register(app)
demo.register(app)
generate.register(app)
text_to_image.register(app)
evaluate.register(app)
train.register(app)
restore.register(app)
stylize.register(app)
inpaint.register(app)
weights.register(app)
interpolate.register(app)
caption.register(app)
classify.register(app)
explain.register(app)
composite.register(app)
blend.register(app)
texture.register(app)
noise.register(app)
serve.register(app)
run_task.register(app)


def fail(message: str) -> None:
    """Print one error line and exit 2 (the CLI's answer to every user error)."""
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(2)


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    tune_allocator()
    try:
        code = app(args=argv, standalone_mode=False)
    except AtelierError as exc:
        fail(str(exc))
    except TyperException as exc:  # a usage error: unknown option, missing argument, ...
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help was printed: nothing wrong
            raise SystemExit(0) from None
        fail(f"{exc.format_message()} (see `atelier --help`)")
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    run()
