"""Helpers of the studio's tests: uploads, submitting, waiting, and a real server process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from atelier.image import encode_image

#: TestClient's base URL: the guard accepts loopback host names only.
BASE = "http://127.0.0.1:7860"


def png_bytes(h: int = 24, w: int = 32, seed: int = 0) -> bytes:
    """A small random RGB PNG."""
    rng = np.random.default_rng(seed)
    return encode_image((rng.random((h, w, 3)) * 255).astype(np.uint8), "png")


def submit(client, task: str, params: dict | None = None, files: dict | None = None, **fields):
    """POST /api/jobs with ``files`` as {name: bytes} (PNG) and text ``fields``."""
    data = {"task": task, "params": json.dumps(params or {}), **fields}
    parts = {k: (f"{k}.png", v, "image/png") for k, v in (files or {}).items()}
    return client.post("/api/jobs", data=data, files=parts or None)


def wait_for(client, job_id: str, timeout: float = 60.0, states=("done", "failed", "cancelled", "interrupted")):
    """Poll a job until it reaches one of ``states``; returns its JSON."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m atelier.server`` in a subprocess on a free port (SIGKILL-able)."""

    def __init__(self, home: Path, workers: int = 1, port: int | None = None, extra: tuple[str, ...] = ()):
        self.home, self.workers, self.port, self.extra = home, workers, port or free_port(), extra
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        import httpx

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "atelier.server", "--home", str(self.home), "--port", str(self.port),
             "--workers", str(self.workers), *self.extra],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.proc.stderr.read().decode()}")
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not answer in time")

    def kill(self, group: bool = False) -> None:
        """SIGKILL the server process (its workers die with it: the parent-death signal), or
        with ``group`` its whole process group."""
        if self.proc is None:
            return
        if group:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        elif self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
