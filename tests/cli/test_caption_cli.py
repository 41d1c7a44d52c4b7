"""atelier caption: output lines, --json, --attention strips, skipped files, one-line errors."""

from __future__ import annotations

import json
import re
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


# ----------------------------------------------------------------------------- atelier evaluate caption

TEXT_ROWS = ("BLEU-1", "BLEU-4", "CIDEr-D", "ROUGE-L", "exact match", "word F1")


def test_evaluate_caption_prints_a_table_with_attribute_rows(caption_run, capsys):
    for form in ([caption_run], ["--model", caption_run]):  # RUN, or --model as sr / denoise take it
        assert atelier("evaluate", "caption", *form, "--data", "scenes", "--split", "all", "--device", "cpu") == 0
        out = capsys.readouterr().out
        assert "[all]" in out and re.search(r"images\s+\S\s+16 ", out)
        for row in (*TEXT_ROWS, "captions/s", "attribute accuracy: shape", "attribute accuracy: background"):
            assert row in out


def test_evaluate_caption_json_has_every_key(caption_run, capsys):
    assert atelier("evaluate", "caption", caption_run, "--data", "scenes", "--beam", "2", "--limit", "2",
                   "--max-length", "6", "--batch-size", "1", "--json", "--device", "cpu") == 0
    result = json.loads(capsys.readouterr().out)
    keys = {"n_images", "bleu_1", "bleu_2", "bleu_3", "bleu_4", "cider_d", "rouge_l", "exact", "word_f1",
            "seconds", "captions_per_second", "attributes"}
    assert keys <= set(result) and result["n_images"] == 1 and result["split"] == "test"  # 1 test image of 16
    assert {"shape", "color", "size", "position", "background", "attributes"} <= set(result["attributes"])


@pytest.fixture
def other_model(tmp_path) -> Path:
    """A run folder holding a model that is not a captioner."""
    from atelier.models import build_model, save_model

    save_model(build_model("edsr", {"scale": 2, "width": 4, "blocks": 1}), tmp_path / "sr-run")
    return tmp_path / "sr-run"


@pytest.mark.parametrize(
    "args, message",
    [
        (["caption", "{run}", "--data", "scenes", "--beam", "0"], "--beam must be 1 or more"),
        (["caption", "{run}", "--data", "scenes", "--max-length", "99"], "--max-length must be at most the model's 8"),
        (["caption", "{run}", "--data", "scenes", "--limit", "0"], "--limit must be 1 or more"),
        (["caption", "{tmp}/no-such-run", "--data", "scenes"], "no such run folder"),
        (["caption", "{other}", "--data", "scenes"], "not a captioner"),
        (["caption", "{run}", "--data", "digits"], "digits has no captions"),
        (["caption", "{run}", "--data", "scenes", "--split", "bogus"], "split must be one of"),
        (["caption", "--data", "scenes"], "give the captioner"),
        (["caption", "{run}", "--model", "{run}", "--data", "scenes"], "give the captioner once"),
        (["caption", "{run}", "--data", "scenes", "--against", "scenes"], "--against is not for"),
        (["{run}", "{run}", "--data", "scenes"], "unexpected second argument"),
        (["{run}", "--data", "scenes", "--beam", "2"], "--beam is for `atelier evaluate caption`"),
    ],
)
def test_evaluate_caption_errors_are_one_line(caption_run, other_model, tmp_path, capsys, args, message):
    fill = {"{run}": str(caption_run), "{tmp}": str(tmp_path), "{other}": str(other_model)}
    argv = []
    for a in args:
        for key, value in fill.items():
            a = a.replace(key, value)
        argv.append(a)
    assert atelier("evaluate", *argv, "--device", "cpu") == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("error: ") and message in err


# ----------------------------------------------------------------------------- bad metadata.jsonl

TINY = ["pretrained=false", "image_size=64", "d_model=16", "layers=1", "heads=2", "max_length=8",
        "data.size=32", "steps=1", "batch_size=2", "device=cpu", "data.train_split=all", "data.val_split=none"]  # fmt: skip


def _caption_folder(root: Path, last: bytes) -> Path:
    """Four captioned images, then ``last`` as the fifth line of metadata.jsonl."""
    rng = np.random.default_rng(0)
    lines = []
    for k in range(4):
        save_image(root / f"i{k}.png", (rng.random((24, 24, 3)) * 255).astype(np.uint8))
        lines.append(json.dumps({"file_name": f"i{k}.png", "text": f"picture number {k}"}).encode())
    (root / "metadata.jsonl").write_bytes(b"\n".join([*lines, last]) + b"\n")
    return root


def _train_or_evaluate(command: str, folder: Path, caption_run: Path, tmp_path: Path) -> int:
    if command == "train":
        sets = [a for s in TINY for a in ("--set", s)]
        return atelier("train", "caption", "--data", folder, *sets, "--out", tmp_path / "run")
    return atelier("evaluate", "caption", caption_run, "--data", folder, "--split", "all", "--device", "cpu")


@pytest.mark.parametrize("command", ["train", "evaluate"])
@pytest.mark.parametrize(
    "last, message",
    [
        (b'{"file_name": "gone.png", "text": "a ghost"}', "line 5: gone.png: no such image file"),
        (b'{"file_name": "i0.png", "text": "unclosed', "line 5: not valid JSON"),
        (b'{"file_name": "i0.png", "text": "   "}', "line 5: i0.png has an empty caption"),
        (b'{"file_name": "i0.png", "text": "caf\xe9"}', "line 5: not valid UTF-8"),
        (b'{"file_name": "i0.png"}', 'line 5: i0.png has no "text"'),
    ],
)
def test_bad_metadata_is_one_line_naming_file_and_line(caption_run, tmp_path, capsys, command, last, message):
    folder = _caption_folder(tmp_path / "data", last)
    assert _train_or_evaluate(command, folder, caption_run, tmp_path) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert f"{folder / 'metadata.jsonl'} {message}" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_an_image_with_no_caption_is_left_out_with_one_warning(caption_run, tmp_path, capsys, command):
    folder = _caption_folder(tmp_path / "data", b"")
    save_image(folder / "loose.png", np.zeros((24, 24, 3), np.uint8))
    assert _train_or_evaluate(command, folder, caption_run, tmp_path) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if "have no caption" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: ") and "1 image file(s)" in warned[0]
    assert "loose.png" in warned[0] and "Traceback" not in err and "warnings.warn" not in err
