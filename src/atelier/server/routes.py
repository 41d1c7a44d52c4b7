"""The studio's routes (see :mod:`atelier.server.app` for the list). Each is a thin layer:
look a name up in a registry, check, queue, read back. Nothing here runs a task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from atelier.errors import AtelierError
from atelier.server.app import _error
from atelier.server.events import job_events
from atelier.server.queue import JobQueue, QueueFull
from atelier.server.listings import list_runs, run_folder, tasks_of
from atelier.server.storage import Storage
from atelier.server.submit import accept_submission
from atelier.tasks.registry import is_safe_name

class ErrorDetail(BaseModel):
    """Every error answer: one line saying what was wrong and what to do."""

    detail: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error codes a route answers with."""
    what = {400: "bad task, parameters or input", 404: "no such thing", 409: "not in a state for that",
            413: "upload too large", 429: "the queue is full"}
    return {code: {"model": ErrorDetail, "description": what[code]} for code in codes}


def _job_form_schema() -> dict[str, Any]:
    """The multipart body of ``POST /api/jobs``, from the registry: every task's input names."""
    from atelier.tasks.registry import list_tasks

    props: dict[str, Any] = {
        "task": {"type": "string", "enum": [t.name for t in list_tasks()], "description": "the task to run"},
        "params": {"type": "string", "default": "{}", "description": "the task's parameters as a JSON object"},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0},
    }
    for task in list_tasks():
        for spec in task.inputs:
            kind = {"type": "string"} if spec.kind == "text" else {"type": "string", "format": "binary"}
            props.setdefault(spec.name, {**kind, "description": f"input {spec.name} ({spec.kind}) of the tasks that take it"})
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "properties": props, "required": ["task"]}}}}}


def add_routes(app: FastAPI, queue: JobQueue, storage: Storage, config: Any) -> None:
    """Attach every API route and the page to ``app``."""
    from atelier.server.app import STATIC

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/health", summary="Server status")
    def health() -> dict[str, Any]:
        from atelier import __version__

        return {"ok": True, "version": __version__, "queue": queue.counts(), "workers": config.workers,
                "recovered": getattr(app.state, "recovered", 0)}

    @app.get("/api/tasks", summary="The tasks, with their inputs and parameter schemas")
    def tasks() -> list[dict[str, Any]]:
        from atelier.tasks.registry import list_tasks

        return [t.describe() for t in list_tasks()]

    @app.get("/api/tasks/{name}", summary="One task", responses=_errors(404))
    def task(name: str) -> dict[str, Any]:
        from atelier.tasks.registry import get_task

        return _lookup(lambda: get_task(name).describe())

    @app.get("/api/ops", summary="The classic ops the edit task chains")
    def ops() -> list[dict[str, Any]]:
        from atelier.ops import list_ops
        from atelier.tasks.registry import param_schema

        return [{"name": op.name, "category": op.category, "summary": op.summary,
                 "params": {p.name: param_schema(p) for p in op.params if p.kind not in ("image", "images")},
                 "takes_files": any(p.kind in ("image", "images") for p in op.params)}
                for op in list_ops()]

    @app.get("/api/models", summary="Shipped models and the studio's trained runs")
    def models() -> list[dict[str, Any]]:
        from atelier.pretrained import PRETRAINED, is_installed

        shipped = [{"name": p.name, "kind": p.task, "tasks": tasks_of(p.task, p.name), "summary": p.summary,
                    "source": "shipped"} for p in PRETRAINED.values() if is_installed(p.name)]
        return shipped + [{"name": r["name"], "kind": r["model"], "tasks": tasks_of(r["model"], r["name"], storage),
                           "summary": f"trained here: {r['model']} on {r['data']}", "source": "run"}
                          for r in list_runs(storage) if r["exported"]]

    @app.get("/api/datasets", summary="Datasets a training job may name")
    def datasets() -> list[dict[str, Any]]:
        from atelier.data.registry import get_dataset
        from atelier.tasks.catalog.train import BUILT_IN_DATA

        out = [{"name": n, "summary": get_dataset(n).summary, "source": "built-in"} for n in BUILT_IN_DATA]
        if storage.datasets.is_dir():
            out += [{"name": p.name, "summary": "a folder of images in the studio's datasets", "source": "folder"}
                    for p in sorted(storage.datasets.iterdir()) if p.is_dir() and is_safe_name(p.name)]
        return out

    @app.post("/api/jobs", status_code=202, summary="Submit a job", openapi_extra=_job_form_schema(),
              responses=_errors(400, 413, 429))
    async def submit(request: Request) -> dict[str, Any]:
        try:
            form = await request.form(max_files=8, max_fields=32, max_part_size=config.max_upload_bytes)
        except Exception as exc:  # starlette's MultiPartException and friends: a bad body
            raise _error(413 if "size" in str(exc).lower() else 400, f"cannot read the form: {exc}") from None
        fields = {k: v for k, v in form.multi_items()}
        try:
            job = await run_in_threadpool(accept_submission, queue, storage, config, fields)
        except QueueFull as exc:
            raise _error(429, str(exc)) from None
        except AtelierError as exc:
            raise _error(400, str(exc)) from None
        finally:
            await form.close()
        return job

    @app.get("/api/jobs", summary="Jobs, newest first")
    def jobs(limit: int = Query(50, ge=1, le=1000),
             status: str | None = Query(None, pattern="^(queued|running|done|failed|cancelled|interrupted)$")):
        return [j.public() for j in queue.list(limit=limit, status=status)]

    @app.get("/api/jobs/{job_id}", summary="One job", responses=_errors(404))
    def job(job_id: str) -> dict[str, Any]:
        return _job(queue, job_id).public()

    @app.get("/api/jobs/{job_id}/events", summary="Server-Sent Events of a job",
             responses={**_errors(404), 200: {"content": {"text/event-stream": {}}}})
    async def events(job_id: str, request: Request, after: int = Query(0, ge=0, le=2**62)):
        _job(queue, job_id)
        last = request.headers.get("last-event-id", "")
        start = int(last) if last.isdigit() else after
        return EventSourceResponse(job_events(request, queue, job_id, start), ping=15)

    @app.get("/api/jobs/{job_id}/outputs/{name}", summary="A result image (PNG)",
             response_class=FileResponse, responses={**_errors(404), 200: {"content": {"image/png": {}}}})
    def output(job_id: str, name: str):
        job = _job(queue, job_id)
        files = {o["name"]: o["file"] for o in (job.result or {}).get("outputs", [])}
        if name not in files:
            raise _error(404, f"job {job_id} has no output {name!r}")
        return _png(storage.output_path(job_id, files[name]))

    @app.get("/api/jobs/{job_id}/inputs/{name}", summary="An uploaded input image (PNG)",
             response_class=FileResponse, responses={**_errors(404), 200: {"content": {"image/png": {}}}})
    def input_image(job_id: str, name: str):
        job = _job(queue, job_id)
        stored = (job.inputs.get(name) or {}).get("file")
        if stored is None:
            raise _error(404, f"job {job_id} has no input image {name!r}")
        return _png(storage.input_path(job_id, stored))

    @app.post("/api/jobs/{job_id}/cancel", summary="Cancel a job", responses=_errors(404))
    def cancel(job_id: str) -> dict[str, Any]:
        _job(queue, job_id)
        return queue.cancel(job_id).public()

    @app.post("/api/jobs/{job_id}/resume", summary="Queue an interrupted, failed or cancelled job again",
              responses=_errors(404, 409))
    def resume(job_id: str) -> dict[str, Any]:
        job = _job(queue, job_id)
        if job.status not in ("interrupted", "failed", "cancelled"):
            raise _error(409, f"job {job_id} is {job.status}; only an interrupted, failed or cancelled job resumes")
        return queue.requeue(job_id).public()

    @app.get("/api/runs", summary="Training runs")
    def runs() -> list[dict[str, Any]]:
        return list_runs(storage)

    @app.get("/api/runs/{name}", summary="A run: settings, loss curves, sample grids", responses=_errors(404))
    def run(name: str) -> dict[str, Any]:
        folder = run_folder(storage, name)
        records = []
        log = folder / "log.jsonl"
        if log.is_file():
            for line in log.read_text().splitlines():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut by a kill
                    continue
        summary = next((r for r in list_runs(storage) if r["name"] == name), {"name": name})
        return {**summary, "log": records}

    @app.get("/api/runs/{name}/samples/{file}", summary="A run's sample grid (PNG)",
             response_class=FileResponse, responses={**_errors(404), 200: {"content": {"image/png": {}}}})
    def run_sample(name: str, file: str):
        if not is_safe_name(file) or not file.endswith(".png"):
            raise _error(404, "no such sample")
        return _png(run_folder(storage, name) / "samples" / file)


def _lookup(fn):
    try:
        return fn()
    except AtelierError as exc:
        raise _error(404, str(exc)) from None


def _job(queue: JobQueue, job_id: str):
    job = queue.get(job_id) if is_safe_name(job_id) else None
    if job is None:
        raise _error(404, f"no job {job_id!r}")
    return job


def _png(path: Path) -> FileResponse:
    if not path.is_file():
        raise _error(404, "no such file")
    return FileResponse(path, media_type="image/png", headers={"cache-control": "no-cache"})
