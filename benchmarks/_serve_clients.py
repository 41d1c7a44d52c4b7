"""The studio server and its clients for ``serve_load.py``: a server subprocess that can be
SIGKILLed and started again, and client threads that submit jobs and wait for them.

A client's submission is *accepted* when the server answered 202 with a job id. A request cut
by a kill has no answer: the job may or may not exist. The ledger therefore ends with the
queue's own table (``studio.db``): every job there must be ``done`` with ``completions == 1``
(nothing run twice), and every accepted id must be there (nothing lost).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m atelier.server`` on loopback, in its own process group."""

    def __init__(self, home: Path, workers: int, threads: int, max_queued: int = 1000) -> None:
        self.home, self.workers, self.threads, self.max_queued = home, workers, threads, max_queued
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> float:
        """Start and wait until it answers; returns the seconds that took."""
        began = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "atelier.server", "--home", str(self.home), "--port", str(self.port),
             "--workers", str(self.workers), "--threads", str(self.threads), "--max-queued", str(self.max_queued)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        while time.perf_counter() - began < timeout:
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return time.perf_counter() - began
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the studio server did not start")

    def kill(self) -> None:
        """SIGKILL the server process alone (its workers die by the parent-death signal)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)


def submit(client: httpx.Client, task: str, params: dict, files: dict[str, bytes]) -> httpx.Response:
    parts = {k: (f"{k}.png", v, "image/png") for k, v in files.items()}
    return client.post("/api/jobs", data={"task": task, "params": json.dumps(params)}, files=parts)


def wait_done(client: httpx.Client, job_id: str, timeout: float = 600.0) -> dict[str, Any]:
    """Follow the job's event stream (what the web page does) until its ``done`` or ``error``
    event; a cut stream (a restarting server) is opened again. Returns the final job."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with client.stream("GET", f"/api/jobs/{job_id}/events", timeout=timeout) as stream:
                event = None
                for line in stream.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event in ("done", "error"):
                        return json.loads(line[5:])
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not end in {timeout} s")


@dataclass
class Ledger:
    """What the clients saw: latencies of finished jobs, accepted ids, refusals, cut requests."""

    latencies: list[float] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    refused_429: int = 0
    cut: int = 0
    failed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_clients(url: str, clients: int, seconds: float, jobs: list[tuple[str, dict, dict[str, bytes]]],
                ledger: Ledger, stop: threading.Event | None = None) -> None:
    """``clients`` threads, each submitting the next of ``jobs`` (in turn) and waiting for it,
    until ``seconds`` pass; every submission lands in ``ledger``."""
    stop = stop or threading.Event()
    end = time.monotonic() + seconds

    def client_loop(k: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            i = k
            while time.monotonic() < end and not stop.is_set():
                task, params, files = jobs[i % len(jobs)]
                i += clients
                began = time.perf_counter()
                try:
                    r = submit(client, task, params, files)
                except httpx.HTTPError:
                    with ledger.lock:
                        ledger.cut += 1
                    time.sleep(0.2)
                    continue
                if r.status_code == 429:
                    with ledger.lock:
                        ledger.refused_429 += 1
                    time.sleep(0.05)
                    continue
                if r.status_code != 202:
                    raise RuntimeError(f"submission refused: {r.status_code} {r.text}")
                job_id = r.json()["id"]
                with ledger.lock:
                    ledger.accepted.append(job_id)
                job = wait_done(client, job_id)
                with ledger.lock:
                    if job["status"] == "done":
                        ledger.latencies.append(time.perf_counter() - began)
                    else:
                        ledger.failed.append(f"{job_id}: {job['status']} {job['error']}")

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def queue_audit(home: Path, accepted: list[str]) -> dict[str, Any]:
    """The queue's own account: jobs by status, finishes per job, accepted ids missing."""
    with sqlite3.connect(home / "studio.db") as db:
        rows = db.execute("SELECT id, status, completions FROM jobs").fetchall()
    by_id = {r[0]: (r[1], r[2]) for r in rows}
    statuses: dict[str, int] = {}
    for status, _ in by_id.values():
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "jobs_in_queue": len(by_id),
        "statuses": statuses,
        "lost": sorted(set(accepted) - set(by_id)),
        "not_done": sorted(i for i, (s, _) in by_id.items() if s != "done"),
        "completed_twice": sorted(i for i, (_, c) in by_id.items() if c > 1),
        "unanswered_but_done": len(set(by_id) - set(accepted)),
    }
