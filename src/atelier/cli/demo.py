"""``atelier demo -o DIR``: the contact sheet of representative pipelines (``make run``)."""

from __future__ import annotations

import typer

from atelier.cli.progress import progress_bar
from atelier.tasks.demo import DEMO_PIPELINES, run_demo


def demo(
    output: str = typer.Option("demo", "--output", "-o", help="Folder for index.html and images."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier demo."),
) -> None:
    """Run representative edit pipelines on bundled photos; write DIR/index.html."""
    with progress_bar("demo", total=len(DEMO_PIPELINES)) as advance:
        cards = run_demo(output, overwrite=overwrite, on_card=lambda card: advance())
    typer.echo(f"{len(cards)} pipelines -> {output}/index.html")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
