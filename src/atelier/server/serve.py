"""Run the studio with uvicorn: what ``atelier serve`` and ``python -m atelier.server`` call.

Example
-------
$ atelier serve                       # http://127.0.0.1:7860, home ~/.atelier
$ atelier serve --host 0.0.0.0        # any address: a token is made and printed
"""

from __future__ import annotations

from typing import Callable

from atelier.errors import InvalidArgument
from atelier.server.app import StudioConfig, create_app


def studio_url(config: StudioConfig) -> str:
    """The URL to open (with the token when there is one)."""
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    host = f"[{host}]" if ":" in host else host
    query = f"/?token={config.token}" if config.token else "/"
    return f"http://{host}:{config.port}{query}"


def serve(config: StudioConfig, *, say: Callable[[str], None] = print) -> None:
    """Serve until interrupted. Checks the settings first (one clear error each)."""
    import uvicorn

    if not 0 < config.port < 65536:
        raise InvalidArgument(f"port must be in 1..65535, got {config.port}")
    if config.workers < 0 or config.workers > 64:
        raise InvalidArgument(f"workers must be in 0..64, got {config.workers}")
    if config.token is not None and len(config.token) < 16:
        raise InvalidArgument("token must be at least 16 characters")
    from atelier.devices import select_device

    select_device(config.device)
    app = create_app(config)  # makes a token when bound beyond loopback without one
    say(f"atelier studio on {studio_url(config)}  (home {app.state.storage.home}, "
        f"{config.workers} worker{'s' if config.workers != 1 else ''}; Ctrl+C stops)")
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
