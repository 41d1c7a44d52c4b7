"""`atelier train` when the input is wrong: one `error:` line, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import hashlib

import pytest
import torch

from atelier.train.lock import RunLock
from tests.cli.test_cli import atelier

TINY = [
    "resolution=16", "width=4", "latent_dim=4", "batch_size=8", "split=0:32", "steps=2",
    "checkpoint_every=2", "log_every=2", "prior_components=0",
]


def _sets(items) -> list[str]:
    out: list[str] = []
    for item in items:
        out += ["--set", item]
    return out


def _errors(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error:")]


def _train(run, *extra) -> list[str]:
    return ["train", "vae", "--data", "digits", "--out", run, *_sets(TINY), *extra]


@pytest.fixture
def trained(tmp_path, capsys):
    """A finished 2-step VAE run."""
    run = tmp_path / "run"
    assert atelier(*_train(run)) == 0
    capsys.readouterr()
    return run


@pytest.mark.parametrize(
    "setting,message",
    [
        ("lr=Infinity", "hyper.lr must be a finite number"),
        ("lr=-1", "hyper.lr must be > 0"),
        ("grad_clip=NaN", "train.grad_clip must be a finite number"),
        ("grad_clip=-1", "train.grad_clip must be > 0"),
        ("steps=true", "train.steps must be an integer, got True"),
        ("steps=1e3", "train.steps must be an integer, got 1000.0"),
        ("betas=[2,3]", r"hyper.betas[0] must be in [0, 1), got 2.0"),
        ("betas=[0.5]", "hyper.betas must be a list of 2 numbers"),
        ("num_workers=-1", "train.num_workers must be an integer from 0"),
        ("ema_decay=nan", "train.ema_decay must be a number, got 'nan'"),
        ("ema_decay=1", "train.ema_decay must be in (0, 1)"),
        ("device=tpu", "unknown device 'tpu'"),
        ("device=gpu", "unknown device 'gpu'"),
        ("latent_dim=100000000", "latent_dim must be an integer from 1 to 4096"),
        ("beta=Infinity", "VAEConfig.beta must be a finite number"),
        ("prior_components=100000000", "prior_components must be an integer from 0 to 1000"),
        ("data.labels=3", "data.labels must be true or false"),
        ("data.crop=center", "data.crop does not apply to the dataset digits"),
        ("data.seed=1.5", "data.seed must be an integer"),
    ],
)
def test_bad_settings_are_one_line_and_write_nothing(tmp_path, capsys, setting, message):
    run = tmp_path / "run"
    assert atelier(*_train(run, "--set", setting)) == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and message in errors[0], errors
    assert not run.exists()


def test_a_model_too_large_to_build_is_refused_before_allocating(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "dcgan", "--data", "digits", "--out", run,
            *_sets(["resolution=128", "width=1024", "latent_dim=4096"])]
    assert atelier(*args) == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and "parameters" in errors[0] and "over the limit" in errors[0]
    assert not run.exists()


def test_out_is_a_file_or_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    for out, message in ((tmp_path / "f", "it is a file"), (tmp_path / "f" / "b", f"{tmp_path / 'f'} is a file")):
        assert atelier(*_train(out)) == 2
        errors = _errors(capsys)
        assert len(errors) == 1 and message in errors[0], errors
    assert (tmp_path / "f").read_text() == "x"


@pytest.mark.parametrize(
    "content,cause",
    [
        ("{", "Expecting property name"),
        ("[]", "it holds a list"),
        ('{"model": "vae"}', "no 'data'"),
        (lambda c: {**c, "train": {**c["train"], "steps": "x"}}, "train.steps must be an integer"),
        (lambda c: {**c, "model_config": {**c["model_config"], "depth": 3}}, "unknown model setting(s) 'depth'"),
        (lambda c: {**c, "fine_tune": None}, "'fine_tune' must be an object"),
        (lambda c: {**c, "model": "nope"}, "unknown model"),
    ],
)
def test_malformed_config_json_on_resume(trained, capsys, content, cause):
    path = trained / "config.json"
    text = json.dumps(content(json.loads(path.read_text()))) if callable(content) else content
    path.write_text(text)
    assert atelier("train", "--resume", trained, "--set", "steps=4") == 2
    errors = _errors(capsys)
    assert len(errors) == 1, errors
    assert f"{path} is not a valid atelier run config: " in errors[0] and cause in errors[0], errors
    assert path.read_text() == text  # left as it was


def test_resume_applies_a_new_learning_rate(trained):
    assert atelier("train", "--resume", trained, "--set", "lr=0.0005", "--set", "steps=4") == 0
    state = torch.load(trained / "checkpoints" / "step-00000004.pt", weights_only=True)
    assert [g["lr"] for g in state["optimizers"]["model"]["param_groups"]] == [0.0005]
    assert json.loads((trained / "config.json").read_text())["hyper"]["lr"] == 0.0005


@pytest.mark.parametrize(
    "args,message",
    [
        (["--set", "width=8"], "model.width cannot change when a run continues (it is 4 in the run)"),
        (["--set", "batch_size=16"], "train.batch_size cannot change when a run continues (it is 8 in the run)"),
        (["--set", "seed=3"], "is ambiguous"),
        (["--set", "train.seed=3"], "train.seed cannot change when a run continues (it is 0 in the run)"),
        (["--set", "split=0:16"], "data.split cannot change when a run continues (it is [0, 32] in the run)"),
        (["--set", "ema_decay=0.9"], "train.ema_decay cannot be switched on when a run continues"),
        (["--set", "steps=1"], "train.steps=1 is below the step the run has reached (2)"),
        (["--data", "shapes"], "--data: --resume RUN continues the run"),
        (["--lr-scale", "0.5"], "--lr-scale: --resume RUN continues the run"),
    ],
)
def test_resume_refuses_what_it_cannot_change(trained, capsys, args, message):
    before = (trained / "config.json").read_text()
    assert atelier("train", "--resume", trained, *args) == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and message in errors[0], errors
    assert (trained / "config.json").read_text() == before  # nothing recorded


def test_resume_of_a_different_model_name(trained, capsys):
    assert atelier("train", "dcgan", "--resume", trained) == 2
    assert "trains a vae, not a dcgan" in _errors(capsys)[0]
    assert atelier("train", "vae", "--resume", trained, "--set", "steps=3") == 0


def test_a_diverging_run_stops_on_one_line_and_exports_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    assert atelier(*_train(run, "--set", "lr=1e30", "--set", "steps=6")) == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and "became non-finite (nan) at step" in errors[0], errors
    assert "lower the learning rate or set grad_clip" in errors[0]
    assert not (run / "model.safetensors").exists() and not (run / "checkpoints").exists()


def test_an_unreadable_newest_checkpoint_is_a_warning(trained, capsys):
    assert atelier("train", "--resume", trained, "--set", "steps=4") == 0
    newest = trained / "checkpoints" / "step-00000004.pt"
    newest.write_bytes(newest.read_bytes()[:1000])
    capsys.readouterr()
    assert atelier("train", "--resume", trained, "--set", "steps=6") == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "step-00000004.pt" in warnings[0], err
    assert "resuming from step-00000002.pt instead" in warnings[0]
    assert torch.load(trained / "checkpoints" / "step-00000006.pt", weights_only=True)["step"] == 6


def test_a_run_in_use_is_refused(trained, capsys):
    before = (trained / "config.json").read_text()
    log = (trained / "log.jsonl").read_text()
    with RunLock(trained):
        assert atelier("train", "--resume", trained, "--set", "steps=4") == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and errors[0] == (
        f"error: {trained} is in use by another atelier process (pid {os.getpid()}); "
        "wait for it to finish or stop it"
    )
    assert (trained / "config.json").read_text() == before and (trained / "log.jsonl").read_text() == log


def test_stale_temp_files_are_removed_on_resume(trained):
    host = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
    dead = 2**22 + 12345  # above any pid_max default: no such process
    stale = [
        trained / f".config.json.atelier-{dead}-{host}-0123abcd.tmp",
        trained / "checkpoints" / f".step-00000004.pt.atelier-{dead}-{host}-0123abcd.tmp",
        trained / "samples" / f".step-00000004.png.atelier-{dead}-{host}-0123abcd.tmp",
    ]
    for path in stale:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half")
    keep = trained / "notes.tmp"
    keep.write_text("mine")
    assert atelier("train", "--resume", trained, "--set", "steps=3") == 0
    assert not any(path.exists() for path in stale) and keep.exists()


def test_piped_training_prints_plain_progress_lines(tmp_path, capsys, monkeypatch):
    from atelier.cli import progress

    if not hasattr(progress, "PLAIN_INTERVAL"):
        pytest.skip("cli.progress has no plain-line mode yet")
    monkeypatch.setattr(progress, "PLAIN_INTERVAL", 0.0)
    assert atelier(*_train(tmp_path / "run", "--set", "steps=4")) == 0
    err = capsys.readouterr().err.splitlines()
    lines = [line for line in err if "/4 (" in line]
    assert len(lines) >= 4, err  # one per step with no interval
    assert err[-1].startswith("trained vae for 4 steps")


@pytest.mark.slow
def test_torchrun_prints_the_final_line_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    args = [str(a) for a in _train(tmp_path / "run", "--set", "device=cpu")]
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
         "-m", "atelier.cli.main", *args],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("trained vae for 2 steps") == 1, done.stderr[-2000:]
