"""`atelier upscale` and `atelier denoise` end to end, with tiny models saved in tmp."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import atelier.pretrained as pretrained
from atelier.image import load_image, save_image
from atelier.models import build_model, save_model
from atelier.tasks.restore import denoise, upscale
from tests.cli.test_cli import atelier


@pytest.fixture
def photos(tmp_path):
    """A folder with an RGB PNG, an RGBA PNG in a subfolder and a grey JPEG."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    save_image(root / "a.png", rng.integers(0, 256, (20, 16, 3), dtype=np.uint8))
    save_image(root / "sub" / "b.png", rng.integers(0, 256, (12, 18, 4), dtype=np.uint8))
    save_image(root / "c.jpg", rng.integers(0, 256, (10, 10), dtype=np.uint8))
    return root


def _sr_run(folder, scale=2):
    torch.manual_seed(0)
    net = build_model("edsr", {"scale": scale, "width": 4, "blocks": 1})
    torch.nn.init.normal_(net.tail.weight, std=0.1)
    save_model(net, folder)
    return folder


def _denoise_run(folder, noise_map=True):
    torch.manual_seed(0)
    save_model(build_model("dncnn", {"width": 4, "depth": 3, "noise_map": noise_map}), folder)
    return folder


def test_upscale_one_file_with_a_run(tmp_path, photos):
    run = _sr_run(tmp_path / "run")
    out = tmp_path / "big.png"
    assert atelier("upscale", photos / "a.png", "-o", out, "--scale", "2", "--model", run, "--tile", "16") == 0
    expected = upscale(load_image(photos / "a.png"), 2, str(run))
    np.testing.assert_array_equal(load_image(out), expected)


def test_upscale_folder_keeps_tree_alpha_and_grey(tmp_path, photos):
    run = _sr_run(tmp_path / "run", scale=3)
    out = tmp_path / "out"
    assert atelier("upscale", photos, "-o", out, "--scale", "3", "--model", run / "model.safetensors", "--format", "png", "-j", "2") == 0
    assert load_image(out / "a.png").shape == (60, 48, 3)
    assert load_image(out / "sub" / "b.png").shape == (36, 54, 4)
    assert load_image(out / "c.png").shape == (30, 30)


def test_upscale_shipped_default(tmp_path, photos, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "weights")
    _sr_run(tmp_path / "weights" / "sr-x4", scale=4)
    out = tmp_path / "x4.png"
    assert atelier("upscale", photos / "a.png", "-o", out) == 0
    assert load_image(out).shape == (80, 64, 3)


def test_upscale_bicubic_baseline(tmp_path, photos):
    out = tmp_path / "b.png"
    assert atelier("upscale", photos / "a.png", "-o", out, "--scale", "3", "--model", "bicubic") == 0
    np.testing.assert_array_equal(load_image(out), upscale(load_image(photos / "a.png"), 3, "bicubic"))


def _one_line_exit_2(capsys, *args):
    code = atelier(*args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error:") and "\n" not in err
    return err


def test_model_errors_are_one_line_before_any_file(tmp_path, photos, capsys, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "no-weights")
    run = _sr_run(tmp_path / "run")
    out = tmp_path / "out"
    err = _one_line_exit_2(capsys, "upscale", photos, "-o", out, "--scale", "4", "--model", run)
    assert "x2" in err and "scale 4" in err
    err = _one_line_exit_2(capsys, "upscale", photos, "-o", out)
    assert "atelier train sr --data DIR --scale 4 --out RUN" in err
    broken = tmp_path / "broken"
    _sr_run(broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors\n at all")
    err = _one_line_exit_2(capsys, "upscale", photos, "-o", out, "--scale", "2", "--model", broken)
    assert "broken" in err
    err = _one_line_exit_2(capsys, "upscale", photos, "-o", out, "--scale", "2", "--model", tmp_path / "nothing")
    assert "no such run folder" in err
    err = _one_line_exit_2(capsys, "upscale", photos, "-o", out, "--scale", "5", "--model", "bicubic")
    assert "scale must be one of 2, 3, 4" in err
    deep = tmp_path / "deep"  # receptive radius 2 * 6 + 4 = 16: a tile needs 33 pixels
    save_model(build_model("edsr", {"scale": 2, "width": 4, "blocks": 6}), deep)
    err = _one_line_exit_2(capsys, "upscale", photos, "-o", out, "--scale", "2", "--model", deep, "--tile", "32")
    assert "tile 32 is too small" in err and "use tile 33 or more" in err
    assert not out.exists()


def test_bad_file_is_skipped(tmp_path, photos, capsys):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    assert atelier("upscale", photos, "-o", out, "--scale", "2", "--model", "bicubic") == 1
    err = capsys.readouterr().err
    assert "skipped" in err and "broken.png" in err and "3 of 4 images" in err


def test_output_too_large_is_reported(tmp_path, photos, capsys):
    out = tmp_path / "big.png"
    assert atelier("upscale", photos / "a.png", "-o", out, "--scale", "4", "--model", "bicubic", "--max-pixels", "2000") == 2
    assert "megapixels" in capsys.readouterr().err and not out.exists()


def test_denoise_with_sigma_and_auto(tmp_path, photos):
    run = _denoise_run(tmp_path / "dn")
    img = load_image(photos / "a.png")
    out = tmp_path / "d.png"
    assert atelier("denoise", photos / "a.png", "-o", out, "--sigma", "25", "--model", run) == 0
    np.testing.assert_array_equal(load_image(out), denoise(img, 25, str(run)))
    out2 = tmp_path / "auto"
    assert atelier("denoise", photos, "-o", out2, "--model", run) == 0
    assert load_image(out2 / "sub" / "b.png").shape == (12, 18, 4)
    out3 = tmp_path / "nlm.png"
    assert atelier("denoise", photos / "a.png", "-o", out3, "--sigma", "20", "--model", "nlm") == 0
    np.testing.assert_array_equal(load_image(out3), denoise(img, 20, "nlm"))


def test_denoise_errors(tmp_path, photos, capsys, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "no-weights")
    out = tmp_path / "out"
    err = _one_line_exit_2(capsys, "denoise", photos, "-o", out, "--sigma", "loud", "--model", "nlm")
    assert "--sigma" in err
    err = _one_line_exit_2(capsys, "denoise", photos, "-o", out, "--sigma", "-3", "--model", "nlm")
    assert "[0, 255]" in err
    blind = _denoise_run(tmp_path / "blind", noise_map=False)
    err = _one_line_exit_2(capsys, "denoise", photos, "-o", out, "--sigma", "25", "--model", blind)
    assert "blind" in err
    err = _one_line_exit_2(capsys, "denoise", photos, "-o", out)
    assert "atelier train drunet" in err
    err = _one_line_exit_2(capsys, "denoise", photos, "-o", out, "--model", _sr_run(tmp_path / "sr"))
    assert "not a denoiser" in err
    assert not out.exists()


def test_denoise_jpeg_is_the_shipped_real_model(tmp_path, photos, capsys, monkeypatch):
    """--jpeg runs the shipped blind denoise-real at sigma auto; not with --model or --sigma."""
    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "weights")
    real = _denoise_run(tmp_path / "weights" / "denoise-real", noise_map=False)
    out = tmp_path / "j.png"
    assert atelier("denoise", photos / "a.png", "-o", out, "--jpeg") == 0
    assert "estimated noise sigma" not in capsys.readouterr().err  # a blind model takes no level
    np.testing.assert_array_equal(load_image(out), denoise(load_image(photos / "a.png"), "auto", str(real)))
    assert "not both" in _one_line_exit_2(capsys, "denoise", photos, "-o", tmp_path / "x", "--jpeg", "--model", "nlm")
    assert "no --sigma" in _one_line_exit_2(capsys, "denoise", photos, "-o", tmp_path / "x", "--jpeg", "--sigma", "25")
    assert not (tmp_path / "x").exists()


@pytest.fixture
def bench(tmp_path, astronaut):
    """Two small test photos, a.png and c.png (big enough for SSIM after a 3 px crop)."""
    root = tmp_path / "bench"
    save_image(root / "c.png", astronaut[:40, :36])
    save_image(root / "a.png", astronaut[50:, 40:])
    save_image(root / "sub" / "ignored.png", astronaut[:40, :36])
    return root


def test_evaluate_sr_and_denoise_json(tmp_path, bench, capsys):
    import json

    photos = bench
    run = _sr_run(tmp_path / "run")
    assert atelier("evaluate", "sr", "--data", photos, "--scale", "2", "--model", run, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["methods"] == ["bicubic", str(run)] and out["scale"] == 2
    assert [r["image"] for r in out["rows"]] == ["a", "c"]  # the top folder only, sorted
    assert atelier("evaluate", "denoise", "--data", photos, "--sigma", "15", "--model", "nlm", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["methods"] == ["noisy", "nlm"] and out["sigma"] == 15.0 and out["seed"] == 0
    assert atelier("evaluate", "sr", "--data", photos, "--scale", "3", "--model", "bicubic") == 0
    table = capsys.readouterr().out
    assert "bicubic PSNR" in table and "mean" in table


def test_evaluate_errors_are_one_line(tmp_path, photos, capsys):
    run = _sr_run(tmp_path / "run")
    err = _one_line_exit_2(capsys, "evaluate", "sr", "--data", photos, "--scale", "4", "--model", run)
    assert "upscales x2 but scale 4" in err
    err = _one_line_exit_2(capsys, "evaluate", "sr", "--data", tmp_path / "nowhere", "--model", "bicubic")
    assert "no such folder" in err
    err = _one_line_exit_2(capsys, "evaluate", tmp_path / "gen-run", "--data", "digits", "--model", "nlm")
    assert "--model is for" in err


def test_self_ensemble_flag(tmp_path, photos, capsys):
    """--self-ensemble gives what the Python call gives; a baseline refuses it, before any file."""
    sr, dn = _sr_run(tmp_path / "sr"), _denoise_run(tmp_path / "dn")
    img = load_image(photos / "a.png")
    out = tmp_path / "e.png"
    assert atelier("upscale", photos / "a.png", "-o", out, "--scale", "2", "--model", sr, "--self-ensemble") == 0
    np.testing.assert_array_equal(load_image(out), upscale(img, 2, str(sr), self_ensemble=True))
    out2 = tmp_path / "d.png"
    assert atelier("denoise", photos / "a.png", "-o", out2, "--sigma", "25", "--model", dn, "--self-ensemble") == 0
    np.testing.assert_array_equal(load_image(out2), denoise(img, 25, str(dn), self_ensemble=True))
    bad = tmp_path / "bad"
    capsys.readouterr()
    err = _one_line_exit_2(capsys, "upscale", photos, "-o", bad, "--model", "bicubic", "--self-ensemble")
    assert "not a network" in err
    err = _one_line_exit_2(capsys, "denoise", photos, "-o", bad, "--sigma", "9", "--model", "nlm", "--self-ensemble")
    assert "not a network" in err
    assert not bad.exists()
