"""`atelier sample`, `models`, `datasets`, `evaluate` end to end on tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from atelier.image import load_image
from atelier.models import build_model, list_models, save_model
from atelier.tasks.generate import make_grid, sample_images
from tests.cli.test_cli import atelier
from tests.tasks import test_evaluate  # noqa: F401  (registers the toy-eval extractor)


@pytest.fixture
def runs(tmp_path):
    torch.manual_seed(0)
    out = {}
    for name, extra in (("dcgan", {}), ("cgan", {"num_classes": 4})):
        model = build_model(name, {"resolution": 16, "width": 8, "latent_dim": 8, **extra})
        save_model(model, tmp_path / name)
        (tmp_path / name / "checkpoints").mkdir()  # looks like a training run folder
        out[name] = tmp_path / name
    return out


def test_sample_grid_matches_api(tmp_path, runs):
    out = tmp_path / "grid.png"
    assert atelier("sample", runs["dcgan"], "-n", 6, "--nrow", 3, "--seed", 1, "-o", out,
                   "--device", "cpu") == 0
    from atelier.models import load_model

    expected = make_grid(sample_images(load_model(runs["dcgan"]), 6, seed=1), nrow=3)
    np.testing.assert_array_equal(load_image(out), expected[..., 0])


def test_sample_overwrite_rule(tmp_path, runs, capsys):
    out = tmp_path / "grid.png"
    assert atelier("sample", runs["dcgan"], "-n", 4, "-o", out) == 0
    assert atelier("sample", runs["dcgan"], "-n", 4, "-o", out) == 2
    assert "exists" in capsys.readouterr().err
    assert atelier("sample", runs["dcgan"], "-n", 4, "-o", out, "--overwrite") == 0


def test_sample_label_interpolate_and_each(tmp_path, runs):
    assert atelier("sample", runs["cgan"], "-n", 4, "--label", 3, "-o", tmp_path / "a.png") == 0
    assert atelier("sample", runs["cgan"], "-n", 8, "--nrow", 4, "--interpolate",
                   "-o", tmp_path / "b.png") == 0
    assert load_image(tmp_path / "b.png").shape == (2 * 18 + 2, 4 * 18 + 2)
    assert atelier("sample", runs["cgan"], "-n", 5, "--label", "0,1", "--each", tmp_path / "e") == 0
    assert len(list((tmp_path / "e").glob("*.png"))) == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (("sample", "{tmp}/missing", "-o", "{tmp}/g.png"), "no such run folder"),
        (("sample", "{dcgan}", "--label", "3", "-o", "{tmp}/g.png"), "unconditional"),
        (("sample", "{cgan}", "--label", "9", "-o", "{tmp}/g.png"), "0..3"),
        (("sample", "{cgan}", "--label", "x", "-o", "{tmp}/g.png"), "--label"),
        (("sample", "{cgan}"), "-o GRID.png or --each"),
        (("evaluate", "--data", "digits"), "--against"),
        (("evaluate", "{tmp}/missing", "--data", "digits"), "no such run folder"),
        (("evaluate", "{dcgan}", "--data", "digits", "--metrics", "fid,xyz"), "unknown metric"),
    ],
)
def test_errors_are_one_line_exit_2(tmp_path, runs, capsys, args, message):
    fmt = {"tmp": tmp_path, "dcgan": runs["dcgan"], "cgan": runs["cgan"]}
    code = atelier(*(a.format(**fmt) for a in args))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1


def test_models_and_datasets_listings(capsys):
    assert atelier("models", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == [s.name for s in list_models()]
    dcgan = next(d for d in data if d["name"] == "dcgan")
    assert dcgan["summary"] and dcgan["config"]["resolution"] == 32
    assert atelier("datasets", "--json") == 0
    data = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert data["folder"]["needs_path"] and not data["digits"]["needs_path"]
    assert atelier("models") == 0 and "dcgan" in capsys.readouterr().out
    assert atelier("datasets") == 0 and "shapes" in capsys.readouterr().out


def test_evaluate_run_and_real_vs_real(runs, capsys):
    assert atelier("evaluate", runs["dcgan"], "--data", "digits", "--split", "0:48",
                   "--features", "toy-eval", "-n", 32, "--json", "--device", "cpu") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_fake"] == 32 and result["n_real"] == 48
    assert all(np.isfinite(v) for v in result["scores"].values())
    assert atelier("evaluate", "--data", "digits", "--split", "0:64", "--against", "digits",
                   "--against-split", "0:64", "--size", 16, "--features", "toy-eval",
                   "--metrics", "fid", "--json") == 0
    assert json.loads(capsys.readouterr().out)["scores"]["fid"] == pytest.approx(0.0, abs=1e-6)
    assert atelier("evaluate", runs["dcgan"], "--data", "digits", "--split", "0:48",
                   "--features", "toy-eval", "-n", 16) == 0
    out = capsys.readouterr().out
    assert "FID" in out and "±" in out
