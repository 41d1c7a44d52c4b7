"""The demo contact sheet (what `make run` produces)."""

from __future__ import annotations

import pytest

from atelier.errors import OutputExists
from atelier.image import load_image
from atelier.ops import Pipeline
from atelier.tasks.demo import DEMO_PIPELINES, run_demo


def test_every_demo_pipeline_parses():
    for _, text, _ in DEMO_PIPELINES:
        Pipeline.parse(text)


def test_demo_writes_contact_sheet(tmp_path):
    cards = run_demo(tmp_path, limit=3)
    html = (tmp_path / "index.html").read_text()
    for card in cards:
        assert card.pipeline in html
        assert (tmp_path / card.after).is_file() and (tmp_path / card.before).is_file()
        assert card.psnr is not None and 10 < card.psnr < 60 and 0 < card.ssim <= 1
    assert f"{cards[0].psnr:.2f} dB" in html
    assert load_image(tmp_path / cards[0].after).shape == load_image(tmp_path / cards[0].before).shape
    with pytest.raises(OutputExists):
        run_demo(tmp_path, limit=1)
    run_demo(tmp_path, limit=1, overwrite=True)
