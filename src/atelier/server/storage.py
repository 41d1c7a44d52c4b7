"""Where the studio keeps its things, under one home folder (default ``~/.atelier``)::

    HOME/studio.db            the job queue (SQLite, WAL)
    HOME/jobs/ID/in/NAME.png  a job's uploaded inputs, re-encoded as PNG after checking
    HOME/jobs/ID/out/NAME.png a job's results
    HOME/runs/NAME/           training runs (what ``atelier train`` writes)
    HOME/datasets/NAME/       folders of images that training jobs may name
    HOME/worker.log           tracebacks of jobs that hit a bug

Every name that reaches a path is the server's own (a job id, a registered input name) or
checked by :func:`atelier.tasks.registry.is_safe_name`; a client never names a path.

Example
-------
>>> import tempfile
>>> s = Storage(tempfile.mkdtemp())
>>> s.output_path("ab12", "image.png").relative_to(s.home).as_posix()
'jobs/ab12/out/image.png'
>>> s.output_path("ab12", "../x")
Traceback (most recent call last):
...
atelier.errors.InvalidArgument: bad file name '../x'
"""

from __future__ import annotations

from pathlib import Path

from atelier.errors import InvalidArgument
from atelier.tasks.registry import is_safe_name

__all__ = ["Storage"]


class Storage:
    """The studio home's folders (created on first use)."""

    def __init__(self, home: str | Path, *, max_pixels: int | None = None) -> None:
        self.home = Path(home).expanduser().resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.max_pixels = max_pixels

    @property
    def db_path(self) -> Path:
        return self.home / "studio.db"

    @property
    def runs(self) -> Path:
        return self.home / "runs"

    @property
    def datasets(self) -> Path:
        return self.home / "datasets"

    def _file(self, job_id: str, part: str, name: str, create: bool) -> Path:
        for value in (job_id, name):
            if not is_safe_name(value):
                raise InvalidArgument(f"bad file name {value!r}")
        folder = self.home / "jobs" / job_id / part
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def input_path(self, job_id: str, name: str, *, create: bool = False) -> Path:
        """``jobs/ID/in/NAME`` (its folder made with ``create``)."""
        return self._file(job_id, "in", name, create)

    def output_path(self, job_id: str, name: str, *, create: bool = False) -> Path:
        """``jobs/ID/out/NAME`` (its folder made with ``create``)."""
        return self._file(job_id, "out", name, create)

    def run_dir(self, name: str) -> Path:
        if not is_safe_name(name):
            raise InvalidArgument(f"bad run name {name!r}")
        return self.runs / name
