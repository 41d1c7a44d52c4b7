"""Gatys style transfer: the loss goes down, sizes and dtypes, colour preservation, mixing,
errors, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.errors import InvalidArgument
from atelier.image import load_image, save_image
from atelier.ops.color_spaces import rgb_to_ycbcr
from atelier.tasks.stylize import stylize
from tests.cli.test_cli import atelier


@pytest.fixture(scope="module")
def pair():
    from skimage import data

    return data.astronaut()[::8, ::8].copy(), data.coffee()[::8, ::8].copy()  # 64x64 and 50x75


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_few_steps_reduce_the_loss(pair, optimizer):
    content, style = pair
    losses = []
    stylize(content, [style], size=48, steps=8, scales=1, optimizer=optimizer, on_step=losses.append)
    assert len(losses) == 8 and losses[-1] < 0.8 * losses[0]


def test_the_returned_loss_is_that_of_the_returned_image_and_in_range(pair):
    import torch

    from atelier.nets.vgg19 import VGG19
    from atelier.tasks.stylize import CONTENT_TAP, STYLE_TAPS, StyleProblem, rgb_tensor

    content, style = pair
    c = content.astype(np.float32) / 255
    out, loss = stylize(c, [style], size=None, steps=6, scales=1, return_loss=True)
    assert out.min() >= 0 and out.max() <= 1
    problem = StyleProblem(VGG19(taps=(CONTENT_TAP, *STYLE_TAPS)), rgb_tensor(c), [rgb_tensor(style)], [1.0],
                           content_weight=1.0, tv_weight=0.0)
    with torch.no_grad():
        assert float(problem.loss(rgb_tensor(out))) == pytest.approx(loss, rel=1e-3)


def test_pyramid_preconditioning_beats_plain_pixels(pair, monkeypatch):
    """The pyramid parametrisation reaches a lower loss than L-BFGS on pixels in the same steps."""
    import atelier.tasks.stylize as module

    content, style = pair
    _, pyramid = stylize(content, [style], size=64, steps=12, scales=1, return_loss=True)
    monkeypatch.setattr(module, "_pyramid_levels", lambda h, w: 1)  # one level: plain pixels
    _, plain = stylize(content, [style], size=64, steps=12, scales=1, return_loss=True)
    assert pyramid < plain


def test_sizes_dtypes_and_layouts(pair):
    content, style = pair
    out, loss = stylize(content, [style], size=40, steps=2, return_loss=True)
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8 and np.isfinite(loss)
    grey = (content[..., 0].astype(np.uint16) * 257)[:, :48]
    out = stylize(grey, [style], size=None, steps=1, scales=1)
    assert out.shape == (64, 48, 3) and out.dtype == np.uint16
    rgba = np.dstack([content, np.full(content.shape[:2], 255, np.uint8)]).astype(np.float32) / 255
    assert stylize(rgba, [style], size=32, steps=1, scales=1).dtype == np.float32


def test_preserve_color_keeps_the_content_chroma(pair):
    content, style = pair
    out = stylize(content.astype(np.float32) / 255, [style], size=None, steps=3, scales=1, preserve_color=True)
    chroma_out = rgb_to_ycbcr(out)[..., 1:]
    chroma_in = rgb_to_ycbcr(content.astype(np.float32) / 255)[..., 1:]
    inside = (out > 0.02).all(-1) & (out < 0.98).all(-1)  # away from clipping
    assert np.abs(chroma_out - chroma_in)[inside].max() < 0.5


def test_two_styles_mix(pair):
    content, style = pair
    a = stylize(content, [style, content], style_weights=[1, 0], size=32, steps=3, scales=1)
    b = stylize(content, [style], size=32, steps=3, scales=1)
    np.testing.assert_array_equal(a, b)  # weight 0 removes the second style


def test_errors(pair):
    content, style = pair
    cases = [
        (dict(styles=[]), "at least one style"),
        (dict(styles=[style], style_weights=[1, 2]), "one style weight"),
        (dict(styles=[style], style_weights=[0]), "not all zero"),
        (dict(styles=[style], steps=0), "steps and scales"),
        (dict(styles=[style], optimizer="sgd"), "optimizer must be lbfgs or adam, got 'sgd'"),
        (dict(styles=[style], init="zeros"), "init must be content or noise, got 'zeros'"),
        (dict(styles=[style], device="tpu"), "unknown device 'tpu'"),
    ]
    for kwargs, match in cases:
        with pytest.raises(InvalidArgument, match=match):
            stylize(content, size=32, **kwargs)


def test_cli(tmp_path, pair, capsys):
    content, style = pair
    save_image(tmp_path / "c.png", content)
    save_image(tmp_path / "s.jpg", style)
    out = tmp_path / "out.png"
    assert atelier("stylize", tmp_path / "c.png", "--style", tmp_path / "s.jpg", "-o", out,
                   "--size", "32", "--steps", "2", "--preserve-color") == 0
    assert load_image(out).shape == (32, 32, 3)
    capsys.readouterr()
    for args, match in [
        (("--style", tmp_path / "s.jpg", "-o", out), "exists"),
        (("--style", tmp_path / "s.jpg", "--style", tmp_path / "c.png", "--style-weights", "1", "-o", tmp_path / "o2.png"), "1 values for 2"),
        (("--style", tmp_path / "nope.png", "-o", tmp_path / "o3.png"), "no such file"),
    ]:
        assert atelier("stylize", tmp_path / "c.png", *args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err


@pytest.fixture(scope="module")
def style_run(tmp_path_factory, pair):
    """A tiny trained style network (a few steps on crops of four photos)."""
    content, style = pair
    root = tmp_path_factory.mktemp("style")
    from skimage import data

    photo = data.chelsea()
    for k, (top, left) in enumerate([(0, 0), (40, 60), (80, 120), (100, 200)]):
        save_image(root / "photos" / f"{k}.png", photo[top : top + 64, left : left + 64])
    save_image(root / "style.png", style)
    assert atelier("train", "style", "--style", root / "style.png", "--data", root / "photos", "--out", root / "run",
                   "--set", "width=4", "--set", "blocks=1", "--set", "patch=32", "--set", "steps=4",
                   "--set", "validate_every=2", "--set", "checkpoint_every=2", "--set", "holdout=1",
                   "--set", "val_crop=32", "--set", "style_size=48") == 0
    return root


def test_style_training_logs_and_lowers_the_loss(style_run):
    import json

    log = [json.loads(line) for line in (style_run / "run" / "log.jsonl").read_text().splitlines()]
    train = [r for r in log if "images_per_s" in r]
    vals = [r for r in log if "val_loss" in r]
    assert {"content", "style", "tv", "loss"} <= set(train[0]) and [r["step"] for r in vals] == [2, 4]
    assert vals[-1]["best_val_loss"] == min(r["val_loss"] for r in vals)


def test_feed_forward_any_size_alpha_and_dtype(style_run, pair):
    from atelier.tasks.stylize import stylize_with_model

    content, _ = pair
    out = stylize_with_model(content[:37, :50], style_run / "run")
    assert out.shape == (37, 50, 3) and out.dtype == np.uint8
    rgba = np.dstack([content, np.linspace(0, 255, 64 * 64).reshape(64, 64).astype(np.uint8)])
    out = stylize_with_model(rgba, style_run / "run", size=32)
    assert out.shape == (32, 32, 4) and abs(int(out[..., 3].mean()) - 127) < 3
    grey16 = content[..., 0].astype(np.uint16) * 257
    assert stylize_with_model(grey16, style_run / "run").dtype == np.uint16


def test_cli_with_model_and_errors(style_run, tmp_path, pair, capsys):
    content, _ = pair
    save_image(tmp_path / "c.png", content)
    assert atelier("stylize", tmp_path / "c.png", "--model", style_run / "run", "-o", tmp_path / "o.png") == 0
    assert load_image(tmp_path / "o.png").shape == (64, 64, 3)
    capsys.readouterr()
    cases = [
        (("--model", style_run / "run", "--style", style_run / "style.png"), "exactly one of --style"),
        ((), "exactly one of --style"),
        (("--model", tmp_path / "nope"), "no such run folder"),
    ]
    for args, match in cases:
        assert atelier("stylize", tmp_path / "c.png", *args, "-o", tmp_path / "x.png") == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err
    assert atelier("train", "style", "--data", style_run / "photos", "--out", tmp_path / "r") == 2
    assert "needs a style image (data.style)" in capsys.readouterr().err
