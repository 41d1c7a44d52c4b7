"""Text-conditional GAN (Reed et al. 2016): model shapes, the matching-aware step, the run's
files and exact resume, sampling (load_text_gan / generate_text_gan) and `atelier generate`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import default_collate

from atelier.data.scenes import ScenesDataset
from atelier.errors import InvalidArgument
from atelier.image import load_image, save_image
from atelier.models import build_model, load_model, save_model
from atelier.tasks.diffusion_model import DiffusionWarning
from atelier.tasks.generate import make_grid
from atelier.tasks.text_gan import TextGANModel, generate_text_gan, load_text_gan
from atelier.tasks.training import load_run_spec, resolve_run, train_run
from atelier.text import CaptionTokenizer
from atelier.train.objectives import make_objective
from atelier.train.objectives.text_gan import mismatch_index
from tests.cli.test_cli import atelier
from tests.train.test_objectives import FakeCtx

TINY = {"resolution": 16, "width": 8, "latent_dim": 8, "cond_dim": 8, "text_dim": 16, "text_layers": 1,
        "text_heads": 2}  # fmt: skip
RUN_SETS = [f"{k}={v}" for k, v in TINY.items()] + [
    "batch_size=8", "checkpoint_every=2", "log_every=1", "val_images=8", "sample_images=16", "data.length=80",
    "device=cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def scenes():
    return ScenesDataset(size=16, length=40, split="all")


@pytest.fixture(scope="module")
def tokenizer(scenes):
    return CaptionTokenizer.train(scenes.all_captions())


def _model(tokenizer, **extra):
    torch.manual_seed(0)
    return build_model("text-gan", {**TINY, "vocab_size": tokenizer.vocab_size, **extra})


def _ids(tokenizer, texts):
    ids, _ = tokenizer.encode_batch(texts, max_length=48)
    return ids


@pytest.mark.parametrize("resolution, channels", [(16, 3), (32, 1), (64, 3)])
def test_shapes(tokenizer, resolution, channels):
    gan = _model(tokenizer, resolution=resolution, channels=channels).eval()
    ids = _ids(tokenizer, ["a small red circle in the center on a white background", "a large blue square"])
    with torch.no_grad():
        x = gan(torch.randn(2, 8), ids)
        assert x.shape == (2, channels, resolution, resolution) and 0 <= float(x.min()) and float(x.max()) <= 1
        assert gan.discriminator(x, ids).shape == (2,)
        c, kl = gan.generator.condition(gan.generator.embed(ids))
    assert c.shape == (2, 8) and float(kl) == 0


def test_conditioning_augmentation(tokenizer):
    """StackGAN's augmentation: c = mu + sigma * eps (mu without eps), KL >= 0 (= 0 for
    mu = 0, log-variance 0: checked on a zeroed layer)."""
    G = _model(tokenizer, cond_augment=True).generator
    pooled = torch.randn(3, 16)
    eps = torch.randn(3, 8)
    c, kl = G.condition(pooled, eps)
    mu, _ = G.condition(pooled)
    assert c.shape == mu.shape == (3, 8) and not torch.equal(c, mu) and kl.item() > 0
    torch.nn.init.zeros_(G.compress.weight)
    torch.nn.init.zeros_(G.compress.bias)
    c, kl = G.condition(pooled, eps)
    assert torch.allclose(c, eps) and kl.item() == 0


def test_config_errors():
    with pytest.raises(InvalidArgument, match="resolution"):
        build_model("text-gan", {"resolution": 48})
    with pytest.raises(InvalidArgument, match="text_dim"):
        build_model("text-gan", {"text_dim": 30, "text_heads": 4})
    with pytest.raises(InvalidArgument, match="loss"):
        build_model("text-gan", {"loss": "wgan-gp"})


def test_mismatch_index():
    texts = ["a red circle", "a red circle", "a blue square", "a green star"]
    for seed in range(5):
        wrong = mismatch_index(texts, torch.Generator().manual_seed(seed))
        assert all(texts[int(j)] != texts[i] for i, j in enumerate(wrong))
    assert mismatch_index(["a cat"] * 3).tolist() == [-1, -1, -1]
    assert mismatch_index(["a cat"]).tolist() == [-1]


def test_steps_learn_to_match_text(scenes, tokenizer):
    """30 steps on one fixed batch: D's matching-aware part (real image + its caption vs the
    same image + a mismatching caption) moves from chance to a clear margin, and the
    generator's images depend on the prompt."""
    gan = _model(tokenizer)
    obj = make_objective(gan, {"lr_d": 1e-3, "lr_g": 1e-3})
    obj.use_tokenizer(tokenizer)
    batch = default_collate([scenes[i] for i in range(16)])
    texts = list(batch[2])
    wrong = mismatch_index(texts)
    ids, mask = obj.tokens(texts, torch.device("cpu"))

    def margin():
        D = gan.discriminator.eval()
        with torch.no_grad():
            h, e = D.features(batch[0]), D.embed(ids, mask)
            out = float((D.score(h, e) - D.score(h, e[wrong])).mean())
        D.train()
        return out

    before = margin()
    ctx = FakeCtx(obj.optimizers(), seed=0)
    logs = [obj.step(batch, step, ctx) for step in range(30)]
    assert {"d_loss", "g_loss", "ms_ratio", "match"} <= set(logs[-1])
    assert margin() > before + 0.5
    assert np.mean([r["match"] for r in logs[-5:]]) > 0.8
    G = gan.generator.eval()
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = G(z, _ids(tokenizer, ["a large red circle on a white background"] * 2))
        b = G(z, _ids(tokenizer, ["a small blue square on a black background"] * 2))
    assert float((a - b).abs().mean()) > 1e-3


def test_save_load_round_trip(tmp_path, tokenizer):
    gan = _model(tokenizer)
    gan.train()
    with torch.no_grad():  # move BatchNorm statistics and spectral-norm vectors off their start
        gan(torch.randn(4, 8), _ids(tokenizer, ["a red circle"] * 4))
        gan.discriminator(torch.rand(4, 3, 16, 16), _ids(tokenizer, ["a red circle"] * 4))
    save_model(gan.eval(), tmp_path)
    tokenizer.save(tmp_path)
    loaded = load_text_gan(tmp_path)
    a = generate_text_gan(TextGANModel(gan, tokenizer), ["a red circle", "a blue square"], 5, seed=3)
    b = generate_text_gan(loaded, ["a red circle", "a blue square"], 5, seed=3)
    np.testing.assert_array_equal(a, b)
    sa, sb = gan.state_dict(), load_model(tmp_path).state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("text-gan-runs")
    straight = train_run(resolve_run("text-gan", data="scenes", overrides=RUN_SETS + ["steps=4"]), root / "a")
    half = train_run(resolve_run("text-gan", data="scenes", overrides=RUN_SETS + ["steps=2"]), root / "b")
    resumed = train_run(resolve_run("text-gan", data="scenes", overrides=["steps=4"], base=load_run_spec(half)), half)
    return {"straight": straight, "resumed": resumed, "root": root}


def test_run_files_and_exact_resume(runs):
    """A run leaves model + tokenizer + a grid of the EMA generator; 2 steps then --resume to
    4 is bit-identical to 4 steps (weights, logs, sample grid)."""
    straight, resumed = runs["straight"], runs["resumed"]
    names = {p.name for p in straight.iterdir()}
    assert {"model.json", "model.safetensors", "tokenizer.json", "config.json", "log.jsonl"} <= names
    assert sorted(p.name for p in (straight / "samples").iterdir()) == [
        "prompts.txt", "step-00000002.png", "step-00000004.png"]
    prompts = (straight / "samples" / "prompts.txt").read_text().splitlines()
    assert len(prompts) == 2 and len(set(prompts)) == 2
    assert load_image(straight / "samples" / "step-00000004.png").shape == (2 * 18 + 2, 8 * 18 + 2, 3)
    state = torch.load(straight / "checkpoints" / "step-00000004.pt", weights_only=True)
    exported = load_file(str(straight / "model.safetensors"))
    ema = state["ema"]["generator"]["module"]
    assert all(torch.equal(exported[f"generator.{k}"], v) for k, v in ema.items())
    assert any(not torch.equal(v, state["modules"]["generator"][k]) for k, v in ema.items())
    a, b = exported, load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda run: [  # noqa: E731
        {k: v for k, v in json.loads(line).items() if k != "images_per_s"}
        for line in (run / "log.jsonl").read_text().splitlines()
    ]
    assert strip(straight) == strip(resumed)
    assert any("val_match" in r for r in strip(straight))
    assert (straight / "samples" / "step-00000004.png").read_bytes() == (resumed / "samples" / "step-00000004.png").read_bytes()


def test_generate_api(runs):
    model = load_text_gan(runs["straight"])
    images = generate_text_gan(model, ["a red circle", "a blue square"], 5, seed=1)
    assert images.shape == (5, 16, 16, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, generate_text_gan(str(runs["straight"]), ["a red circle", "a blue square"], 5, seed=1))
    walk = generate_text_gan(model, [], 4, seed=1, interpolate=("a red circle", "a blue square"))
    assert walk.shape == (4, 16, 16, 3)
    with pytest.warns(DiffusionWarning, match="never saw zebra.*covers 75 %"):
        generate_text_gan(model, ["a red circle zebra"], 2)
    for prompts, kwargs, match in [
        ([""], {}, "empty"),
        (["zebra giraffe"], {}, "unknown: zebra, giraffe; its vocabulary covers 0 %"),
        ([], {}, "at least one prompt"),
        (["a red circle"], {"interpolate": ("a", "b")}, "not both"),
    ]:
        with pytest.raises(InvalidArgument, match=match):
            generate_text_gan(model, prompts, 2, **kwargs)
    with pytest.raises(InvalidArgument, match="n must be"):
        generate_text_gan(model, ["a red circle"], 0)


def test_load_errors(tmp_path):
    with pytest.raises(InvalidArgument, match="no such run folder"):
        load_text_gan(tmp_path / "missing")
    save_model(build_model("dcgan", {"resolution": 16, "width": 8, "latent_dim": 4}), tmp_path / "gan")
    with pytest.raises(InvalidArgument, match="holds a dcgan model, not a text GAN"):
        load_text_gan(tmp_path / "gan")


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_cli_generate_writes_the_api_grid(runs, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert atelier("generate", "a red circle", "a blue square", "--model", runs["straight"], "-n", 4, "--nrow", 2,
                   "--seed", 2, "-o", out, "--device", "cpu") == 0
    images = generate_text_gan(str(runs["straight"]), ["a red circle", "a blue square"], 4, seed=2)
    expected = make_grid(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0, nrow=2)
    np.testing.assert_array_equal(load_image(out), expected)


@pytest.mark.parametrize("args, message", [
    (["--steps", "5"], "--steps applies to diffusion models"),
    (["--guidance", "2", "--sampler", "dpm"], "--guidance, --sampler apply to diffusion models"),
    (["--init", "x.png"], "--init applies to diffusion models"),
])  # fmt: skip
def test_cli_diffusion_options_are_one_error(runs, tmp_path, capsys, args, message):
    out = tmp_path / "grid.png"
    assert atelier("generate", "a red circle", "--model", runs["straight"], "-o", out, *args) == 2
    assert message in one_line(capsys) and not out.exists()


def test_cli_bad_input(runs, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert atelier("generate", "  ", "--model", runs["straight"], "-o", out) == 2
    assert "empty" in one_line(capsys) and not out.exists()
    assert atelier("generate", "zebra", "--model", runs["straight"], "-o", out) == 2
    assert "unknown: zebra" in one_line(capsys) and not out.exists()
    photos = tmp_path / "photos"
    for i in range(2):
        save_image(photos / f"{i}.png", np.full((16, 16, 3), 40 * i, np.uint8))
    assert atelier("train", "text-gan", "--data", photos, "--out", tmp_path / "run", "--set", "resolution=16") == 2
    assert "has none" in one_line(capsys) and not (tmp_path / "run").exists()
