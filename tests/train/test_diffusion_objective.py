"""Diffusion objective: recipe, one step per condition, condition dropout, Min-SNR weights,
validation, the data and its checks, and training runs (files, exact resume, it learns)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import default_collate

from atelier.data.scenes import ScenesDataset
from atelier.errors import InvalidArgument
from atelier.image import save_image
from atelier.models import build_model, load_model
from atelier.schedulers import load_scheduler
from atelier.tasks.training import load_run_spec, resolve_run, train_run
from atelier.text import CaptionTokenizer
from atelier.train.objectives import make_objective
from atelier.train.objectives.diffusion import DiffusionObjective, PerImage
from tests.train.test_objectives import FakeCtx

TINY = {"resolution": 16, "width": 16, "channel_mults": [1, 2], "attention_resolutions": [8], "res_blocks": 1,
        "heads": 2, "text_dim": 32, "text_layers": 1, "text_heads": 2, "dropout": 0.0}  # fmt: skip
TINY_SETS = [f"{k}={json.dumps(v)}" for k, v in TINY.items()]
RUN_SETS = TINY_SETS + ["batch_size=8", "checkpoint_every=2", "validate_every=2", "log_every=1", "val_images=8",
                        "sample_images=4", "sample_steps=3", "warmup_steps=2", "device=cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def scenes():
    return ScenesDataset(size=16, length=40, split="all")


@pytest.fixture(scope="module")
def tokenizer(scenes):
    return CaptionTokenizer.train(scenes.all_captions())


def _objective(cond="none", hyper=None, tokenizer=None, **config):
    torch.manual_seed(0)
    settings = {**TINY, "channels": 3, "cond": cond, **config}
    if cond == "text":
        settings["vocab_size"] = tokenizer.vocab_size
    obj = make_objective(build_model("diffusion", settings), {"warmup_steps": 0, **(hyper or {})})
    if cond == "text":
        obj.use_tokenizer(tokenizer)
    return obj, FakeCtx(obj.optimizers())


def _batch(scenes, n=8, labels=None):
    items = [scenes[i] for i in range(n)]
    if labels is not None:
        items = [item._replace(label=int(label)) for item, label in zip(items, labels)]
    return default_collate(items)


def test_recipe():
    """AdamW 2e-4 (1e-4 from 64 px), betas (0.9, 0.999), no decay; cosine + v-prediction;
    batch 64, EMA 0.999, condition dropout 0.1, guidance 3 for the grid."""
    obj, _ = _objective()
    h, group = obj.hyper, obj.opt.param_groups[0]
    assert type(obj.opt) is torch.optim.AdamW and group["lr"] == 2e-4 and group["betas"] == (0.9, 0.999)
    assert group["weight_decay"] == 0 and h.batch_size == 64 and h.ema_decay == 0.999 and h.cond_drop == 0.1
    assert (obj.scheduler.config.beta_schedule, obj.scheduler.config.prediction_type) == ("cosine", "v_prediction")
    assert obj.ema_modules() == ("model",) and obj.best_metric is None
    big = make_objective(build_model("diffusion", {**TINY, "resolution": 64, "attention_resolutions": []}))
    assert big.hyper.lr == 1e-4
    spec = resolve_run("diffusion", data="digits", overrides=TINY_SETS)
    assert spec["train"]["batch_size"] == 64 and spec["train"]["ema_decay"] == 0.999


@pytest.mark.parametrize("cond", ["none", "label", "text"])
def test_one_step_per_condition(scenes, tokenizer, cond):
    obj, ctx = _objective(cond, tokenizer=tokenizer, num_classes=3)
    batch = _batch(scenes, labels=[0, 1, 2, 0, 1, 2, 0, 1])
    before = [p.detach().clone() for p in obj.model.parameters()]
    out = obj.step(batch, 0, ctx)
    assert math.isfinite(out["loss"]) and out["loss"] == out["mse"] > 0
    assert ("dropped" in out) == (cond != "none")
    assert any(not torch.equal(a, b) for a, b in zip(before, obj.model.parameters()))


def test_text_layout_head_learns_the_coarse_picture(scenes, tokenizer):
    """text_layout: the step adds the head's regression loss (reported as layout_mse), which
    falls when the head trains on a fixed batch; the model also runs with the head's picture
    as input, and layout_loss ignores dropped rows."""
    obj, ctx = _objective("text", {"cond_drop": 0.0, "sample_guidance": 1.0, "lr": 3e-3}, tokenizer=tokenizer,
                          text_layout=4)
    batch = _batch(scenes)
    first = obj.step(batch, 0, ctx)
    assert first["loss"] > first["mse"] and first["layout_mse"] > 0
    for step in range(1, 30):
        last = obj.step(batch, step, ctx)
    assert last["layout_mse"] < 0.5 * first["layout_mse"]
    x0, layout = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 4, 4)
    both = obj.layout_loss(layout, x0, torch.tensor([False, True]))
    torch.testing.assert_close(both, obj.layout_loss(layout[:1], x0[:1], None))
    torch.testing.assert_close(obj.layout_loss(layout, layout.repeat_interleave(4, 2).repeat_interleave(4, 3), None),
                               torch.tensor(0.0))
    obj.hyper.layout_weight = 0.0
    out = obj.step(batch, 30, ctx)
    assert "layout_mse" not in out and out["loss"] == out["mse"]


def test_condition_dropout_rate(scenes):
    """Rows lose their condition with probability cond_drop (drop flags handed to the model)."""
    seen = []
    obj, ctx = _objective("label", {"cond_drop": 0.3}, num_classes=3)
    obj.model.register_forward_pre_hook(lambda m, args, kwargs: seen.append(kwargs["drop"].clone()), with_kwargs=True)
    batch = (torch.rand(256, 3, 16, 16), torch.randint(0, 3, (256,)))
    out = obj.step(batch, 0, ctx)
    assert abs(seen[0].float().mean().item() - 0.3) < 0.08 and out["dropped"] == seen[0].float().mean().item()
    obj.hyper.cond_drop = 0.0
    obj.step(batch, 1, ctx)
    assert not seen[1].any()


def test_min_snr_weights(scenes):
    """Min-SNR-gamma (Hang et al. 2023, eq. 9) for v-prediction: w = min(snr, 5) / (snr + 1),
    with snr = a / (1 - a) from the cosine alphas_cumprod; the loss is mean(w * mse)."""
    obj, ctx = _objective(hyper={"loss_weighting": "min-snr"})
    x0 = torch.rand(4, 3, 16, 16) * 2 - 1
    noise = torch.randn(4, 3, 16, 16)
    t = torch.tensor([0, 100, 500, 999])
    mse, weight = obj.loss_terms(obj.model, x0, noise, t, {}, None)[:2]
    a = obj.scheduler.alphas_cumprod[t]
    snr = a / (1 - a)
    expected = torch.minimum(snr, torch.tensor(5.0, dtype=torch.float64)) / (snr + 1)
    assert torch.allclose(weight.double(), expected, rtol=1e-5)
    # both ends weigh little in the v loss: clean steps by the clip, pure noise by snr -> 0
    assert weight[0] < 0.01 and weight[-1] < 0.01 and weight.argmax() == 2
    out = obj.step(_batch(scenes), 0, ctx)
    assert out["loss"] < out["mse"]
    plain, _ = _objective(hyper={"loss_weighting": "none"})
    assert torch.equal(plain.loss_terms(plain.model, x0, noise, t, {}, None)[1], torch.ones(4))


def test_a_random_caption_of_each_image(tmp_path):
    """Captioned data is read one item per image; each step takes one of its captions."""
    for name in ("a", "b"):
        save_image(tmp_path / f"{name}.png", np.full((20, 20, 4), 200, np.uint8))
    lines = [{"file_name": "a.png", "text": ["red cat", "blue dog"]}, {"file_name": "b.png", "text": "green owl"}]
    (tmp_path / "metadata.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    spec = resolve_run("diffusion", data=str(tmp_path), overrides=TINY_SETS + ["data.train_split=all",
                                                                               "data.val_split=none"])
    assert spec["model_config"]["cond"] == "text"
    setup = DiffusionObjective.prepare_run(spec)
    assert isinstance(setup.train, PerImage) and len(setup.train) == 2 and setup.val is None
    obj, ctx = _objective("text", tokenizer=setup.tokenizer)
    obj.use_setup(setup)
    batch = default_collate([setup.train[0], setup.train[1]])
    picked = set()
    for _ in range(12):
        tokens = obj._condition(batch, 2, torch.device("cpu"), ctx.generator)["tokens"]
        texts = setup.tokenizer.decode_batch(tokens)
        assert texts[0] in ("red cat", "blue dog") and texts[1] == "green owl"
        picked.add(texts[0])
    assert picked == {"red cat", "blue dog"}
    assert float(batch[0].min()) > 0.7  # transparent emoji-like images composited on white


def test_validation_is_deterministic_and_draws_a_grid(scenes, tokenizer):
    obj, _ = _objective("text", {"val_images": 6, "sample_images": 3, "sample_steps": 2}, tokenizer=tokenizer)
    obj.use_validation(PerImage(scenes))
    model = obj.model.eval()
    with torch.no_grad():
        first = obj.validate({"model": model})
        grid = obj.take_samples()
        again = obj.validate({"model": model})
    assert first == again and set(first) == {"val_loss", "val_x0_mse"}
    assert grid.shape == (3, 3, 16, 16) and 0 <= float(grid.min()) <= float(grid.max()) <= 1
    assert torch.equal(grid, obj.take_samples()) and obj.take_samples() is None
    assert obj.sample_conditions()["prompts"] == [scenes[i].text for i in range(3)]


def test_complete_model_config_follows_the_data(tmp_path):
    assert resolve_run("diffusion", data="scenes", overrides=TINY_SETS)["model_config"]["cond"] == "text"
    digits = resolve_run("diffusion", data="digits", overrides=TINY_SETS)["model_config"]
    assert (digits["cond"], digits["channels"], digits["num_classes"]) == ("label", 1, 10)
    for i in range(3):
        save_image(tmp_path / f"{i}.png", np.zeros((20, 20, 3), np.uint8))
    plain = resolve_run("diffusion", data=str(tmp_path), overrides=TINY_SETS)["model_config"]
    assert (plain["cond"], plain["channels"]) == ("none", 3)
    chosen = resolve_run("diffusion", data="scenes", overrides=TINY_SETS + ["cond=none", "channels=1"])
    assert (chosen["model_config"]["cond"], chosen["model_config"]["channels"]) == ("none", 1)


@pytest.mark.parametrize(
    "data, sets, match",
    [
        ("digits", ["cond=text"], "cond=text trains on captions, but digits has none"),
        ("scenes", ["cond=label"], "cond=label trains on class labels, but scenes has none"),
        ("digits", ["cond=label", "num_classes=4"], "num_classes=10"),
        ("digits", ["data.train_split=train"], "select items with data.split"),
    ],
)
def test_data_that_cannot_give_the_condition(data, sets, match):
    spec = resolve_run("diffusion", data=data, overrides=TINY_SETS + ["data.length=20"] * (data == "scenes") + sets)
    with pytest.raises(InvalidArgument, match=match):
        DiffusionObjective.prepare_run(spec)


@pytest.mark.parametrize(
    "sets, match",
    [
        (["cond_drop=1"], r"hyper.cond_drop must be .*\[0, 1\)"),
        (["sample_guidance=-1"], "hyper.sample_guidance"),
        (["sample_steps=0"], "hyper.sample_steps"),
        (["loss_weighting=snr"], "loss_weighting"),
        (["prediction_type=x0"], "prediction_type"),
        (["layout_weight=-1"], "hyper.layout_weight"),
    ],
)
def test_hyper_errors(sets, match):
    with pytest.raises(InvalidArgument, match=match):
        resolve_run("diffusion", data="digits", overrides=TINY_SETS + sets)


def test_guidance_needs_a_trained_null_condition():
    with pytest.raises(InvalidArgument, match="cond_drop > 0"):
        _objective("label", {"cond_drop": 0.0})
    _objective("label", {"cond_drop": 0.0, "sample_guidance": 1.0})
    _objective("none", {"cond_drop": 0.0})


def test_48px_data():
    spec = resolve_run("diffusion", data="scenes", overrides=TINY_SETS + ["resolution=48", "attention_resolutions=[]", "data.length=30"])
    setup = DiffusionObjective.prepare_run(spec)
    assert setup.train[0].image.shape == (3, 48, 48)


def _weights(path):
    return load_file(str(path / "model.safetensors"))


def test_run_files_and_exact_resume(tmp_path):
    """A text run leaves model + scheduler.json + tokenizer.json + a sample grid; the model
    is the EMA; 2 steps, then --resume to 4, is bit-identical to 4 steps."""
    sets = RUN_SETS + ["data.length=120", "sample_guidance=2"]
    straight = train_run(resolve_run("diffusion", data="scenes", overrides=sets + ["steps=4"]), tmp_path / "a")
    names = {p.name for p in straight.iterdir()}
    assert {"model.json", "model.safetensors", "scheduler.json", "tokenizer.json", "config.json"} <= names
    assert sorted(p.name for p in (straight / "samples").iterdir()) == [
        "prompts.txt", "step-00000002.png", "step-00000004.png"]
    val = ScenesDataset(size=16, length=120, split="val")
    prompts = (straight / "samples" / "prompts.txt").read_text().splitlines()
    assert prompts == [val.captions(int(i))[0] for i in val.image_ids[:4]]
    scheduler = load_scheduler(straight)
    assert (scheduler.name, scheduler.config.beta_schedule, scheduler.config.prediction_type) == (
        "ddpm", "cosine", "v_prediction")
    tokenizer = CaptionTokenizer.load(straight)
    model = load_model(straight)
    assert model.config.cond == "text" and model.config.vocab_size == tokenizer.vocab_size
    state = torch.load(straight / "checkpoints" / "step-00000004.pt", weights_only=True)
    ema = state["ema"]["model"]["module"]
    assert all(torch.equal(v, ema[k]) for k, v in _weights(straight).items())
    assert any(not torch.equal(v, state["modules"]["model"][k]) for k, v in ema.items())

    half = train_run(resolve_run("diffusion", data="scenes", overrides=sets + ["steps=2"]), tmp_path / "b")
    resumed = train_run(resolve_run("diffusion", data="scenes", overrides=["steps=4"], base=load_run_spec(half)), half)
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    log_a = [json.loads(line) for line in (straight / "log.jsonl").read_text().splitlines()]
    log_b = [json.loads(line) for line in (resumed / "log.jsonl").read_text().splitlines()]
    strip = lambda log: [{k: v for k, v in r.items() if k != "images_per_s"} for r in log]  # noqa: E731
    assert strip(log_a) == strip(log_b)
    assert (straight / "samples" / "step-00000004.png").read_bytes() == (resumed / "samples" / "step-00000004.png").read_bytes()
    # the noise schedule is the run's: it cannot change when the run continues
    moved = resolve_run("diffusion", data="scenes", overrides=["steps=6", "prediction_type=epsilon"],
                        base=load_run_spec(half))
    with pytest.raises(InvalidArgument, match="prediction_type is 'epsilon' but the run was trained with 'v_prediction'"):
        train_run(moved, half)


def test_loss_falls_on_a_tiny_fixed_set():
    """40 steps on 8 fixed grey images: the deterministic validation loss on those images
    drops well below its starting value (that of the zero-initialised output)."""
    torch.manual_seed(0)
    data = ScenesDataset(size=16, length=8, split="all", channels=1)
    items = [data[i] for i in range(8)]
    obj, ctx = _objective(hyper={"lr": 2e-3, "val_images": 8, "sample_images": 0}, channels=1)
    obj.use_validation(items)
    batch = default_collate(items)
    with torch.no_grad():
        start = obj.validate({"model": obj.model.eval()})["val_loss"]
    for step in range(40):
        obj.model.train()
        obj.step(batch, step, ctx)
    with torch.no_grad():
        end = obj.validate({"model": obj.model.eval()})["val_loss"]
    assert end < 0.6 * start, (start, end)
