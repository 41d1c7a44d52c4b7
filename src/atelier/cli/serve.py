"""``atelier serve``: the studio (web page, REST API, job queue) on this machine."""

from __future__ import annotations

from typing import Optional

import typer

from atelier.devices import DEVICE_HELP


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; any but loopback needs a token."),
    port: int = typer.Option(7860, "--port", help="TCP port."),
    home: str = typer.Option("~/.atelier", "--home", help="Folder of the job queue, uploads, results and runs."),
    workers: int = typer.Option(1, "--workers", help="Worker processes running jobs at once (0: queue only)."),
    threads: int = typer.Option(0, "--threads", min=0, help="Torch threads per worker (0: the cores shared among the workers)."),
    token: Optional[str] = typer.Option(None, "--token", help="Access token (default: none on loopback, a new random one otherwise)."),
    max_queued: int = typer.Option(100, "--max-queued", min=1, help="Jobs allowed to wait; more are refused (HTTP 429)."),
    job_timeout: float = typer.Option(600.0, "--job-timeout", min=1.0, help="Seconds a job may run (training: --train-timeout)."),
    train_timeout: float = typer.Option(86400.0, "--train-timeout", min=1.0, help="Seconds a training job may run."),
    max_upload_mb: int = typer.Option(50, "--max-upload-mb", min=1, help="Largest upload in MB."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Start the studio: open the printed URL in a browser (API docs at /docs)."""
    from atelier.server.app import StudioConfig
    from atelier.server.serve import serve as run_server

    config = StudioConfig(home=home, host=host, port=port, workers=workers, threads=threads, token=token, max_queued=max_queued,
                          job_timeout=job_timeout, train_timeout=train_timeout,
                          max_upload_bytes=max_upload_mb * 1024 * 1024, device=device)
    run_server(config, say=lambda line: typer.echo(line, err=True))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
