"""The studio's HTTP API and web page (FastAPI), over the task registry and the job queue.

``create_app(StudioConfig(...))`` builds the app; its lifespan opens the queue, recovers jobs
a previous server left running (:meth:`~atelier.server.queue.JobQueue.recover`) and starts the
worker pool; the event loop itself only reads and writes the queue. Routes (all JSON unless
said):

    GET  /api/health                      version, queue counts, workers
    GET  /api/tasks  /api/tasks/{name}    tasks with their inputs and parameter JSON Schema
    GET  /api/ops                         the classic ops with their parameters
    GET  /api/models  /api/datasets       shipped models and studio runs; datasets by name
    POST /api/jobs                        multipart: task, params (JSON), seed, files/text by input name
    GET  /api/jobs  /api/jobs/{id}        jobs, newest first; one job
    GET  /api/jobs/{id}/events            Server-Sent Events: progress, log, sample, done, error
    GET  /api/jobs/{id}/inputs/{name}     an uploaded image (PNG);  .../outputs/{name}: a result
    POST /api/jobs/{id}/cancel            stop it (queued: at once; running: within seconds)
    POST /api/jobs/{id}/resume            queue an interrupted, failed or cancelled job again
    GET  /api/runs  /api/runs/{name}      training runs; one run's settings and loss curves
    GET  /api/runs/{name}/samples/{file}  a sample grid (PNG)
    GET  /docs  /openapi.json             the API's documentation (Swagger UI, served locally)
    GET  /                                the web page

Example
-------
>>> import tempfile
>>> from fastapi.testclient import TestClient
>>> app = create_app(StudioConfig(home=tempfile.mkdtemp(), workers=0))
>>> with TestClient(app, base_url="http://127.0.0.1:7860") as client:  # the guard wants a loopback Host
...     client.get("/api/health").json()["queue"]
{}
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from atelier import __version__
from atelier.errors import AtelierError
from atelier.image import DEFAULT_MAX_PIXELS
from atelier.server.queue import JobQueue
from atelier.server.security import LOOPBACK_HOSTS, Guard
from atelier.server.storage import Storage

__all__ = ["StudioConfig", "create_app"]

STATIC = Path(__file__).resolve().parent / "static"


@dataclass
class StudioConfig:
    """Settings of one studio server (``atelier serve`` fills them from its options)."""

    home: str | Path = "~/.atelier"
    host: str = "127.0.0.1"
    port: int = 7860
    workers: int = 1
    threads: int = 0  # torch threads per worker; 0: the cores shared among the workers
    token: str | None = None
    max_queued: int = 100
    job_timeout: float = 600.0  # seconds; a training job's limit is train_timeout
    train_timeout: float = 24 * 3600.0
    max_upload_bytes: int = 50 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    device: str = "auto"

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    def resolved_token(self) -> str | None:
        """The token: the given one, or (bound beyond loopback without one) a new random one."""
        if self.token is None and not self.loopback:
            self.token = secrets.token_urlsafe(24)
        return self.token


def _error(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def create_app(config: StudioConfig) -> FastAPI:
    """The studio app for ``config`` (see the module docstring)."""
    import os

    from contextlib import asynccontextmanager

    from atelier.server.worker import WorkerPool

    storage = Storage(config.home, max_pixels=config.max_pixels)
    queue = JobQueue(storage.db_path, max_queued=config.max_queued)
    threads = config.threads or max(1, (os.cpu_count() or 1) // max(1, config.workers))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        recovered = queue.recover()
        pool = WorkerPool(storage, queue, config.workers, threads=threads, device=config.device)
        app.state.recovered = recovered
        if config.workers:
            pool.start()
        try:
            yield
        finally:
            pool.stop()

    app = FastAPI(title="atelier studio", version=__version__, docs_url=None, redoc_url=None,
                  lifespan=lifespan,
                  description="Image generation and editing over atelier's task registry: submit jobs, "
                              "follow their progress, fetch their results.")
    app.state.queue = queue
    app.state.storage = storage
    app.state.config = config

    @app.exception_handler(AtelierError)
    async def atelier_error(request: Request, exc: AtelierError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    from atelier.server import routes

    routes.add_routes(app, queue, storage, config)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_docs(app)
    app.add_middleware(Guard, token=config.resolved_token(), loopback=config.loopback,
                       max_body=config.max_upload_bytes + 1024 * 1024)
    return app


def _add_docs(app: FastAPI) -> None:
    """Swagger UI from the ``swagger-ui-bundle`` package (no CDN: the studio works offline),
    started by a script file of ours (the CSP allows no inline script)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - a dependency; without it /docs says so
        swagger_ui_path = None

    if swagger_ui_path is not None:
        app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if swagger_ui_path is None:
            raise _error(404, "the API documentation needs the package swagger-ui-bundle")
        return HTMLResponse(
            "<!doctype html><html><head><meta charset='utf-8'><title>atelier studio API</title>"
            "<link rel='stylesheet' href='/docs-assets/swagger-ui.css'></head><body>"
            "<div id='swagger-ui'></div><script src='/docs-assets/swagger-ui-bundle.js'></script>"
            "<script src='/static/docs.js'></script></body></html>"
        )
