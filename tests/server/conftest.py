"""Fixtures of the studio's tests (helpers are in ``tests/server/studio.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.studio import ServerProcess


@pytest.fixture
def server_factory(tmp_path):
    """Make ``ServerProcess``es; all are killed at the end."""
    made = []

    def make(home: Path | None = None, **kwargs) -> ServerProcess:
        server = ServerProcess(home or tmp_path / "home", **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        server.kill(group=True)
