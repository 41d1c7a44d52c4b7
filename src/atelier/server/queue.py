"""The studio's persistent job queue: SQLite in WAL mode, safe across processes.

A job goes ``queued -> running -> done | failed | cancelled``; a training job cut by a server
restart becomes ``interrupted`` (resumable: :meth:`JobQueue.requeue`), any other running job
goes back to ``queued`` and runs again from the start. Each claim increments the job's
``attempt``; a worker's :meth:`progress`, :meth:`finish` and :meth:`fail` name the attempt
they hold and change nothing once it is stale (the job was recovered, cancelled or timed
out), so a job completes at most once — ``completions`` counts the finishes to prove it.

Claiming is one ``UPDATE ... WHERE rowid = (SELECT ... LIMIT 1) RETURNING *`` in an
IMMEDIATE transaction (the litequeue pattern): two workers never get the same job.
Every change bumps the job's ``version``; events a job makes as it runs (log records,
sample grids) are stored under the version they made, which the server's event stream sends
as the SSE event id.

Example
-------
>>> import tempfile
>>> q = JobQueue(tempfile.mkdtemp() + "/jobs.db")
>>> job = q.submit("edit", {"pipeline": "equalize"}, {"image": {"file": "image.png"}})
>>> claimed = q.claim("w1")
>>> claimed.id == job.id, claimed.status, claimed.attempt
(True, 'running', 1)
>>> q.progress(job.id, 1, 1, 2, "editing")
True
>>> q.finish(job.id, 1, {"outputs": []}), q.get(job.id).status
(True, 'done')
>>> q.finish(job.id, 1, {"outputs": []})  # a second finish changes nothing
False
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

__all__ = ["Job", "JobQueue", "QueueFull", "FINAL", "STATUSES"]

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
#: States a job does not leave by itself.
FINAL = ("done", "failed", "cancelled", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    task TEXT NOT NULL,
    params TEXT NOT NULL,
    inputs TEXT NOT NULL,
    seed INTEGER NOT NULL DEFAULT 0,
    long INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    error TEXT,
    result TEXT,
    cancel_at REAL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    timeout REAL,
    version INTEGER NOT NULL DEFAULT 0,
    completions INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE TABLE IF NOT EXISTS events (
    job TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job, version)
);
"""


class QueueFull(Exception):
    """The queue holds its limit of waiting jobs (the API answers 429)."""


@dataclass(frozen=True)
class Job:
    """One row of the queue, as the API shows it (``result``: outputs, text and data)."""

    id: str
    task: str
    params: dict[str, Any]
    inputs: dict[str, Any]
    seed: int
    long: bool
    status: str
    attempt: int
    worker: str | None
    done: int
    total: int
    stage: str
    error: str | None
    result: dict[str, Any] | None
    cancel_at: float | None
    created: float
    started: float | None
    finished: float | None
    timeout: float | None
    version: int
    completions: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Job":
        values = {k: row[k] for k in row.keys() if k != "seq"}
        for key in ("params", "inputs", "result"):
            values[key] = json.loads(values[key]) if values[key] is not None else None
        values["long"] = bool(values["long"])
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """What the API returns for the job (no worker internals)."""
        return {
            "id": self.id, "task": self.task, "params": self.params, "seed": self.seed,
            "status": self.status, "attempt": self.attempt,
            "progress": {"done": self.done, "total": self.total, "stage": self.stage},
            "error": self.error, "result": self.result, "cancel_requested": self.cancel_at is not None,
            "created": self.created, "started": self.started, "finished": self.finished,
            "version": self.version, "long": self.long,
            "inputs": [name for name, stored in self.inputs.items() if "file" in stored],
            "texts": {name: stored["text"] for name, stored in self.inputs.items() if "text" in stored},
        }


class JobQueue:
    """The job table of one studio home (``path``: its SQLite file). Each thread gets its own
    connection; every method is one short transaction."""

    def __init__(self, path: str | Path, *, max_queued: int = 1000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_queued = max_queued
        self._local = threading.local()
        self._db().executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process kill
            self._local.db = db
        return db

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, kind, value, tb) -> None:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")

    def _tx(self) -> "JobQueue._Tx":
        return JobQueue._Tx(self._db())

    # ------------------------------------------------------------------ submitting and reading
    def submit(self, task: str, params: Mapping[str, Any], inputs: Mapping[str, Any], *,
               seed: int = 0, long: bool = False, timeout: float | None = None,
               job_id: str | None = None) -> Job:
        """Queue a job; ``QueueFull`` when ``max_queued`` jobs already wait."""
        job_id = job_id or uuid.uuid4().hex[:16]
        with self._tx() as db:
            waiting = db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()[0]
            if waiting >= self.max_queued:
                raise QueueFull(f"the queue is full ({waiting} jobs waiting); try again later")
            db.execute(
                "INSERT INTO jobs (id, task, params, inputs, seed, long, status, created, timeout, version)"
                " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, 1)",
                (job_id, task, json.dumps(dict(params)), json.dumps(dict(inputs)), int(seed), int(long),
                 time.time(), timeout),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row is not None else None

    def list(self, *, limit: int = 100, status: str | None = None) -> list[Job]:
        """The newest ``limit`` jobs, newest first (optionally of one status)."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self._db().execute(f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ?", (*args, limit))
        return [Job.from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._db().execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {status: n for status, n in rows}

    def events(self, job_id: str, after: int = 0) -> list[tuple[int, str, dict[str, Any]]]:
        """``(version, kind, data)`` of the job's events made after version ``after``."""
        rows = self._db().execute(
            "SELECT version, kind, data FROM events WHERE job = ? AND version > ? ORDER BY version",
            (job_id, after),
        )
        return [(v, k, json.loads(d)) for v, k, d in rows]

    # ------------------------------------------------------------------ a worker's side
    def claim(self, worker: str) -> Job | None:
        """Take the oldest queued job for ``worker`` (atomically), or None."""
        with self._tx() as db:
            row = db.execute(
                "UPDATE jobs SET status = 'running', worker = ?, attempt = attempt + 1, started = ?,"
                " done = 0, total = 0, stage = '', error = NULL, version = version + 1"
                " WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1)"
                " RETURNING *",
                (worker, time.time()),
            ).fetchone()
        return Job.from_row(row) if row is not None else None

    def progress(self, job_id: str, attempt: int, done: int, total: int, stage: str = "") -> bool:
        """Record progress; False when the worker should stop (cancelled, or no longer its job)."""
        with self._tx() as db:
            row = db.execute(
                "UPDATE jobs SET done = ?, total = ?, stage = ?, version = version + 1"
                " WHERE id = ? AND attempt = ? AND status = 'running' RETURNING cancel_at",
                (int(done), int(total), stage[:200], job_id, attempt),
            ).fetchone()
        return row is not None and row["cancel_at"] is None

    def add_event(self, job_id: str, attempt: int, kind: str, data: Mapping[str, Any]) -> bool:
        """Store an event of a running attempt; False when the attempt is stale."""
        with self._tx() as db:
            row = db.execute(
                "UPDATE jobs SET version = version + 1 WHERE id = ? AND attempt = ? AND status = 'running'"
                " RETURNING version",
                (job_id, attempt),
            ).fetchone()
            if row is None:
                return False
            db.execute("INSERT INTO events (job, version, kind, data) VALUES (?, ?, ?, ?)",
                       (job_id, row["version"], kind, json.dumps(dict(data), allow_nan=False, default=str)))
        return True

    def finish(self, job_id: str, attempt: int, result: Mapping[str, Any]) -> bool:
        """Mark the attempt done with ``result``; False (nothing changed) when it is stale."""
        return self._end(job_id, attempt, "done", None, result)

    def fail(self, job_id: str, attempt: int, message: str, *, status: str = "failed") -> bool:
        """End the attempt as ``failed`` (or ``cancelled``) with a one-line message."""
        return self._end(job_id, attempt, status, message, None)

    def _end(self, job_id: str, attempt: int, status: str, error: str | None,
             result: Mapping[str, Any] | None) -> bool:
        with self._tx() as db:
            row = db.execute(
                "UPDATE jobs SET status = ?, error = ?, result = ?, finished = ?, version = version + 1,"
                " completions = completions + ? WHERE id = ? AND attempt = ? AND status = 'running'"
                " RETURNING id",
                (status, error, None if result is None else json.dumps(dict(result)), time.time(),
                 int(status == "done"), job_id, attempt),
            ).fetchone()
        return row is not None

    # ------------------------------------------------------------------ the server's side
    def cancel(self, job_id: str) -> Job | None:
        """Cancel a job: a queued one at once; a running one is asked to stop (its worker stops
        at its next progress report, or is stopped by the pool). None for an unknown id."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET status = 'cancelled', finished = ?, error = 'cancelled before it started',"
                " version = version + 1 WHERE id = ? AND status = 'queued'", (now, job_id))
            db.execute(
                "UPDATE jobs SET cancel_at = ?, version = version + 1"
                " WHERE id = ? AND status = 'running' AND cancel_at IS NULL", (now, job_id))
        return self.get(job_id)

    def requeue(self, job_id: str) -> Job | None:
        """Queue an interrupted, failed or cancelled job again (a training run resumes from its
        last checkpoint); a job in another state is returned unchanged."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET status = 'queued', cancel_at = NULL, error = NULL, finished = NULL,"
                " version = version + 1 WHERE id = ? AND status IN ('interrupted', 'failed', 'cancelled')",
                (job_id,))
        return self.get(job_id)

    def running(self) -> list[Job]:
        rows = self._db().execute("SELECT * FROM jobs WHERE status = 'running' ORDER BY seq")
        return [Job.from_row(r) for r in rows]

    def recover(self) -> int:
        """At start-up (no worker alive): running jobs go back to ``queued``; a long job
        (training) becomes ``interrupted``, to be resumed on request. Returns how many."""
        now = time.time()
        with self._tx() as db:
            db.execute(  # asked to stop before the server went: stopped
                "UPDATE jobs SET status = 'cancelled', error = 'cancelled', finished = ?, version = version + 1"
                " WHERE status = 'running' AND cancel_at IS NOT NULL", (now,))
            cancelled = db.execute("SELECT changes()").fetchone()[0]
            db.execute(
                "UPDATE jobs SET status = 'interrupted', error = 'the server stopped while it ran; resume it',"
                " finished = ?, version = version + 1 WHERE status = 'running' AND long = 1", (now,))
            long_jobs = db.execute("SELECT changes()").fetchone()[0]
            db.execute(
                "UPDATE jobs SET status = 'queued', worker = NULL, version = version + 1"
                " WHERE status = 'running'")
            short_jobs = db.execute("SELECT changes()").fetchone()[0]
        return cancelled + long_jobs + short_jobs

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
