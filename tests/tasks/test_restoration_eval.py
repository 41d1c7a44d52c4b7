"""Tests for atelier.tasks.restoration_eval: the SR and denoising protocols and baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.image import save_image
from atelier.metrics import psnr, ssim
from atelier.models import build_model
from atelier.ops.geometry import resize
from atelier.tasks.restoration_eval import add_noise, evaluate_denoise, evaluate_sr
from atelier.tasks.restore import denoise, nlm_denoise, upscale


@pytest.fixture
def folder(tmp_path, astronaut):
    """Two small photos (odd sizes) and a non-image file that must be ignored."""
    save_image(tmp_path / "b.png", astronaut[:47, :61])
    save_image(tmp_path / "a.png", astronaut[40:, 30:])
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def _edsr(scale):
    torch.manual_seed(0)
    net = build_model("edsr", {"scale": scale, "width": 4, "blocks": 1})
    torch.nn.init.normal_(net.tail.weight, std=0.05)
    return net.eval()


@pytest.mark.parametrize("scale, expected", [(2, 33.67), (3, 30.40), (4, 28.43)])
def test_bicubic_baseline_on_cset5(shared_data, scale, expected):
    """Reference: ../shared/data/README.md -- Pillow bicubic down and up on CSet5, Y channel,
    `scale` px cropped: 33.67 / 30.40 / 28.43 dB (published bicubic 33.66 / 30.39 / 28.42)."""
    scores = evaluate_sr("bicubic", shared_data / "bench" / "CSet5", scale)
    assert [r["image"] for r in scores.rows] == ["baby", "bird", "butterfly", "head", "woman"]
    assert scores.mean["bicubic"]["psnr"] == pytest.approx(expected, abs=0.01)


def test_sr_protocol_by_hand(folder, astronaut):
    """Crop to a multiple of 3, Pillow bicubic down, model up (uint8), Y PSNR/SSIM, 3 px cropped."""
    net = _edsr(3)
    scores = evaluate_sr(net, folder, 3, tile=24)
    assert scores.methods == ["bicubic", "edsr"] and [r["image"] for r in scores.rows] == ["a", "b"]
    hr = astronaut[:45, :60]  # b.png is 47 x 61
    lr = resize(hr, width=20, height=15, method="bicubic", antialias=True)
    out = upscale(lr, 3, net)
    row = scores.rows[1]
    assert row["edsr"]["psnr"] == pytest.approx(psnr(hr, out, channel="y", crop=3))
    assert row["edsr"]["ssim"] == pytest.approx(ssim(hr, out, channel="y", crop=3))
    bic = resize(lr, width=60, height=45, method="bicubic", antialias=True)
    assert row["bicubic"]["psnr"] == pytest.approx(psnr(hr, bic, channel="y", crop=3))
    assert scores.mean["edsr"]["psnr"] == pytest.approx(np.mean([r["edsr"]["psnr"] for r in scores.rows]))
    d = scores.as_dict()
    assert d["scale"] == 3 and d["task"] == "sr" and len(d["rows"]) == 2


def test_add_noise_is_seeded_and_quantised():
    img = np.full((64, 64, 3), 128, np.uint8)
    a = add_noise(img, 25, np.random.default_rng(0))
    assert a.dtype == np.uint8 and np.array_equal(a, add_noise(img, 25, np.random.default_rng(0)))
    assert abs(a.astype(float).std() - 25) < 1.0
    expected = np.rint(np.clip(128 / 255 + np.random.default_rng(0).normal(0, 25 / 255, img.shape), 0, 1) * 255)
    np.testing.assert_array_equal(a, expected.astype(np.uint8))


def test_denoise_protocol_by_hand(folder, astronaut):
    torch.manual_seed(0)
    net = build_model("dncnn", {"width": 4, "depth": 3}).eval()
    scores = evaluate_denoise(net, folder, 25, seed=3)
    assert scores.methods == ["noisy", "nlm", "dncnn"] and scores.setting["nlm_h"] == 20.0
    rng = np.random.default_rng(3)
    clean_a = astronaut[40:, 30:]
    noisy_a = add_noise(clean_a, 25, rng)  # a.png comes first: same generator, same order
    row = scores.rows[0]
    assert row["noisy"]["psnr"] == pytest.approx(psnr(clean_a, noisy_a))
    assert row["nlm"]["psnr"] == pytest.approx(psnr(clean_a, nlm_denoise(noisy_a, 25, h=20.0)))
    assert row["dncnn"]["ssim"] == pytest.approx(ssim(clean_a, denoise(noisy_a, 25.0, net)))
    assert 19 < scores.mean["noisy"]["psnr"] < 22  # sigma 25: 20.2 dB before clipping
    again = evaluate_denoise(net, folder, 25, seed=3)
    assert again.rows == scores.rows


def test_baselines_alone_and_blind(folder):
    assert evaluate_denoise("nlm", folder, 15).methods == ["noisy", "nlm"]
    blind = build_model("dncnn", {"width": 4, "depth": 3, "noise_map": False}).eval()
    assert evaluate_denoise(blind, folder, 15).methods[-1] == "dncnn"


def test_errors(tmp_path, folder):
    with pytest.raises(InvalidArgument, match="no such folder"):
        evaluate_sr("bicubic", tmp_path / "nowhere", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match="no images"):
        evaluate_sr("bicubic", tmp_path / "empty", 2)
    with pytest.raises(InvalidArgument, match="upscales x3 but scale 2"):
        evaluate_sr(_edsr(3), folder, 2)
    with pytest.raises(InvalidArgument, match="sigma"):
        evaluate_denoise("nlm", folder, 0)


def test_self_ensemble_is_scored_under_its_own_label(folder, astronaut):
    net = _edsr(2)
    plain, x8 = evaluate_sr(net, folder, 2, tile=24), evaluate_sr(net, folder, 2, tile=24, self_ensemble=True)
    assert x8.methods == ["bicubic", "edsr x8"] and x8.setting["self_ensemble"] is True
    assert x8.mean["bicubic"] == plain.mean["bicubic"] and x8.mean["edsr x8"] != plain.mean["edsr"]
    hr = astronaut[:46, :60]
    lr = resize(hr, width=30, height=23, method="bicubic", antialias=True)
    want = psnr(hr, upscale(lr, 2, net, self_ensemble=True), channel="y", crop=2)
    assert x8.rows[1]["image"] == "b" and x8.rows[1]["edsr x8"]["psnr"] == pytest.approx(want)
    dn = evaluate_denoise(build_model("dncnn", {"width": 4, "depth": 3}).eval(), folder, 25, self_ensemble=True)
    assert dn.methods[-1] == "dncnn x8"
    with pytest.raises(InvalidArgument, match="not a network"):
        evaluate_denoise("nlm", folder, 25, self_ensemble=True)
