"""Progress for long work: a Rich bar (rate and ETA) on a terminal, plain lines otherwise.

When stderr is not a terminal (piped into a file, ``nohup``, a CI log, a job scheduler) a bar
cannot be drawn, so a plain line is printed every ``PLAIN_INTERVAL`` seconds instead::

    upscaling: 120/2000 (6 %), 3.1 it/s, ETA 10:05

Under ``torchrun`` only rank 0 reports, so N processes do not print N copies.
``is_main_process()`` tells other printing code the same.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

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

#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_INTERVAL = 10.0


def is_main_process() -> bool:
    """False on the ranks > 0 of a ``torchrun`` launch (``RANK`` set and not 0)."""
    try:
        return int(os.environ.get("RANK", "0") or 0) == 0
    except ValueError:
        return True


class RateColumn(ProgressColumn):
    """Items per second."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "-/s")


def _clock(seconds: float) -> str:
    """``10:05`` (minutes:seconds) or ``1:02:03`` (hours)."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def plain_line(label: str, done: int, total: int, elapsed: float, start: int = 0) -> str:
    """``label: 120/2000 (6 %), 3.1 it/s, ETA 10:05`` (rate over this run's own items).

    Example
    -------
    >>> plain_line("upscaling", 120, 2000, 40.0)
    'upscaling: 120/2000 (6 %), 3.0 it/s, ETA 10:27'
    """
    percent = 100 * done / total if total else 100.0
    rate = (done - start) / elapsed if elapsed > 0 else 0.0
    text = f"{label}: {done}/{total} ({percent:.0f} %)"
    if rate > 0:
        text += f", {rate:.1f} it/s" if rate >= 1 else f", {1 / rate:.1f} s/it"
        if total and done < total:
            text += f", ETA {_clock((total - done) / rate)}"
    return text


class _Plain:
    """Plain progress lines on ``stream`` at most every ``interval`` seconds."""

    def __init__(self, label: str, total: int, completed: int, stream: TextIO, interval: float) -> None:
        self.label, self.total, self.done, self.start = label, total, completed, completed
        self.stream, self.interval = stream, interval
        self.t0 = self.last = time.monotonic()
        self.description = label
        self.shown = None  # the count the last line showed

    def advance(self, count: int = 1, description: str | None = None) -> None:
        self.done += count
        if description:
            self.description = description
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.emit(now)

    def emit(self, now: float) -> None:
        self.last = now
        self.shown = self.done
        line = plain_line(self.description, self.done, self.total, now - self.t0, self.start)
        print(line, file=self.stream, flush=True)

    def finish(self) -> None:
        if self.shown is not None and self.shown != self.done:  # the last state, once lines were shown
            self.emit(time.monotonic())


@contextmanager
def progress_bar(
    label: str, total: int, *, completed: int = 0, interval: float | None = None
) -> Iterator[Callable[..., None]]:
    """Yield ``advance(count=1, description=None)``.

    On a terminal: a Rich bar on stderr. Otherwise: a plain line every ``interval`` seconds
    (default ``PLAIN_INTERVAL``). Nothing on the ranks > 0 of a ``torchrun`` launch.
    """
    if not is_main_process():
        yield lambda count=1, description=None: None
        return
    if not sys.stderr.isatty():
        plain = _Plain(label, total, completed, sys.stderr, PLAIN_INTERVAL if interval is None else interval)
        try:
            yield plain.advance
        finally:
            plain.finish()
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with progress:
        task = progress.add_task(label, total=total, completed=completed)

        def advance(count: int = 1, description: str | None = None) -> None:
            progress.update(task, advance=count, description=description or label)

        yield advance


@contextmanager
def warnings_on_one_line() -> Iterator[None]:
    """Show warnings (a checkpoint skipped, an unreadable photo, uncaptioned images) as one
    ``warning: ...`` line on stderr each, not Python's two-line form with the source line."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
