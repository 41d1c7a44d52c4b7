"""Fixtures shared by the training tests."""

from __future__ import annotations

import pytest

from atelier.image import save_image


@pytest.fixture
def photos(tmp_path, astronaut):
    """3 training crops of the astronaut and 1 held out (the last by name)."""
    root = tmp_path / "photos"
    for k, (top, left) in enumerate([(0, 0), (20, 30), (32, 64), (10, 10)]):
        save_image(root / f"{k}.png", astronaut[top : top + 64, left : left + 64])
    return root
