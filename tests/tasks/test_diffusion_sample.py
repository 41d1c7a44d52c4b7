"""Diffusion sampling: generate_images (CFG, samplers, SDEdit), RePaint inpainting, loading.

Tiny untrained U-Nets (16 px, width 16) whose weights are nudged off their zero init, so the
model's output depends on the input, the timestep and the condition.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from atelier.errors import InvalidArgument, UnknownName
from atelier.models import build_model, save_model
from atelier.schedulers import get_scheduler, save_scheduler
from atelier.tasks.diffusion_inpaint import inpaint_diffusion
from atelier.tasks.diffusion_model import (
    DiffusionModel,
    DiffusionWarning,
    clear_cache,
    guided_output,
    load_diffusion,
    make_condition,
    make_sampler,
)
from atelier.tasks.diffusion_sample import generate_images
from atelier.text import CaptionTokenizer

CAPTIONS = ["a red circle", "a blue square", "a green triangle on white"]


def tiny_net(cond: str, channels: int = 3, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    config = {"resolution": 16, "channels": channels, "width": 16, "channel_mults": [1, 2], "res_blocks": 1,
              "attention_resolutions": [8], "heads": 2, "cond": cond, "text_dim": 16, "text_layers": 1,
              "text_heads": 2, **extra}
    net = build_model("diffusion", config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def make_model(cond: str, *, channels: int = 3, scheduler: dict | None = None) -> DiffusionModel:
    tok = CaptionTokenizer.train(CAPTIONS) if cond == "text" else None
    extra = {"vocab_size": tok.vocab_size} if tok else ({"num_classes": 3} if cond == "label" else {})
    return DiffusionModel(tiny_net(cond, channels, **extra), get_scheduler("ddpm", scheduler or {}), tok)


@pytest.fixture(scope="module")
def text_model() -> DiffusionModel:
    return make_model("text")


@pytest.fixture(scope="module")
def label_model() -> DiffusionModel:
    return make_model("label")


@pytest.fixture(scope="module")
def uncond_model() -> DiffusionModel:
    return make_model("none", channels=1)


def count_rows(model: DiffusionModel):
    """A forward hook recording the batch size of every model call; returns (list, handle)."""
    rows: list[int] = []
    handle = model.net.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    return rows, handle


# ----------------------------------------------------------------------------- shapes, seeds


def test_shapes_and_dtypes(text_model, label_model, uncond_model):
    images = generate_images(text_model, prompts="a red circle", n=3, steps=3)
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.uint8
    floats = generate_images(label_model, labels=[0, 2], n=2, steps=2, dtype=np.float32)
    assert floats.shape == (2, 16, 16, 3) and floats.dtype == np.float32
    assert 0 <= floats.min() and floats.max() <= 1
    grey = generate_images(uncond_model, n=2, steps=2, batch_size=1)
    assert grey.shape == (2, 16, 16, 1)


def test_seed_determinism_and_batch_size(text_model):
    a = generate_images(text_model, prompts=["a red circle", "a blue square"], n=4, steps=3, seed=5)
    b = generate_images(text_model, prompts=["a red circle", "a blue square"], n=4, steps=3, seed=5)
    c = generate_images(text_model, prompts=["a red circle", "a blue square"], n=4, steps=3, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # deterministic DDIM: the same images in any batches (up to float rounding of the batched convs)
    kw = {"prompts": ["a red circle", "a blue square"], "n": 4, "steps": 3, "seed": 5, "dtype": np.float32}
    np.testing.assert_allclose(generate_images(text_model, **kw), generate_images(text_model, batch_size=3, **kw),
                               atol=1e-3)
    e = generate_images(text_model, prompts="a red circle", n=2, steps=3, seed=5, sampler="ddpm")
    np.testing.assert_array_equal(e, generate_images(text_model, prompts="a red circle", n=2, steps=3, seed=5,
                                                     sampler="ddpm"))


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpm", "dpm++2m"])
def test_every_sampler_runs(text_model, sampler):
    done = []
    images = generate_images(text_model, prompts="a red circle", n=2, steps=4, sampler=sampler, batch_size=1,
                             progress=lambda k, total: done.append((k, total)))
    assert images.shape == (2, 16, 16, 3)
    assert done == [(k, 8) for k in range(1, 9)]  # once per timestep of every batch


def test_v_prediction_and_ddim_eta():
    model = make_model("label", scheduler={"prediction_type": "v_prediction", "beta_schedule": "cosine"})
    a = generate_images(model, labels=1, n=2, steps=3, eta=0.5, seed=1)
    assert a.shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(a, generate_images(model, labels=1, n=2, steps=3, eta=0.5, seed=1))
    with pytest.raises(InvalidArgument, match="eta is the ddim sampler's setting"):
        generate_images(model, labels=1, n=1, steps=2, sampler="dpm", eta=0.5)


def test_sampler_keeps_the_saved_schedule(label_model):
    model = DiffusionModel(label_model.net, get_scheduler("ddpm", {"beta_schedule": "cosine", "clip_sample": False}))
    s = make_sampler(model, "ddim")
    assert s.name == "ddim" and s.config.beta_schedule == "cosine" and s.config.clip_sample is False
    with pytest.raises(UnknownName, match="unknown sampler 'dpm3'"):
        make_sampler(model, "dpm3")


# ----------------------------------------------------------------------------- guidance


def test_guidance_one_skips_the_unconditional_pass(text_model, label_model):
    for model, cond in ((text_model, {"prompts": "a red circle"}), (label_model, {"labels": 1})):
        rows, handle = count_rows(model)
        try:
            generate_images(model, n=3, steps=4, guidance=1.0, **cond)
            assert rows == [3] * 4
            rows.clear()
            generate_images(model, n=3, steps=4, guidance=3.0, **cond)
            assert rows == [6] * 4  # one batched call on cond + uncond rows
            rows.clear()
            generate_images(model, n=3, steps=4, guidance=0.0, **cond)
            assert rows == [3] * 4
        finally:
            handle.remove()


class StubNet(torch.nn.Module):
    """A label "model": cond rows answer ``labels + 1``, dropped rows ``-2``; records its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.config = types.SimpleNamespace(cond="label", num_classes=3, resolution=4, channels=1)
        self.calls: list[torch.Tensor | None] = []

    def forward(self, x, t, *, labels=None, drop=None):
        self.calls.append(drop)
        value = labels.float() + 1.0
        if drop is not None:
            value = torch.where(drop, torch.full_like(value, -2.0), value)
        return value[:, None, None, None].expand_as(x).clone()


def test_cfg_formula_on_a_stub():
    """``eps = uncond + g * (cond - uncond)`` (Ho & Salimans 2022, eq. 6 with w = g - 1)."""
    net = StubNet()
    x = torch.zeros(2, 1, 4, 4)
    labels = torch.tensor([0, 2])
    out = guided_output(net, x, torch.tensor(5), {"labels": labels}, guidance=3.0)
    cond, uncond = torch.tensor([1.0, 3.0]), -2.0
    np.testing.assert_allclose(out[:, 0, 0, 0].numpy(), (uncond + 3.0 * (cond - uncond)).numpy())
    assert len(net.calls) == 1 and net.calls[0].tolist() == [False, False, True, True]
    net.calls.clear()
    out = guided_output(net, x, torch.tensor(5), {"labels": labels}, guidance=1.0)
    assert net.calls == [None] and out[:, 0, 0, 0].tolist() == [1.0, 3.0]


def test_cfg_on_the_text_model_matches_two_calls(text_model):
    net = text_model.net
    cond = make_condition(text_model, prompts=["a red circle", "a blue square"], n=2)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(700)
    with torch.no_grad():
        kwargs = cond.rows(0, 2, text_model, torch.device("cpu"))
        guided = guided_output(net, x, t, kwargs, guidance=4.0)
        c = net(x, t, tokens=cond.tokens, token_mask=cond.mask)
        u = net(x, t, tokens=cond.tokens, token_mask=cond.mask, drop=torch.ones(2, dtype=torch.bool))
    torch.testing.assert_close(guided, u + 4.0 * (c - u), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(c, u)


# ----------------------------------------------------------------------------- conditions and bad input


def test_prompt_checks(text_model):
    with pytest.raises(InvalidArgument, match="is empty"):
        generate_images(text_model, prompts="  ...  ", n=1, steps=1)
    with pytest.raises(InvalidArgument, match=r"unknown: purple, dog; its vocabulary covers 0 % of the prompt"):
        generate_images(text_model, prompts="Purple dog!", n=1, steps=1)
    with pytest.warns(DiffusionWarning, match=r"never saw dog .* covers 67 % of the prompt"):
        generate_images(text_model, prompts="a red dog", n=1, steps=1)
    with pytest.raises(InvalidArgument, match="not a label"):
        generate_images(text_model, labels=1, n=1, steps=1)
    with pytest.warns(DiffusionWarning, match="is 38 tokens long; the model reads the first 32"):
        cond = make_condition(text_model, prompts="a red circle " * 12, n=1)
    assert cond.tokens.shape == (1, 32) and cond.tokens[0, -1] == text_model.tokenizer.eos_id


def test_condition_rules(label_model, uncond_model, text_model):
    assert make_condition(label_model, n=5).labels.tolist() == [0, 1, 2, 0, 1]
    assert make_condition(label_model, labels=[2, 0], n=3).labels.tolist() == [2, 0, 2]
    with pytest.raises(InvalidArgument, match="class-conditional: it takes a class label, not a prompt"):
        make_condition(label_model, prompts="a red circle", n=1)
    with pytest.raises(InvalidArgument, match=r"labels must be in 0..2"):
        make_condition(label_model, labels=3, n=1)
    with pytest.raises(InvalidArgument, match="unconditional: it takes no condition, not a label"):
        make_condition(uncond_model, labels=1, n=1)
    assert make_condition(text_model, n=2).null  # no prompt: the null text, unconditional


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"guidance": -0.5}, "guidance must be a number >= 0"),
        ({"guidance": float("nan")}, "guidance must be a number >= 0"),
        ({"steps": 0}, "steps must be an integer from 1 to 1000"),
        ({"steps": 1001}, "steps must be an integer from 1 to 1000"),
        ({"n": 0}, "n must be a positive integer"),
        ({"strength": 0.5}, "give an init image with it"),
        ({"init": np.zeros((16, 16, 3), np.uint8), "strength": 0.0}, r"strength must be in \(0, 1\]"),
        ({"init": np.zeros((16, 16, 3), np.uint8), "strength": 1.5}, r"strength must be in \(0, 1\]"),
        ({"init": np.zeros((16, 16, 3), np.uint8), "strength": 0.01, "steps": 10}, "keeps no step"),
        ({"init": [np.zeros((16, 16), np.uint8)] * 2, "n": 3}, "one per image"),
        ({"eta": 2.0}, r"eta must be a number in \[0, 1\]"),
    ],
)
def test_bad_arguments(label_model, kwargs, message):
    args = {"labels": 1, "n": 1, "steps": 2, **kwargs}
    with pytest.raises(InvalidArgument, match=message):
        generate_images(label_model, **args)


# ----------------------------------------------------------------------------- SDEdit


def test_sdedit_strength_one_is_plain_generation_from_the_same_noise(label_model):
    """At strength 1 the init (mid grey, 0 in the model's [-1, 1]) is noised to the first
    timestep: ``sqrt(1 - a_999) * noise`` with ``a_999`` about 4e-5, the plain start up to 2e-5."""
    grey = np.full((16, 16, 3), 0.5, np.float32)
    plain = generate_images(label_model, labels=1, n=2, steps=4, seed=3, dtype=np.float32)
    edited = generate_images(label_model, labels=1, n=2, steps=4, seed=3, init=grey, strength=1.0, dtype=np.float32)
    np.testing.assert_allclose(edited, plain, atol=2e-3)


def test_sdedit_small_strength_stays_close(label_model):
    rng = np.random.default_rng(0)
    photo = rng.random((16, 16, 3), dtype=np.float32)
    distance = {}
    for strength in (0.05, 0.25, 1.0):  # 1, 5 and 20 of 20 steps
        out = generate_images(label_model, labels=0, n=2, steps=20, seed=0, init=photo, strength=strength,
                              dtype=np.float32)
        distance[strength] = float(np.abs(out - photo).mean())
    # an unrelated image of uniform noise is 1/3 away on average; strength 1 forgets the photo
    assert distance[0.05] < 0.1 < 0.25 < distance[1.0]
    assert distance[0.05] < distance[0.25] < distance[1.0]


def test_sdedit_progress_counts_the_kept_steps_and_resizes_with_a_warning(label_model):
    done = []
    big = np.zeros((40, 30), np.uint8)  # grey, another size and aspect
    with pytest.warns(DiffusionWarning, match=r"the init image is 30x40; resized to the model's 16x16"):
        out = generate_images(label_model, labels=0, n=1, steps=10, init=big, strength=0.3,
                              progress=lambda k, total: done.append(total))
    assert out.shape == (1, 16, 16, 3) and set(done) == {3} and len(done) == 3


# ----------------------------------------------------------------------------- RePaint


def image_and_mask(shape=(20, 24, 3), dtype=np.uint8):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    if dtype == np.float32:
        image = (image / 255.0).astype(np.float32)
    mask = np.zeros(shape[:2], bool)
    mask[4:12, 6:18] = True
    return image, mask


@pytest.mark.parametrize("shape, dtype", [((20, 24, 3), np.uint8), ((16, 16, 3), np.float32), ((20, 24), np.uint8),
                                          ((18, 18, 4), np.uint8)])
def test_repaint_keeps_unmasked_pixels_exactly(text_model, shape, dtype):
    image, mask = image_and_mask(shape, dtype)
    out = inpaint_diffusion(text_model, image, mask, prompt="a red circle", steps=3, resample=2, seed=1)
    assert out.shape == image.shape and out.dtype == image.dtype
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert not np.array_equal(out[mask], image[mask])
    again = inpaint_diffusion(text_model, image, mask, prompt="a red circle", steps=3, resample=2, seed=1)
    np.testing.assert_array_equal(out, again)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpm"])
def test_repaint_resamples_each_step(label_model, sampler):
    image, mask = image_and_mask((16, 16, 3))
    rows, handle = count_rows(label_model)
    done = []
    try:
        out = inpaint_diffusion(label_model, image, mask, label=2, steps=3, resample=4, guidance=2.0, sampler=sampler,
                                progress=lambda k, total: done.append((k, total)))
    finally:
        handle.remove()
    assert rows == [2] * 12  # steps x resample guided calls on cond + uncond
    assert done[-1] == (12, 12)
    np.testing.assert_array_equal(out[~mask], image[~mask])


def test_repaint_errors(text_model, uncond_model):
    image, mask = image_and_mask()
    with pytest.raises(InvalidArgument, match="the mask is 10x10 but the image is 24x20"):
        inpaint_diffusion(text_model, image, np.ones((10, 10), bool), steps=2)
    with pytest.raises(InvalidArgument, match="the mask is empty"):
        inpaint_diffusion(text_model, image, np.zeros((20, 24), bool), steps=2)
    with pytest.raises(InvalidArgument, match="resample must be an integer >= 1"):
        inpaint_diffusion(text_model, image, mask, resample=0)
    with pytest.raises(InvalidArgument, match="cannot fill a colour image"):
        inpaint_diffusion(uncond_model, image, mask, steps=2)
    with pytest.raises(InvalidArgument, match="never saw any word"):
        inpaint_diffusion(text_model, image, mask, prompt="zebra", steps=2)


def test_inpaint_task_routes_the_diffusion_method(tmp_path, label_model):
    from atelier.tasks.inpaint import inpaint

    folder = save_run(tmp_path / "run", label_model)
    image, mask = image_and_mask()
    a = inpaint(image, mask, f"diffusion:{folder}", label=1, steps=2, resample=1)
    b = inpaint(image, mask, str(folder), label=1, steps=2, resample=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[~mask], image[~mask])
    with pytest.raises(InvalidArgument, match="options of the diffusion method"):
        inpaint(image, mask, "telea", prompt="a red circle")


# ----------------------------------------------------------------------------- loading


def save_run(folder, model: DiffusionModel):
    save_model(model.net, folder)
    save_scheduler(model.scheduler, folder)
    if model.tokenizer is not None:
        model.tokenizer.save(folder)
    return folder


def test_load_from_a_run_folder_and_cache(tmp_path, text_model):
    clear_cache()
    folder = save_run(tmp_path / "run", text_model)
    loaded = load_diffusion(folder)
    assert loaded is load_diffusion(str(folder))  # cached
    expected = generate_images(text_model, prompts="a blue square", n=2, steps=3, seed=2)
    np.testing.assert_array_equal(generate_images(folder, prompts="a blue square", n=2, steps=3, seed=2), expected)
    (folder / "tokenizer.json").unlink()
    clear_cache()
    with pytest.raises(InvalidArgument, match="text-conditional but has no tokenizer.json"):
        load_diffusion(folder)


def test_a_recipe_guidance_is_the_default_scale(tmp_path, label_model):
    """A run folder's recipe.json "guidance" is the scale used when the caller gives none;
    without one it is 3; a bad one is a load error naming the file."""
    import json

    clear_cache()
    folder = save_run(tmp_path / "run", label_model)
    assert load_diffusion(folder).guidance == 3.0
    (folder / "recipe.json").write_text(json.dumps({"guidance": 1.5}))
    assert load_diffusion(folder).guidance == 1.5  # recipe.json is part of the cache key
    np.testing.assert_array_equal(generate_images(folder, labels=1, n=2, steps=3, seed=1),
                                  generate_images(folder, labels=1, n=2, steps=3, seed=1, guidance=1.5))
    assert not np.array_equal(generate_images(folder, labels=1, n=2, steps=3, seed=1),
                              generate_images(folder, labels=1, n=2, steps=3, seed=1, guidance=3.0))
    (folder / "recipe.json").write_text(json.dumps({"guidance": -1}))
    with pytest.raises(InvalidArgument, match="recipe.json guidance must be a number >= 0"):
        load_diffusion(folder)
    (folder / "recipe.json").write_text("[1, 2]")
    with pytest.raises(InvalidArgument, match="recipe.json is not a JSON object"):
        load_diffusion(folder)
    clear_cache()


def test_a_shipped_name_loads_once_installed(tmp_path, monkeypatch, label_model):
    import shutil

    from atelier import pretrained

    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "weights")
    with pytest.raises(InvalidArgument, match="'diffusion-mnist' is not trained yet"):
        load_diffusion("diffusion-mnist")
    shutil.copytree(save_run(tmp_path / "run", label_model), tmp_path / "weights" / "diffusion-mnist")
    clear_cache()
    np.testing.assert_array_equal(generate_images("diffusion-mnist", labels=2, n=1, steps=2),
                                  generate_images(label_model, labels=2, n=1, steps=2))
    clear_cache()


def test_load_errors(tmp_path, monkeypatch):
    from atelier import pretrained

    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "no-weights")  # an install without them
    clear_cache()
    gan = build_model("dcgan", {"resolution": 16, "width": 8, "latent_dim": 4})
    save_model(gan, tmp_path / "gan")
    with pytest.raises(InvalidArgument, match="holds a dcgan model, not a diffusion model"):
        load_diffusion(tmp_path / "gan")
    with pytest.raises(InvalidArgument, match="no such run folder"):
        load_diffusion(tmp_path / "missing")
    with pytest.raises(InvalidArgument, match=r"not a shipped diffusion model .*; did you mean t2i-emoji\?"):
        load_diffusion("t2i-emojj")
    with pytest.raises(InvalidArgument, match="not trained yet in this install; train it with `atelier train diffusion"):
        load_diffusion("t2i-emoji")
    with pytest.raises(InvalidArgument, match="is a shipped sr model, not a diffusion model"):
        load_diffusion("sr-x2")
    with pytest.raises(InvalidArgument, match="has no noise schedule"):
        load_diffusion(tiny_net("none"))
    net = tiny_net("none")
    save_model(net, tmp_path / "noschedule")
    with pytest.raises(InvalidArgument, match="no scheduler.json"):
        load_diffusion(tmp_path / "noschedule")


def test_no_message_names_a_cli_flag(text_model, label_model, tmp_path, monkeypatch):
    """Messages below the CLI speak of arguments, never of ``--flags``."""
    from atelier import pretrained

    monkeypatch.setattr(pretrained, "WEIGHTS_ROOT", tmp_path / "no-weights")  # t2i-scenes not installed
    clear_cache()
    image, mask = image_and_mask()
    calls = [
        lambda: generate_images(text_model, prompts="", n=1),
        lambda: generate_images(text_model, prompts="zebra", n=1),
        lambda: generate_images(label_model, prompts="a red circle", n=1),
        lambda: generate_images(label_model, labels=1, strength=0.4),
        lambda: generate_images(label_model, labels=1, guidance=-1),
        lambda: generate_images(label_model, labels=1, steps=0),
        lambda: inpaint_diffusion(label_model, image, mask, resample=0),
        lambda: load_diffusion("t2i-scenes"),
    ]
    for call in calls:
        with pytest.raises(InvalidArgument) as info:
            call()
        message = str(info.value).split("`")[0]  # a quoted train command may hold flags
        assert "--" not in message, message
