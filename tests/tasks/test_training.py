"""Training runs end to end: settings, run folder, resume, fine-tuning, CLI errors."""

from __future__ import annotations

import json

import pytest

from atelier.errors import InvalidArgument, UnknownName
from atelier.models import load_model
from atelier.tasks.training import fine_tune_spec, load_run_spec, resolve_run, train_run
from tests.cli.test_cli import atelier

TINY = ["resolution=16", "width=8", "batch_size=8", "checkpoint_every=3", "log_every=3"]


def test_resolve_run_defaults_and_overrides(tmp_path):
    spec = resolve_run("dcgan", data="digits", overrides=TINY + ["train.steps=7", "hyper.lr_g=0.001"])
    assert spec["model_config"]["resolution"] == 16 and spec["train"]["steps"] == 7
    assert spec["hyper"]["lr_g"] == 0.001
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"model": {"width": 16}, "data": {"split": [0, 100]}}))
    spec = resolve_run("vae", data="digits", config_file=config, overrides=["model.width=8"])
    assert spec["model_config"]["width"] == 8  # --set wins over --config
    assert spec["data_options"]["split"] == [0, 100]
    assert resolve_run("vae", data="digits", overrides=["split=0:50"])["data_options"]["split"] == [0, 50]

@pytest.mark.parametrize(
    "model,overrides,expected",
    [
        ("dcgan", [], {"lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.5, 0.999], "n_critic": 1}),
        # the cGAN defaults to hinge + spectral norm: SN-GAN's setting C
        ("cgan", [], {"lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.5, 0.999], "n_critic": 1}),
        ("dcgan", ["loss=wgan-gp"], {"lr_g": 1e-4, "betas": [0.0, 0.9], "n_critic": 5}),
        ("dcgan", ["loss=wgan-gp", "n_critic=2"], {"n_critic": 2}),
    ],
)
def test_resolved_recipe_follows_the_model(model, overrides, expected):
    spec = resolve_run(model, data="digits", overrides=overrides)
    assert json.loads(json.dumps({k: spec["hyper"][k] for k in expected})) == expected
    assert spec["train"]["ema_decay"] == 0.999  # the GAN recipe samples from an EMA generator
    assert "ema_decay" not in spec["hyper"] and "batch_size" not in spec["hyper"]


def test_recipe_suggestions_can_be_overridden():
    spec = resolve_run("cgan", data="digits", overrides=["ema_decay=0.99", "batch_size=16"])
    assert spec["train"]["ema_decay"] == 0.99 and spec["train"]["batch_size"] == 16
    assert resolve_run("vae", data="digits")["train"]["ema_decay"] is None



@pytest.mark.parametrize(
    "overrides,error,match",
    [
        (["warp=3"], InvalidArgument, "unknown setting 'warp'"),
        (["model.resolution=48"], InvalidArgument, "resolution"),
        (["steps"], InvalidArgument, "key=value"),
    ],
)
def test_resolve_run_errors(overrides, error, match):
    with pytest.raises(error, match=match):
        resolve_run("dcgan", data="digits", overrides=overrides)


def test_unknown_model():
    with pytest.raises(UnknownName):
        resolve_run("stylegan9", data="digits")


def test_train_resume_and_fine_tune(tmp_path):
    spec = resolve_run("dcgan", data="digits", overrides=TINY + ["steps=6", "split=0:64"])
    run = train_run(spec, tmp_path / "run", sample_count=8)
    assert (run / "model.safetensors").is_file() and (run / "samples" / "step-00000006.png").is_file()
    assert load_run_spec(run)["train"]["steps"] == 6
    # resume with more steps: continues from step 6
    longer = resolve_run("dcgan", data="digits", overrides=["steps=9"], base=load_run_spec(run))
    train_run(longer, run, sample_count=8)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3, 6, 9]
    # fine-tune from the run with the first 2 discriminator blocks frozen
    # (the model settings are the source's, except those this run sets: resolution=32 here)
    wider = resolve_run("dcgan", data="shapes", overrides=["resolution=32", "width=16", "channels=1"])
    kept = fine_tune_spec(wider, init_from=run, overrides=["resolution=32"])
    assert (kept["model_config"]["resolution"], kept["model_config"]["width"]) == (32, 8)
    tuned = resolve_run("dcgan", data="shapes", overrides=TINY[2:] + ["steps=3", "channels=1", "width=16"])
    tuned = fine_tune_spec(tuned, init_from=run, freeze_d=2, lr_scale=0.1, overrides=["steps=3"])
    assert tuned["fine_tune"] == {"init_from": str(run), "freeze_d": 2, "freeze": [], "lr_scale": 0.1}
    out = train_run(tuned, tmp_path / "tuned", sample_count=8)
    assert (load_model(out).config.resolution, load_model(out).config.width) == (16, 8)


def test_cli_train_and_errors(tmp_path, capsys):
    args = ["train", "vae", "--data", "digits", "--out", tmp_path / "v"]
    for item in TINY + ["steps=3", "split=0:32"]:
        args += ["--set", item]
    assert atelier(*args) == 0
    assert (tmp_path / "v" / "model.json").is_file()
    assert atelier(*args) == 2  # the run exists: resume instead
    assert "--resume" in capsys.readouterr().err
    assert atelier("train", "--resume", tmp_path / "v", "--set", "steps=6") == 0
    assert atelier("train", "vae", "--data", "digits", "--out", tmp_path / "w", "--set", "nope=1") == 2
    assert atelier("train", "vae", "--data", tmp_path / "missing", "--out", tmp_path / "x") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "unknown setting 'nope'" in err[-2] and "no such file" in err[-1]
