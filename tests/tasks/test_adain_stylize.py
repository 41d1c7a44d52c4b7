"""Arbitrary style transfer with AdaIN: sizes and dtypes, the paper's controls (alpha, style
mixing, masks, colour), errors, the stylize task and CLI. An untrained 1/16-width decoder
(its output bias set mid-range) on 24-64 px images; the shipped model, when installed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import atelier.pretrained as pretrained
from atelier.errors import InvalidArgument
from atelier.image import load_image, save_image
from atelier.models import build_model, save_model
from atelier.models.adain import CONTENT_TAP, channel_stats
from atelier.tasks.adain import adain_stylize, is_adain_source, match_color
from tests.cli.test_cli import atelier


@pytest.fixture(scope="module")
def images():
    from skimage import data

    content = data.astronaut()[::8, ::8].copy()  # 64 x 64
    return content, data.coffee()[::8, ::8].copy(), data.chelsea()[::10, ::10].copy()  # styles 50 x 75, 30 x 45


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A folder holding an (untrained) adain model, as a training run exports it."""
    torch.manual_seed(0)
    net = build_model("adain", {"width": 0.0625})
    torch.nn.init.constant_(net.decoder[-1].bias, 0.5)
    folder = tmp_path_factory.mktemp("adain") / "run"
    save_model(net, folder)
    return folder


def test_sizes_dtypes_and_layouts(run, images):
    content, style, _ = images
    out = adain_stylize(content[:37, :50], style, model=run)
    assert out.shape == (37, 50, 3) and out.dtype == np.uint8
    out = adain_stylize(content, [style], size=40, model=run)
    assert out.shape == (40, 40, 3)
    grey16 = content[..., 0].astype(np.uint16) * 257
    assert adain_stylize(grey16, [style], model=run).dtype == np.uint16
    rgba = np.dstack([content, np.linspace(0, 255, 64 * 64).reshape(64, 64).astype(np.uint8)]).astype(np.float32) / 255
    out = adain_stylize(rgba, [style], model=run)
    assert out.shape == (64, 64, 4) and out.dtype == np.float32 and abs(float(out[..., 3].mean()) - 0.5) < 0.01


def test_alpha_zero_decodes_the_content(run, images):
    from atelier.models import load_model

    content, style, _ = images
    c = content.astype(np.float32) / 255
    net = load_model(run)
    x = torch.from_numpy(c).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = net(x, torch.rand(1, 3, 32, 32), alpha=0.0)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(adain_stylize(c, style, alpha=0.0, model=net), expected, atol=1e-6)
    assert not np.allclose(adain_stylize(c, style, alpha=1.0, model=net), expected, atol=1e-5)


def test_weights_one_zero_equal_the_single_style_and_mixing_is_between(run, images):
    content, a, b = images
    single = adain_stylize(content, [a], model=run)
    np.testing.assert_array_equal(adain_stylize(content, [a, b], style_weights=[1, 0], model=run), single)
    np.testing.assert_array_equal(adain_stylize(content, [a, b], style_weights=[0.0, 3.0], model=run),
                                  adain_stylize(content, [b], model=run))
    mixed = adain_stylize(content, [a, b], style_weights=[0.5, 0.5], model=run)
    assert not np.array_equal(mixed, single)


def test_masks_give_each_region_its_style(run, images, monkeypatch):
    """Spatial control: the AdaIN'd features of each masked region have that style's channel
    statistics (the content's statistics are taken within the region, section 7.2)."""
    from atelier.models import load_model

    content, a, b = images
    net = load_model(run)
    seen = []
    decode = net.decode
    monkeypatch.setattr(net, "decode", lambda t: seen.append(t) or decode(t))
    left = np.zeros((64, 64), np.uint8)
    left[:, :32] = 255
    adain_stylize(content, [a, b], masks=[left, 255 - left], model=net)
    t = seen[-1]  # (1, 512, 8, 8): the left 4 columns are style a's region
    with torch.no_grad():
        f_c = net.encode(torch.from_numpy(content.astype(np.float32) / 255).permute(2, 0, 1)[None])[CONTENT_TAP]
    for style, columns in ((a, slice(0, 4)), (b, slice(4, 8))):
        region = t[..., columns]
        alive = channel_stats(f_c[..., columns])[1].flatten() > 0.05  # a channel all zero there stays flat
        assert alive.sum() > 400
        side = 64  # the styles' shorter side is the content's
        s = torch.from_numpy(style.astype(np.float32) / 255).permute(2, 0, 1)[None]
        k = side / min(s.shape[-2:])
        s = torch.nn.functional.interpolate(s, size=(round(s.shape[-2] * k), round(s.shape[-1] * k)),
                                            mode="bilinear", antialias=True).clamp(0, 1)
        with torch.no_grad():
            goal_mean, goal_std = channel_stats(net.encode(s)[CONTENT_TAP])
        mean, std = channel_stats(region)
        torch.testing.assert_close(mean, goal_mean, atol=1e-3, rtol=1e-3)
        torch.testing.assert_close(std.flatten()[alive], goal_std.flatten()[alive], atol=5e-3, rtol=1e-3)  # eps: sqrt(2e-5)
    # a mask covering everything is the single style; an empty one adds nothing
    ones = np.full((64, 64), 255, np.uint8)
    np.testing.assert_allclose(
        adain_stylize(content, [a, b], masks=[ones, np.zeros_like(ones)], model=net).astype(float),
        adain_stylize(content, [a], model=net).astype(float), atol=1,
    )


def test_match_color_gives_the_content_mean_and_covariance():
    """Reference: Gatys et al. 2017, section 5.1: after the linear transform the style's RGB
    mean and covariance are the content's (exactly, away from clipping)."""
    rng = np.random.default_rng(0)
    style = (0.3 + 0.4 * rng.random((40, 40, 3))).astype(np.float32)
    mix = np.array([[0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.1, 0.1, 0.3]])
    content = (0.35 + 0.3 * (rng.random((30, 30, 3)) @ mix.T) / 1.2).astype(np.float32)
    out = match_color(style, content, eps=0)
    flat, ref = out.reshape(-1, 3).astype(float), content.reshape(-1, 3).astype(float)
    np.testing.assert_allclose(flat.mean(0), ref.mean(0), atol=1e-5)
    np.testing.assert_allclose(np.cov(flat, rowvar=False), np.cov(ref, rowvar=False), atol=1e-6)


def test_preserve_color_changes_the_result_and_everything_is_deterministic(run, images):
    content, style, _ = images
    plain = adain_stylize(content, style, model=run)
    kept = adain_stylize(content, style, preserve_color=True, model=run)
    assert not np.array_equal(plain, kept)
    np.testing.assert_array_equal(kept, adain_stylize(content, style, preserve_color=True, model=run))


def test_errors(run, images, tmp_path, monkeypatch):
    content, a, b = images
    save_model(build_model("style", {"width": 4, "blocks": 1}), tmp_path / "style-net")
    small = np.zeros((10, 10), np.uint8)
    cases = [
        (dict(styles=[a, b], style_weights=[1.0]), "one style weight >= 0 per style"),
        (dict(styles=[a], style_weights=[0.0]), "not all zero"),
        (dict(styles=[a], alpha=1.5), r"alpha must be a number in \[0, 1\]"),
        (dict(styles=[a], alpha=-0.1), r"alpha must be a number in \[0, 1\]"),
        (dict(styles=[a], masks=[small]), "mask 0 is 10 x 10 but the content is 64 x 64"),
        (dict(styles=[a, b], masks=[np.ones((64, 64), bool)]), "one mask per style: 1 masks for 2 styles"),
        (dict(styles=[a, b], masks=[small, small], style_weights=[1, 1]), "not both"),
        (dict(styles=[]), "at least one style"),
        (dict(styles=[a], size=8), "at least 16 px"),
        (dict(styles=[a], model=tmp_path / "style-net"), "holds the model style, not an adain model"),
        (dict(styles=[a], model=tmp_path / "nope"), "no such run folder"),
    ]
    for kwargs, match in cases:
        kwargs.setdefault("model", run)
        with pytest.raises(InvalidArgument, match=match):
            adain_stylize(content, **kwargs)
    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "empty")  # an install without the weights
    with pytest.raises(InvalidArgument, match="'adain' are not in this install.*atelier train adain"):
        adain_stylize(content, [a], model="adain")
    assert is_adain_source("adain") and is_adain_source(run) and is_adain_source(run / "model.safetensors")
    assert not is_adain_source(tmp_path / "style-net") and not is_adain_source(tmp_path / "nope")


def test_the_stylize_task_routes_adain_models(run, images):
    from atelier.tasks.registry import TaskContext, get_task

    content, style, _ = images
    result = get_task("stylize").run({"image": content, "style": style}, {"model": str(run), "alpha": 0.5},
                                     TaskContext())
    assert result.images["image"].shape == content.shape
    with pytest.raises(InvalidArgument, match="needs a style image"):
        get_task("stylize").run({"image": content}, {"model": str(run)}, TaskContext())


def test_cli(run, images, tmp_path, capsys):
    content, a, b = images
    for name, image in (("c.png", content), ("a.png", a), ("b.png", b)):
        save_image(tmp_path / name, image)
    left = np.zeros((64, 64), np.uint8)
    left[:, :32] = 255
    save_image(tmp_path / "left.png", left)
    save_image(tmp_path / "right.png", 255 - left)
    c, sa, sb = tmp_path / "c.png", tmp_path / "a.png", tmp_path / "b.png"
    out = tmp_path / "out.png"
    assert atelier("stylize", c, "--model", run, "--style", sa, "--style", sb, "--style-weights", "0.7,0.3",
                   "--alpha", "0.8", "--preserve-color", "-o", out) == 0
    assert load_image(out).shape == (64, 64, 3)
    assert atelier("stylize", c, "--model", run, "--style", sa, "--style", sb, "--mask", tmp_path / "left.png",
                   "--mask", tmp_path / "right.png", "--size", "32", "-o", tmp_path / "masked.png") == 0
    assert load_image(tmp_path / "masked.png").shape == (32, 32, 3)
    capsys.readouterr()
    cases = [
        (("--model", run), "is an adain model: give one or more --style"),
        (("--model", run, "--style", sa, "--alpha", "2"), r"alpha must be a number in [0, 1]"),
        (("--model", run, "--style", sa, "--mask", tmp_path / "left.png", "--mask", tmp_path / "right.png"),
         "one --mask per --style: 2 masks for 1 styles"),
        (("--style", sa, "--alpha", "0.5"), "--alpha and --mask apply to arbitrary style transfer"),
        (("--model", run, "--style", sa, "--mask", sb), "mask 0 is 46 x 30 but the content is 64 x 64"),
    ]
    for args, match in cases:
        assert atelier("stylize", c, *args, "-o", tmp_path / "x.png") == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.skipif(not pretrained.is_installed("adain"), reason="the shipped adain model is not in this install")
def test_the_shipped_model_moves_the_statistics_towards_the_style(images):
    """With the trained decoder the output's relu4_1 channel statistics are closer to the
    style's than the content's were (the paper's objective, measured on unseen images)."""
    from atelier.models.adain import pad_to_multiple
    from atelier.pretrained import load_pretrained

    content, style, _ = images
    net = load_pretrained("adain")
    out = adain_stylize(content, style, size=64)

    def stats(image):
        x = torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]
        with torch.no_grad():
            return channel_stats(net.encode(pad_to_multiple(x))[CONTENT_TAP])

    (mc, sc), (mo, so), (ms, ss) = stats(content), stats(out), stats(style)
    before = float((mc - ms).abs().mean() + (sc - ss).abs().mean())
    after = float((mo - ms).abs().mean() + (so - ss).abs().mean())
    assert after < 0.7 * before
