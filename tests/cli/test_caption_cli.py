"""atelier caption: output lines, --json, --attention strips, skipped files, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from atelier.cli.main import run
from atelier.image import load_image, save_image
from atelier.tasks.caption import TILE


def atelier(*args: str) -> int:
    try:
        run([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def images(tmp_path) -> Path:
    """a.png, sub/b.png (RGBA) and a corrupt bad.png."""
    rng = np.random.default_rng(1)
    root = tmp_path / "in"
    save_image(root / "a.png", (rng.random((40, 50, 3)) * 255).astype(np.uint8))
    save_image(root / "sub" / "b.png", (rng.random((30, 30, 4)) * 255).astype(np.uint8))
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png")
    return root


def test_prints_file_tab_caption_and_skips_a_corrupt_file(caption_run, images, capsys):
    code = atelier("caption", images, "--model", caption_run, "--device", "cpu")
    out, err = capsys.readouterr()
    assert code == 1
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(images / "a.png"), str(images / "sub" / "b.png")]
    assert all(len(line.split("\t")) == 2 and line.split("\t")[1] for line in lines)
    assert f"skipped {images / 'bad.png'}:" in err


def test_json_lines_and_attention_strips(caption_run, images, tmp_path, capsys):
    maps = tmp_path / "maps"
    code = atelier("caption", images / "a.png", images / "sub", "--model", caption_run, "--json",
                   "--beam", "2", "--attention", maps, "--device", "cpu")
    out, _ = capsys.readouterr()
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in records] == [str(images / "a.png"), str(images / "sub" / "b.png")]
    for r in records:
        assert {"file", "caption", "log_prob", "alternatives"} <= set(r)
        assert r["log_prob"] <= 0 and len(r["alternatives"]) <= 1
        strip = load_image(r["attention"])
        words = len(r["caption"].split())
        assert strip.shape[1] == TILE * max(1, words)
    assert sorted(p.name for p in maps.rglob("*.png")) == ["a-attention.png", "b-attention.png"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--beam", "0"], "--beam"),
        (["--max-length", "1"], "--max-length"),
        (["--model", "no-such-run"], "no such run folder"),
        (["--model", "caption-emoji"], "atelier train caption --data ../shared/data/emoji72"),
    ],
)
def test_bad_arguments_are_one_error_line(caption_run, images, tmp_path, monkeypatch, capsys, args, message):
    from atelier import pretrained

    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "weights")  # nothing shipped
    argv = ["caption", images / "a.png", "--device", "cpu", "--model", caption_run, *args]
    assert atelier(*argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("error: ") and message in err


def test_missing_file_and_lone_corrupt_file_exit_2(caption_run, images, capsys):
    assert atelier("caption", images / "nope.png", "--model", caption_run, "--device", "cpu") == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and "no such file" in err and len(err.splitlines()) == 1
    assert atelier("caption", images / "bad.png", "--model", caption_run, "--device", "cpu") == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and "bad.png" in err and len(err.splitlines()) == 1


def test_train_caption_alias_leaves_a_captioner_and_prints_its_validation(tmp_path, capsys):
    """`atelier train caption` trains the captioner; the validation line shows figures."""
    sets = ["steps=2", "pretrained=false", "image_size=64", "d_model=16", "layers=1", "heads=2",
            "max_length=8", "data.length=12", "data.size=32", "val_images=2", "batch_size=4",
            "data.train_split=train", "data.val_split=val", "device=cpu"]  # fmt: skip
    out = tmp_path / "run"
    assert atelier("train", "caption", "--data", "scenes", *[a for s in sets for a in ("--set", s)], "--out", out) == 0
    err = capsys.readouterr().err
    assert {"model.safetensors", "model.json", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "model.json").read_text())["model"] == "captioner"
    line = next(line for line in err.splitlines() if line.startswith("step 2: val_loss"))
    assert "contextmanager" not in line and "GeneratorContextManager" not in line
