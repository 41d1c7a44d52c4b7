"""``atelier demo -o DIR``: the tour of the toolkit as a contact sheet (``make run``).

Writes ``DIR/examples/`` (the inputs of every README command), ``DIR/cards/`` and
``DIR/index.html``.
"""

from __future__ import annotations

import time

import typer

from atelier.cli.progress import progress_bar
from atelier.tasks.demo import EXAMPLES_DIR, count_cards, run_demo


def demo(
    output: str = typer.Option("demo", "--output", "-o", help="Folder for index.html, cards/ and examples/."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier demo and its example files."),
) -> None:
    """A tour of atelier on bundled photos: DIR/index.html, and DIR/examples/ for the README commands."""
    start = time.perf_counter()
    with progress_bar("demo", total=count_cards(output)) as advance:
        cards = run_demo(output, overwrite=overwrite, on_card=lambda card: advance())
    typer.echo(
        f"{len(cards)} cards in {time.perf_counter() - start:.0f} s -> {output}/index.html; "
        f"example files for the README commands: cd {output}/{EXAMPLES_DIR}"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
