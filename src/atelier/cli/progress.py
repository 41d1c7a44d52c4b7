"""Rich progress bars for long work (a rate and an ETA), drawn only on a terminal."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "-/s")


@contextmanager
def progress_bar(
    label: str, total: int, *, completed: int = 0
) -> Iterator[Callable[..., None]]:
    """Yield ``advance(count=1, description=None)``; draws a bar on stderr on a terminal."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
    )
    with progress:
        task = progress.add_task(label, total=total, completed=completed)

        def advance(count: int = 1, description: str | None = None) -> None:
            progress.update(task, advance=count, description=description or label)

        yield advance
