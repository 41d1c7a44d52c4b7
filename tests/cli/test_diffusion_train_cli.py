"""atelier train diffusion: a tiny text run leaves model + scheduler.json + tokenizer.json,
resumes with --resume, and bad settings are one error line (exit 2)."""

from __future__ import annotations

import json

import pytest

from atelier.cli.main import run

TINY = ["resolution=16", "width=16", "channel_mults=[1,2]", "attention_resolutions=[8]", "res_blocks=1",
        "heads=2", "text_dim=32", "text_layers=1", "text_heads=2", "batch_size=8", "data.length=60",
        "val_images=4", "sample_images=2", "sample_steps=2", "checkpoint_every=3", "device=cpu"]  # fmt: skip


def atelier(*args) -> int:
    try:
        run([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _sets(items):
    return [a for s in items for a in ("--set", s)]


def test_train_diffusion_on_scenes_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert atelier("train", "diffusion", "--data", "scenes", *_sets(TINY + ["steps=3"]), "--out", out) == 0
    err = capsys.readouterr().err
    assert {"model.json", "model.safetensors", "scheduler.json", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "model.json").read_text())["model"] == "diffusion"
    assert json.loads((out / "config.json").read_text())["model_config"]["cond"] == "text"
    assert "step 3: val_loss" in err and (out / "samples" / "step-00000003.png").is_file()
    assert atelier("train", "--resume", out, "--set", "steps=4") == 0
    assert json.loads((out / "log.jsonl").read_text().splitlines()[-1])["step"] == 4


@pytest.mark.parametrize(
    "data, sets, message",
    [
        ("digits", ["cond=text"], "cond=text trains on captions, but digits has none"),
        ("scenes", ["cond=label"], "cond=label trains on class labels"),
        ("digits", ["cond_drop=1.5"], "hyper.cond_drop"),
        ("digits", ["sample_guidance=-1"], "hyper.sample_guidance"),
        ("digits", ["cond_drop=0"], "cond_drop > 0"),
    ],
)
def test_bad_settings_are_one_line(tmp_path, capsys, data, sets, message):
    items = [s for s in TINY if data == "scenes" or not s.startswith("data.length")]  # digits has no length
    args = ["train", "diffusion", "--data", data, *_sets(items + ["steps=1"] + sets), "--out", tmp_path / "r"]
    assert atelier(*args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r" / "checkpoints").exists()
