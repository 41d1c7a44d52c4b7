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

from atelier.cli import compare, demo, edit, info, ops_list
from atelier.cli.memory import tune_allocator
from atelier.errors import AtelierError

app = typer.Typer(
    name="atelier",
    help="Deep-learning image generation and editing: train, sample, edit, measure — offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
edit.register(app)
ops_list.register(app)
compare.register(app)
info.register(app)
demo.register(app)


def fail(message: str) -> None:
    """Print one error line and exit 2 (the CLI's answer to every user error)."""
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(2)


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    tune_allocator()
    try:
        app(args=argv, standalone_mode=True)
    except AtelierError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    run()
