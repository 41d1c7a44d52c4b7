"""The demo tour (what `make run` produces) and its example files.

The demo runs once per module (about 15 s on two CPU cores); each card's commands are then
run in-process from inside the examples folder and must write the card's exact pixels.
"""

from __future__ import annotations

import re
import shlex

import numpy as np
import pytest

import atelier.pretrained as pretrained
from atelier.errors import OutputExists
from atelier.image import load_image
from atelier.models import build_model, save_model
from atelier.ops import Pipeline
from atelier.tasks.demo import count_cards, run_demo
from atelier.tasks.demo_cards import DEMO_EDITS, CardContext, all_cards, generator_card, shipped_generators
from atelier.tasks.demo_examples import EXAMPLES, SMALL_PIPELINE, write_examples
from tests.cli.test_cli import atelier


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out)


def test_examples_are_written_and_protected(tmp_path):
    names = write_examples(tmp_path)
    assert names == list(EXAMPLES)
    photo = load_image(tmp_path / "photo.jpg")
    assert photo.shape == (256, 256, 3)
    assert load_image(tmp_path / "scratches.png").shape == (256, 256)
    np.testing.assert_array_equal(load_image(tmp_path / "small.png"), Pipeline.parse(SMALL_PIPELINE).apply(photo))
    noisy = load_image(tmp_path / "noisy.png").astype(float)
    assert 20 < np.std(noisy - photo) < 30  # sigma 25, a little less after clipping
    assert load_image(tmp_path / "photos" / "grey" / "moon.png").ndim == 2
    with pytest.raises(OutputExists):
        write_examples(tmp_path)
    write_examples(tmp_path, overwrite=True)


def test_edit_pipelines_parse():
    for _, text, _, _ in DEMO_EDITS:
        Pipeline.parse(text)


def test_demo_tours_the_toolkit(demo):
    out, cards = demo
    html = (out / "index.html").read_text()
    keys = [c.key for c in cards]
    assert keys[:4] == ["upscale", "denoise", "stylize", "inpaint"]
    assert len(cards) == count_cards(out)
    for card in cards:
        assert f'id="{card.key}"' in html
        for command in card.commands:
            assert command.replace('"', "&quot;") in html
        for panel in card.panels:
            assert (out / panel.image).is_file()
            assert load_image(out / panel.image).shape[:2] == (panel.height, panel.width)
            assert f"{panel.width} x {panel.height} px" in html


def test_cards_say_what_they_show(demo):
    """Scores against the original; the sr network beats bicubic and denoising helps; the
    half-size card's output is half the size."""
    _, cards = demo
    by_key = {c.key: c for c in cards}

    def db(panel):
        return float(re.search(r"PSNR ([0-9.]+) dB", panel.score).group(1))

    _, bicubic, sr, _ = by_key["upscale"].panels
    assert (bicubic.width, sr.width) == (256, 256) and db(sr) > db(bicubic) > 20
    noisy, nlm, net, _ = by_key["denoise"].panels
    assert db(net) > db(nlm) > db(noisy) + 3
    source, half = by_key["edit-half-size"].panels
    assert (half.width, half.height) == (round(source.width / 2), round(source.height / 2))
    assert half.score == ""  # PSNR is not defined across sizes


def _run_in(folder, command, monkeypatch):
    """Run one card command (shell quoting, nothing else) in-process from ``folder``."""
    monkeypatch.chdir(folder)
    args = shlex.split(command)
    assert args[0] == "atelier"
    return atelier(*args[1:])


def test_card_commands_reproduce_the_cards(demo, tmp_path, monkeypatch):
    """Each command, run from a fresh copy of the examples, writes the card's exact pixels."""
    out, cards = demo
    examples = tmp_path / "examples"
    write_examples(examples)
    for card in cards:
        for command in card.commands:
            assert _run_in(examples, command, monkeypatch) == 0, command
        for panel in card.panels:
            if panel.image.startswith("cards/") and panel.image != "cards/masked.png":
                written = examples / panel.image.removeprefix("cards/")
                np.testing.assert_array_equal(load_image(written), load_image(out / panel.image), err_msg=card.key)


def test_demo_refuses_to_overwrite(tmp_path):
    run_demo(tmp_path, limit=1)
    with pytest.raises(OutputExists):
        run_demo(tmp_path, limit=1)
    (tmp_path / "index.html").unlink()
    with pytest.raises(OutputExists, match="examples"):
        run_demo(tmp_path, limit=1)
    assert len(run_demo(tmp_path, limit=1, overwrite=True)) == 1


def test_demo_command(tmp_path, capsys, monkeypatch):
    """`make run` runs this; it refuses to overwrite an earlier demo (one card here, for speed)."""
    import atelier.tasks.demo as demo_module

    first_card = lambda ctx: list(all_cards(ctx))[:1]  # noqa: E731
    monkeypatch.setattr(demo_module, "all_cards", first_card)
    assert atelier("demo", "-o", tmp_path / "demo") == 0
    assert "1 cards" in capsys.readouterr().out
    assert (tmp_path / "demo" / "index.html").read_text().count("<figure") == 1
    assert atelier("demo", "-o", tmp_path / "demo") == 2
    assert "pass overwrite=True to replace the demo" in capsys.readouterr().err
    assert atelier("demo", "-o", tmp_path / "demo", "--overwrite") == 0


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """An ``atelier/weights`` with a super-resolution model and no generator."""
    root = tmp_path / "weights"
    save_model(build_model("edsr", {"scale": 2, "width": 4, "blocks": 1}), root / "sr-x2")
    (root / "notes").mkdir()
    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", root)
    return root


def test_no_generator_card_without_a_shipped_generator(weights, tmp_path):
    assert shipped_generators() == []
    assert count_cards(tmp_path) == 4 + len(DEMO_EDITS)


def test_generator_card_for_a_shipped_generator(weights, tmp_path, monkeypatch):
    """A weights folder whose model.json names a generator gets a card; its command works."""
    import torch

    torch.manual_seed(0)
    cfg = {"resolution": 16, "width": 8, "latent_dim": 4, "num_classes": 3, "embed_dim": 2}
    save_model(build_model("cgan", cfg), weights / "cgan-tiny")
    assert [name for name, _ in shipped_generators()] == ["cgan-tiny"]
    assert count_cards(tmp_path) == 5 + len(DEMO_EDITS)
    card = generator_card(CardContext(tmp_path, tmp_path / "examples"), "cgan-tiny", weights / "cgan-tiny")
    (panel,) = card.panels
    assert "each column is one class" in card.about
    grid = load_image(tmp_path / panel.image)
    assert grid.shape == (8 * 18 + 2, 3 * 18 + 2)  # 8 rows of 3 classes, 16 px tiles, 2 px padding
    (command,) = card.commands
    assert _run_in(tmp_path, command, monkeypatch) == 0
    np.testing.assert_array_equal(load_image(tmp_path / "cgan-tiny.png"), grid)
