"""tasks.caption: caption_images on a tiny trained run, attention strips, shipped names."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from atelier.errors import InvalidArgument, InvalidImage
from atelier.tasks.caption import TILE, attention_strip, caption_images, load_caption_model

LABEL = 28  # the strip's text row under each tile


@pytest.fixture(scope="module")
def loaded(caption_run):
    return load_caption_model(caption_run)


def test_captions_every_layout_and_dtype(loaded):
    rng = np.random.default_rng(0)
    images = [
        (rng.random((40, 50, 3)) * 255).astype(np.uint8),
        (rng.random((30, 30)) * 65535).astype(np.uint16),  # grey
        rng.random((20, 36, 4)).astype(np.float32),  # RGBA
        (rng.random((16, 16, 1)) * 255).astype(np.uint8),
    ]
    results = caption_images(images, loaded, beam=3)
    assert len(results) == 4
    grid = loaded.model.encoder.grid_size
    for r in results:
        assert isinstance(r["caption"], str) and r["log_prob"] <= 0
        assert r["caption"] == " ".join(r["words"])  # word-level tokenizer
        assert r["attention"].shape == (len(r["words"]), grid, grid)
        assert np.allclose(r["attention"].sum(axis=(1, 2)), 1, atol=1e-4)
        assert len(r["alternatives"]) <= 2
        assert all(a["score"] <= r["score"] + 1e-6 for a in r["alternatives"])


def test_transparent_pixels_caption_as_white(loaded):
    """RGBA is composited on white: a fully transparent image is a white one."""
    clear = np.zeros((32, 32, 4), np.uint8)
    white = np.full((32, 32, 3), 255, np.uint8)
    a, b = caption_images([clear, white], loaded, beam=1)
    assert a["caption"] == b["caption"] and a["log_prob"] == pytest.approx(b["log_prob"], abs=1e-4)


def test_loads_from_the_run_folder_and_greedy_has_no_alternatives(caption_run):
    (r,) = caption_images([np.zeros((24, 24, 3), np.uint8)], str(caption_run), beam=1, max_length=4)
    assert r["alternatives"] == [] and len(r["words"]) <= 3


def test_bad_options_and_images(loaded, caption_run, tmp_path):
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InvalidArgument, match="beam"):
        caption_images([image], loaded, beam=0)
    with pytest.raises(InvalidArgument, match="max_length"):
        caption_images([image], loaded, max_length=99)
    with pytest.raises(InvalidImage):
        caption_images([np.zeros((8, 8, 2), np.uint8)], loaded)
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(caption_run, folder, ignore=shutil.ignore_patterns("checkpoints", "tokenizer.json"))
    with pytest.raises(InvalidArgument, match="tokenizer"):
        load_caption_model(folder)


def test_attention_strip_has_one_tile_per_word(loaded):
    image = np.zeros((30, 60, 3), np.uint8)
    (r,) = caption_images([image], loaded, beam=2)
    strip = attention_strip(image, r)
    assert strip.dtype == np.uint8 and strip.shape == (TILE + LABEL, TILE * max(1, len(r["words"])), 3)
    fake = {"words": ["a", "red", "cube"], "attention": np.eye(3, dtype=np.float32)[:, None].repeat(3, 1)}
    strip = attention_strip(image, fake)
    assert strip.shape == (TILE + LABEL, 3 * TILE, 3)
    assert (strip[TILE:] < 128).any()  # a word is written under each tile
    with pytest.raises(InvalidArgument):
        attention_strip(image, {"words": ["a"], "attention": np.zeros((2, 3, 3), np.float32)})


def test_shipped_captioner_not_trained_says_how_then_ships_with_its_tokenizer(caption_run, tmp_path, monkeypatch):
    from atelier import pretrained

    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "weights")
    with pytest.raises(InvalidArgument, match="atelier train caption --data scenes"):
        load_caption_model("caption-scenes")
    with pytest.raises(InvalidArgument, match="not a captioner"):
        load_caption_model("sr-x2")
    folder = pretrained.ship_run(caption_run, "caption-scenes", "atelier train caption --data scenes --out RUN")
    assert (folder / "tokenizer.json").is_file()
    assert load_caption_model("caption-scenes").tokenizer.vocab_size == loaded_vocab(caption_run)
    assert pretrained.pretrained_recipe("caption-scenes")["best"]["val_cider_d"] >= 0


def loaded_vocab(run) -> int:
    from atelier.text import CaptionTokenizer

    return CaptionTokenizer.load(run).vocab_size
