"""The studio's workers: processes that claim jobs from the queue and run registered tasks.

The server's event loop never runs torch: each worker is a process of its own (``spawn``),
which dies with the server (Linux's parent-death signal, and a check of its parent between
jobs), so after a restart no worker of the old server is left to finish a job twice.
:class:`WorkerPool` (a thread in the server) keeps ``workers`` of them alive, and stops one
whose job ran past its time limit or did not stop within ``cancel_grace`` seconds of a cancel.

A job's files live under the studio home (:mod:`atelier.server.storage`): its inputs in
``jobs/ID/in/``, its outputs in ``jobs/ID/out/`` (written atomically before the job is marked
done), training runs in ``runs/NAME/``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from atelier.server.queue import Job, JobQueue
from atelier.server.storage import Storage

__all__ = ["WorkerPool", "run_job", "worker_main"]

log = logging.getLogger("atelier.server")

#: Seconds between a worker's progress writes (a final report is always written).
PROGRESS_INTERVAL = 0.2


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (nothing elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _json_safe(value: Any) -> Any:
    """``value`` through JSON (numpy numbers become floats; NaN becomes None)."""
    text = json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    return json.loads(text.replace("NaN", "null").replace("-Infinity", "null").replace("Infinity", "null"))


def run_job(queue: JobQueue, storage: Storage, job: Job, *, device: str = "auto") -> str:
    """Run one claimed job to its end; returns the status it ended in."""
    from atelier.errors import AtelierError
    from atelier.image import load_image, save_image
    from atelier.tasks.registry import TaskCancelled, TaskContext, get_task

    stop = [False]
    last = [0.0]

    def progress(done: int, total: int, stage: str) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < PROGRESS_INTERVAL:
            return
        last[0] = now
        if not queue.progress(job.id, job.attempt, done, total, stage):
            stop[0] = True

    def emit(kind: str, data: dict[str, Any]) -> None:
        if not queue.add_event(job.id, job.attempt, kind, _json_safe(data)):
            stop[0] = True

    ctx = TaskContext(seed=job.seed, device=device, progress=progress, should_stop=lambda: stop[0],
                      emit=emit, work_dir=storage.home, allow_paths=False, max_pixels=storage.max_pixels)
    try:
        spec = get_task(job.task)
        inputs = {}
        for name, stored in job.inputs.items():  # {"file": NAME.png} or {"text": ...}
            if "file" in stored:
                inputs[name] = load_image(storage.input_path(job.id, stored["file"]), max_pixels=storage.max_pixels)
            else:
                inputs[name] = stored["text"]
        result = spec.run(inputs, job.params, ctx)
        outputs = []
        for name, image in result.images.items():
            path = storage.output_path(job.id, f"{name}.png", create=True)
            save_image(path, image, overwrite=True)
            outputs.append({"name": name, "kind": "image", "file": path.name,
                            "width": int(image.shape[1]), "height": int(image.shape[0])})
        done = queue.finish(job.id, job.attempt, {"outputs": outputs, "text": result.text,
                                                   "data": _json_safe(result.data)})
        return "done" if done else "stale"
    except TaskCancelled:
        queue.fail(job.id, job.attempt, "cancelled", status="cancelled")
        return "cancelled"
    except AtelierError as exc:
        queue.fail(job.id, job.attempt, str(exc))
        return "failed"
    except Exception as exc:  # a bug in atelier: the job says so, the log has the traceback
        log.error("job %s (%s) failed:\n%s", job.id, job.task, traceback.format_exc())
        queue.fail(job.id, job.attempt, f"internal error: {type(exc).__name__}: {exc}")
        return "failed"


def worker_main(home: str, worker_id: str, threads: int, device: str = "auto",
                max_pixels: int | None = None, poll: float = 0.02) -> None:
    """A worker process: claim and run jobs until the parent goes away."""
    _die_with_parent()
    parent = os.getppid()
    import torch

    torch.set_num_threads(max(1, threads))
    storage = Storage(Path(home), max_pixels=max_pixels)
    logging.basicConfig(filename=storage.home / "worker.log", level=logging.INFO)
    queue = JobQueue(storage.db_path)
    while os.getppid() == parent:
        job = queue.claim(worker_id)
        if job is None:
            time.sleep(poll)
            continue
        run_job(queue, storage, job, device=device)


class WorkerPool:
    """Keeps ``count`` worker processes alive for one studio home (a thread of the server).

    Every ``interval`` seconds it replaces dead workers (a job a dead worker held fails with a
    message), stops the worker of a job past its ``timeout`` or cancelled more than
    ``cancel_grace`` seconds ago, and marks that job ``failed`` or ``cancelled``.
    """

    def __init__(self, storage: Storage, queue: JobQueue, count: int, *, threads: int = 1,
                 device: str = "auto", cancel_grace: float = 3.0, interval: float = 0.25) -> None:
        self.storage = storage
        self.queue = queue
        self.count = count
        self.threads = threads
        self.device = device
        self.cancel_grace = cancel_grace
        self.interval = interval
        self._context = multiprocessing.get_context("spawn")
        self._procs: dict[str, Any] = {}
        self._serial = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        for _ in range(self.count):
            self._spawn()
        self._thread = threading.Thread(target=self._watch, name="atelier-worker-pool", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        self._serial += 1
        worker_id = f"{os.getpid()}-{self._serial}"
        proc = self._context.Process(
            target=worker_main, name=f"atelier-worker-{self._serial}", daemon=True,
            args=(str(self.storage.home), worker_id, self.threads, self.device, self.storage.max_pixels),
        )
        proc.start()
        self._procs[worker_id] = proc

    def _kill(self, worker_id: str) -> None:
        proc = self._procs.pop(worker_id, None)
        if proc is not None:
            proc.kill()
            proc.join(5)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the pool must outlive a bad moment (a locked database, say)
                log.error("worker pool check failed:\n%s", traceback.format_exc())

    def check(self) -> None:
        """One round of the pool's duties (see the class docstring)."""
        now = time.time()
        for job in self.queue.running():
            if job.worker not in self._procs:
                continue  # another server's, or already handled
            if job.cancel_at is not None and now - job.cancel_at > self.cancel_grace:
                self._kill(job.worker)
                self.queue.fail(job.id, job.attempt, "cancelled", status="cancelled")
            elif job.timeout is not None and job.started is not None and now - job.started > job.timeout:
                self._kill(job.worker)
                self.queue.fail(job.id, job.attempt, f"stopped: it ran past its time limit of {job.timeout:g} s")
        for worker_id, proc in list(self._procs.items()):
            if not proc.is_alive():
                self._procs.pop(worker_id)
                for job in self.queue.running():
                    if job.worker == worker_id:
                        self.queue.fail(job.id, job.attempt, "the worker process stopped unexpectedly "
                                        f"(exit code {proc.exitcode}; out of memory?)")
        while len(self._procs) < self.count and not self._stop.is_set():
            self._spawn()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for worker_id in list(self._procs):
            self._kill(worker_id)
