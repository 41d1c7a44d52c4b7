"""`atelier generate`, `atelier sample` on diffusion runs, `atelier inpaint --method diffusion:RUN`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.image import load_image, save_image
from atelier.models import build_model, save_model
from atelier.tasks.diffusion_model import clear_cache
from atelier.tasks.diffusion_sample import generate_images, interpolate_noise
from atelier.tasks.generate import make_grid
from tests.cli.test_cli import atelier
from tests.tasks.test_diffusion_sample import make_model, save_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion-runs")
    out = {cond: save_run(root / cond, make_model(cond)) for cond in ("text", "label")}
    gan = build_model("dcgan", {"resolution": 16, "width": 8, "latent_dim": 4})
    save_model(gan, root / "gan")
    out["gan"] = root / "gan"
    rng = np.random.default_rng(0)
    save_image(root / "photo.png", rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    mask = np.zeros((30, 40), np.uint8)
    mask[5:15, 10:25] = 255
    save_image(root / "mask.png", mask)
    save_image(root / "small-mask.png", mask[:10, :10])
    save_image(root / "empty-mask.png", np.zeros((30, 40), np.uint8))
    save_image(root / "init16.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    out["root"] = root
    clear_cache()
    return out


def one_line(capsys, kind: str = "error") -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{kind}: "), err
    return err[0]


def test_generate_grid_matches_the_api(tmp_path, runs, capsys):
    out = tmp_path / "grid.png"
    assert atelier("generate", "a red circle", "--model", runs["text"], "-n", 4, "--nrow", 2, "--steps", 3,
                   "--seed", 2, "-o", out, "--device", "cpu") == 0
    images = generate_images(runs["text"], prompts=["a red circle"], n=4, steps=3, seed=2, dtype=np.float32)
    expected = make_grid(torch.from_numpy(images).permute(0, 3, 1, 2), nrow=2)
    np.testing.assert_array_equal(load_image(out), expected)
    assert load_image(out).shape == (2 * 18 + 2, 2 * 18 + 2, 3)


def test_generate_each_sampler_and_init(tmp_path, runs, capsys):
    folder = tmp_path / "each"
    assert atelier("generate", "a red circle", "a blue square", "--model", runs["text"], "-n", 3, "--steps", 2,
                   "--sampler", "dpm", "--guidance", 5, "--each", folder) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["sample_00000.png", "sample_00001.png", "sample_00002.png"]
    capsys.readouterr()
    assert atelier("generate", "a red circle", "--model", runs["text"], "-n", 2, "--steps", 4, "--init",
                   runs["root"] / "init16.png", "--strength", 0.5, "-o", tmp_path / "edit.png") == 0
    assert "warning" not in capsys.readouterr().err
    assert load_image(tmp_path / "edit.png").shape == (18 + 2, 2 * 18 + 2, 3)


def test_generate_warnings_are_one_line_and_go_on(tmp_path, runs, capsys):
    assert atelier("generate", "a red dog", "--model", runs["text"], "-n", 1, "--steps", 2, "-o", tmp_path / "a.png") == 0
    err = capsys.readouterr().err.splitlines()
    assert [e for e in err if e.startswith("warning:")] == [
        "warning: the model never saw dog in the prompt 'a red dog': its vocabulary covers 67 % of the prompt; "
        "unknown words are read as [UNK]"
    ]
    assert atelier("generate", "a red circle", "--model", runs["text"], "-n", 1, "--steps", 2, "--init",
                   runs["root"] / "photo.png", "-o", tmp_path / "b.png") == 0
    warnings = [e for e in capsys.readouterr().err.splitlines() if e.startswith("warning:")]
    assert warnings == ["warning: the init image is 40x30; resized to the model's 16x16 (its aspect ratio changes)"]


def test_sample_diffusion_runs(tmp_path, runs, capsys):
    assert atelier("sample", runs["label"], "-n", 4, "--label", "0,2", "--steps", 2, "--sampler", "ddpm",
                   "--guidance", 2, "-o", tmp_path / "s.png") == 0
    expected = generate_images(runs["label"], labels=[0, 2], n=4, steps=2, sampler="ddpm", guidance=2.0,
                               dtype=np.float32)
    grid = make_grid(torch.from_numpy(expected).permute(0, 3, 1, 2), nrow=8)
    np.testing.assert_array_equal(load_image(tmp_path / "s.png"), grid)
    assert atelier("sample", runs["text"], "-n", 2, "--steps", 2, "--each", tmp_path / "u") == 0  # the null text
    assert len(list((tmp_path / "u").glob("*.png"))) == 2


def test_sample_interpolate_diffusion(tmp_path, runs):
    """Rows of slerped starting noise through DDIM, one label per row: the row's ends are
    the images of its two noises, and neighbours are closer than the ends."""
    out = tmp_path / "lerp.png"
    assert atelier("sample", runs["label"], "--interpolate", "-n", 10, "--nrow", 5, "--label", "0,2",
                   "--steps", 2, "-o", out) == 0
    noise = interpolate_noise(runs["label"], rows=2, steps=5, seed=0)
    expected = generate_images(runs["label"], labels=[0] * 5 + [2] * 5, n=10, steps=2, noise=noise,
                               dtype=np.float32)
    grid = make_grid(torch.from_numpy(expected).permute(0, 3, 1, 2), nrow=5)
    np.testing.assert_array_equal(load_image(out), grid)
    row = expected[:5].astype(np.float64)
    assert np.abs(row[1] - row[0]).mean() < np.abs(row[4] - row[0]).mean()


def test_inpaint_with_a_diffusion_model(tmp_path, runs, capsys):
    out = tmp_path / "filled.png"
    assert atelier("inpaint", runs["root"] / "photo.png", "--mask", runs["root"] / "mask.png", "--method",
                   f"diffusion:{runs['text']}", "--prompt", "a red circle", "--steps", 2, "--resample", 2,
                   "-o", out) == 0
    photo, filled = load_image(runs["root"] / "photo.png"), load_image(out)
    hole = load_image(runs["root"] / "mask.png") > 0
    np.testing.assert_array_equal(filled[~hole], photo[~hole])
    assert not np.array_equal(filled[hole], photo[hole])
    assert atelier("inpaint", runs["root"] / "photo.png", "--box", "3,3,8,8", "--method", runs["label"],
                   "--label", 1, "--steps", 2, "--resample", 1, "-o", tmp_path / "box.png") == 0


BAD = [
    # (args, part of the message)
    (("generate", "", "--model", "{text}"), "the prompt '' is empty"),
    (("generate", "Zebra, purple!", "--model", "{text}"),
     "unknown: zebra, purple; its vocabulary covers 0 % of the prompt"),
    (("generate", "a red circle", "--model", "{text}", "--guidance", "-1"), "--guidance must be 0 or more"),
    (("generate", "a red circle", "--model", "{text}", "--steps", "0"), "--steps must be 1 or more"),
    (("generate", "a red circle", "--model", "{text}", "--steps", "5000"), "steps must be an integer from 1 to 1000"),
    (("generate", "a red circle", "--model", "{text}", "--init", "{root}/init16.png", "--strength", "0"),
     "--strength must be in (0, 1]"),
    (("generate", "a red circle", "--model", "{text}", "--init", "{root}/init16.png", "--strength", "1.5"),
     "--strength must be in (0, 1]"),
    (("generate", "a red circle", "--model", "{text}", "--strength", "0.5"), "--strength goes with --init"),
    (("generate", "a red circle", "--model", "{text}", "--init", "{root}/missing.png"), "missing.png"),
    (("generate", "a red circle", "--model", "{text}", "--sampler", "euler"), "unknown sampler 'euler'"),
    (("generate", "a red circle", "--model", "{label}"), "class-conditional diffusion model: it takes no prompt"),
    (("generate", "a red circle", "--model", "{gan}"), "holds a dcgan model, not a diffusion model"),
    (("generate", "a red circle", "--model", "t2i-scenes"),
     "not trained yet in this install; train it with `atelier train diffusion --data scenes"),
    (("generate", "a red circle", "--model", "{text}", "-n", "0"), "-n must be 1 or more"),
    (("sample", "{text}", "--label", "3"), "text-conditional diffusion model: it takes no --label"),
    (("sample", "{label}", "--label", "7"), "labels must be in 0..2"),
    (("sample", "{label}", "--steps", "0"), "--steps must be 1 or more"),
    (("sample", "{label}", "--interpolate", "--sampler", "ddpm"), "--interpolate needs a deterministic sampler"),
    (("sample", "{gan}", "--steps", "10"), "--steps apply to diffusion runs"),
    (("sample", "diffusion-mnist"), "train it with `atelier train diffusion --data idx:../shared/data/mnist10k"),
    (("inpaint", "{root}/photo.png", "--mask", "{root}/small-mask.png", "--method", "diffusion:{text}"),
     "the mask is 10x10 but the image is 40x30"),
    (("inpaint", "{root}/photo.png", "--mask", "{root}/empty-mask.png", "--method", "diffusion:{text}"),
     "the mask is empty"),
    (("inpaint", "{root}/photo.png", "--mask", "{root}/mask.png", "--method", "diffusion:{label}", "--prompt", "a"),
     "class-conditional: it takes a class label, not a prompt"),
    (("inpaint", "{root}/photo.png", "--mask", "{root}/mask.png", "--method", "diffusion:{text}", "--label", "1"),
     "text-conditional: it takes a prompt, not a label"),
    (("inpaint", "{root}/photo.png", "--mask", "{root}/mask.png", "--method", "telea", "--prompt", "a"),
     "--prompt: options of --method diffusion[:RUN]"),
    (("inpaint", "{root}/photo.png", "--mask", "{root}/mask.png", "--method", "diffusion:{text}", "--resample", "0"),
     "--resample must be 1 or more"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[f"{a[0]}-{i}" for i, (a, _) in enumerate(BAD)])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, runs, capsys, monkeypatch, args, message):
    from atelier import pretrained

    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", runs["root"] / "no-weights")  # an install without them
    clear_cache()
    names = {k: str(v) for k, v in runs.items()}
    out = tmp_path / "out.png"
    argv = [a.format(**names) for a in args] + ["-o", str(out)]
    assert atelier(*argv) == 2
    line = one_line(capsys)
    assert message in line, line
    assert not out.exists() and list(tmp_path.iterdir()) == []
