"""One process per run folder: an advisory lock held for a run's life.

Two ``atelier train --resume RUN`` at once would both train, interleave ``log.jsonl`` and
overwrite each other's checkpoints. ``RunLock(run)`` takes an exclusive ``fcntl.flock`` on
``RUN/run.lock`` (and writes its pid there) for as long as the run trains; a second process
gets ``RunInUse``: ``RUN is in use by another atelier process (pid N)``. The kernel drops the
lock when the process ends, however it ends (even SIGKILL), so a stale ``run.lock`` file
never blocks anyone. Under ``torchrun`` rank 0 alone locks (the other ranks are the same
run). Where ``fcntl`` does not exist (Windows) there is no lock.

Example
-------
>>> import tempfile
>>> run = tempfile.mkdtemp()
>>> with RunLock(run):
...     try:
...         RunLock(run).acquire()
...     except RunInUse as exc:
...         print("refused:", "is in use by another atelier process" in str(exc))
refused: True
"""

from __future__ import annotations

import os
from pathlib import Path

from atelier.errors import AtelierError, InvalidArgument

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "run.lock"


class RunInUse(AtelierError):
    """Another process is training in this run folder."""


class RunLock:
    """``with RunLock(run):`` -- hold ``run``'s lock (creating the folder) or raise ``RunInUse``.

    ``enabled=False`` makes it a no-op (the ranks > 0 of a torchrun launch).
    """

    def __init__(self, run: str | os.PathLike, *, enabled: bool = True) -> None:
        self.run = Path(run)
        self.enabled = enabled and fcntl is not None
        self._fd: int | None = None

    def acquire(self) -> None:
        if not self.enabled or self._fd is not None:
            return
        try:
            self.run.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidArgument(f"cannot use {self.run} as a run folder: it or a parent is a file") from None
        except OSError as exc:
            raise InvalidArgument(
                f"cannot create the run folder {self.run} ({exc.strerror or exc})"
            ) from None
        path = self.run / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise InvalidArgument(f"cannot write {path} ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            except OSError:
                pid = ""
            os.close(fd)
            who = f"pid {pid}" if pid.isdigit() else "pid unknown"
            raise RunInUse(
                f"{self.run} is in use by another atelier process ({who}); wait for it to "
                "finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
