"""Captioner objective: recipe, steps, feature cache, phases, validation and a training run."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import default_collate

from atelier.data.scenes import ScenesDataset
from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model
from atelier.models.caption_decode import greedy
from atelier.tasks.training import resolve_run, train_run
from atelier.text import CaptionTokenizer, normalize
from atelier.train.objectives import make_objective
from atelier.train.objectives.caption import CaptionObjective, FeatureCache
from tests.train.test_objectives import FakeCtx

TINY = {"pretrained": False, "image_size": 64, "d_model": 32, "layers": 1, "heads": 2, "max_length": 32,
        "dropout": 0.0}  # fmt: skip


@pytest.fixture(scope="module")
def scenes():
    return ScenesDataset(size=32, length=40, split="all")


@pytest.fixture(scope="module")
def batch(scenes):
    """4 scenes: (images, labels, texts, image_ids), as the DataLoader collates them."""
    return default_collate([scenes[i] for i in range(4)])


@pytest.fixture(scope="module")
def tokenizer(scenes):
    return CaptionTokenizer.train(scenes.all_captions())


def _objective(tokenizer, hyper=None, **config):
    torch.manual_seed(0)
    model = build_model("captioner", {**TINY, "vocab_size": tokenizer.vocab_size, **config})
    obj = make_objective(model, {"warmup_steps": 0, "label_smoothing": 0.0, **(hyper or {})})
    obj.use_tokenizer(tokenizer)
    return obj, FakeCtx(obj.optimizers())


def test_recipe_and_groups(tokenizer):
    """AdamW with nanoGPT's decay split; the fine-tuned blocks in their own groups at
    ``encoder_lr_scale`` times the rate, at rate 0 until ``freeze_encoder_steps``."""
    obj, _ = _objective(tokenizer, {"lr": 1e-3, "warmup_steps": 10, "freeze_encoder_steps": 20}, finetune_blocks=1)
    groups = obj.opt.param_groups
    assert type(obj.opt).__name__ == "AdamW" and obj.hyper.betas == (0.9, 0.98)
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0, 0.01, 0.0]
    tuned = {id(p) for p in obj.model.finetune_parameters()}
    assert {id(p) for g in groups[2:] for p in g["params"]} == tuned
    assert obj.lr_factor(0) == pytest.approx(0.1) and obj.lr_factor(9) == 1.0
    assert obj.encoder_lr_factor(19) == 0.0 and obj.encoder_lr_factor(20) == pytest.approx(0.1)
    obj.setup(type("Cfg", (), {"steps": 110})())
    assert obj.lr_factor(110) == pytest.approx(0.1)  # the cosine ends at min_lr_ratio
    frozen, _ = _objective(tokenizer, finetune_blocks=0)
    assert len(frozen.opt.param_groups) == 2


@pytest.mark.parametrize(
    "bad, match",
    [({"label_smoothing": 1.0}, "label_smoothing"), ({"encoder_lr_scale": 0}, "encoder_lr_scale"),
     ({"feature_cache_mb": -1}, "feature_cache_mb"), ({"tokenizer": "char"}, "'word', 'bpe'"),
     ({"warmup_steps": -1}, "warmup_steps")],
)  # fmt: skip
def test_hyper_errors(tokenizer, bad, match):
    with pytest.raises(InvalidArgument, match=match):
        _objective(tokenizer, bad)


def test_needs_a_matching_tokenizer_and_captioned_batches(tokenizer, batch):
    model = build_model("captioner", {**TINY, "vocab_size": tokenizer.vocab_size + 1})
    obj = make_objective(model)
    with pytest.raises(InvalidArgument, match="vocab_size"):
        obj.use_tokenizer(tokenizer)
    ctx = FakeCtx(obj.optimizers())
    with pytest.raises(InvalidArgument, match="use_tokenizer"):
        obj.step(batch, 0, ctx)
    obj, ctx = _objective(tokenizer)
    with pytest.raises(InvalidArgument, match="CaptionedItem"):
        obj.step((batch[0], batch[1]), 0, ctx)


@pytest.mark.parametrize("decoder, steps, lr", [("transformer", 60, 3e-3), ("lstm", 80, 1e-2)])
def test_overfits_four_images(tokenizer, batch, decoder, steps, lr):
    """A few dozen steps on one batch of 4 scenes: the loss falls by an order of magnitude
    and greedy decoding gives back every caption (normalised: no commas)."""
    obj, ctx = _objective(tokenizer, {"lr": lr, "attention_weight": 0.0}, decoder=decoder)
    first = obj.step(batch, 0, ctx)
    for step in range(1, steps):
        last = obj.step(batch, step, ctx)
    assert last["token_loss"] < first["token_loss"] / 8 and last["token_acc"] > 0.95
    assert last["cached"] == 1.0  # the frozen trunk ran once per image
    obj.model.eval()
    hyps = greedy(obj.model, obj.model.encode(batch[0]))
    assert [tokenizer.decode(h[0].tokens) for h in hyps] == [normalize(t) for t in batch[2]]


def test_lstm_reports_its_attention_regulariser(tokenizer, batch):
    obj, ctx = _objective(tokenizer, {"attention_weight": 0.5}, decoder="lstm")
    out = obj.step(batch, 0, ctx)
    assert out["loss"] == pytest.approx(out["token_loss"] + 0.5 * out["attention_reg"], rel=1e-5)
    plain, ctx = _objective(tokenizer)
    assert "attention_reg" not in plain.step(batch, 0, ctx)


def test_label_smoothing_is_trained_but_token_loss_is_plain(tokenizer, batch):
    smooth, ctx = _objective(tokenizer, {"label_smoothing": 0.2, "lr": 1e-12})
    plain, ctx2 = _objective(tokenizer, {"lr": 1e-12})
    a, b = smooth.step(batch, 0, ctx), plain.step(batch, 0, ctx2)
    assert a["token_loss"] == pytest.approx(b["token_loss"], rel=1e-5) and a["loss"] != pytest.approx(b["loss"])


# --- the feature cache ----------------------------------------------------------------------


def test_cache_gives_the_same_loss(tokenizer, batch):
    """Same weights, same batch: the loss with cached trunk features equals the loss with
    the trunk run again (a second batch order hits the cache)."""
    losses = {}
    for mb in (64, 0):
        obj, ctx = _objective(tokenizer, {"feature_cache_mb": mb, "lr": 1e-12})
        obj.step(batch, 0, ctx)  # fills the cache
        flipped = type(batch)(*(x.flip(0) if torch.is_tensor(x) else x[::-1] for x in batch))
        losses[mb] = obj.step(flipped, 1, ctx)
    assert losses[64]["cached"] == 1.0 and "cached" not in losses[0]
    assert losses[64]["token_loss"] == pytest.approx(losses[0]["token_loss"], rel=1e-5, abs=1e-6)


def test_cache_moves_to_the_frozen_prefix_when_blocks_unfreeze(tokenizer, batch):
    obj, ctx = _objective(tokenizer, {"freeze_encoder_steps": 2, "lr": 1e-3}, finetune_blocks=2)
    encoder = obj.model.encoder
    first_block, tuned = encoder.blocks[0]._project_conv.weight.clone(), encoder.blocks[-1]._project_conv.weight.clone()

    def step(i):  # as the Trainer does: the objective's step, then its scheduler's
        out = obj.step(batch, i, ctx)
        obj.sched.step()
        return out

    step(0), step(1)
    assert obj.cache.boundary == encoder.num_blocks and not any(p.requires_grad for p in encoder.parameters())
    assert torch.equal(encoder.blocks[-1]._project_conv.weight, tuned)
    out = step(2)
    assert out["cached"] == 0.0 and obj.cache.boundary == encoder.num_blocks - 2  # emptied, refilled
    assert encoder.blocks[-1]._project_conv.weight.requires_grad
    assert not torch.equal(encoder.blocks[-1]._project_conv.weight, tuned)  # fine-tuned
    assert torch.equal(encoder.blocks[0]._project_conv.weight, first_block)  # still frozen
    assert step(3)["cached"] == 1.0


def test_cache_is_bounded_and_checks_the_pixels():
    cache = FeatureCache(max_bytes=2 * 4 * 16)  # room for two 4 x 4 float32 features
    images, compute = torch.rand(3, 1, 4, 4), lambda x: x[:, 0] * 2
    out = cache.get(torch.tensor([0, 1, 2]), images, 5, compute)
    assert torch.equal(out, images[:, 0] * 2) and len(cache) == 2 and cache.bytes == 128
    again = cache.get(torch.tensor([2, 1]), images[[2, 1]], 5, compute)
    assert torch.equal(again, images[[2, 1], 0] * 2) and cache.hits == 1
    with pytest.raises(InvalidArgument, match="feature_cache_mb=0"):
        cache.get(torch.tensor([0]), torch.rand(1, 1, 4, 4), 5, compute)
    cache.get(torch.tensor([0]), torch.rand(1, 1, 4, 4), 6, compute)  # a new prefix: emptied
    assert len(cache) == 1 and cache.boundary == 6


# --- validation and the training task ------------------------------------------------------


def test_validate(tokenizer, scenes):
    obj, _ = _objective(tokenizer, {"val_images": 3})
    obj.use_validation(scenes)
    metrics = obj.validate({"model": obj.model.eval()})
    assert set(metrics) == {"val_loss", "val_bleu_4", "val_cider_d", "val_exact"}
    assert metrics["val_loss"] > 0 and 0 <= metrics["val_exact"] <= 1
    assert len(obj._validation_images()) == 3
    obj.use_validation(None)
    assert obj.validate({"model": obj.model}) == {}


def test_training_run_trains_the_tokenizer_and_resumes(tmp_path):
    """``train_run`` prepares the run (datasets, tokenizer, vocab_size) before the model,
    writes tokenizer.json beside model.json, exports a loadable model, and a resumed run
    keeps its tokenizer."""
    sets = ["pretrained=false", "image_size=64", "d_model=32", "layers=1", "heads=2", "finetune_blocks=1",
            "data.length=60", "data.size=32", "steps=4", "batch_size=8", "checkpoint_every=2",
            "log_every=2", "freeze_encoder_steps=2", "warmup_steps=1", "val_images=4"]  # fmt: skip
    spec = resolve_run("captioner", data="scenes", overrides=sets)
    run = train_run(spec, tmp_path / "run")
    stored = json.loads((run / "config.json").read_text())
    tokenizer = CaptionTokenizer.load(run)
    assert stored["model_config"]["vocab_size"] == tokenizer.vocab_size < 100
    model = load_model(run)
    assert model.config.vocab_size == tokenizer.vocab_size
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any("val_cider_d" in r for r in records) and records[-1]["step"] == 4
    before = (run / "tokenizer.json").read_bytes()
    spec["train"]["steps"] = 6
    train_run(spec, run)
    assert (run / "tokenizer.json").read_bytes() == before
    assert json.loads((run / "log.jsonl").read_text().splitlines()[-1])["step"] == 6


def test_training_run_refuses_data_without_captions(tmp_path):
    spec = resolve_run("captioner", data="shapes", overrides=["pretrained=false", "image_size=64", "data.size=32"])
    with pytest.raises(InvalidArgument, match="no captions"):
        train_run(spec, tmp_path / "run")


def test_prepare_run_reuses_the_init_from_tokenizer(tmp_path, tokenizer):
    source = tmp_path / "source"
    tokenizer.save(source)
    spec = resolve_run("captioner", data="scenes", overrides=["data.length=20", "data.size=32"])
    spec["fine_tune"]["init_from"] = str(source)
    setup = CaptionObjective.prepare_run(spec, tmp_path / "new")
    assert setup.tokenizer.vocab_size == tokenizer.vocab_size == spec["model_config"]["vocab_size"]
    assert setup.val is not None and len(setup.train) > len(setup.val)


def test_resume_across_the_unfreeze_is_exact(tmp_path):
    """A run cut after step 3 (its later checkpoints and export removed, as a kill would
    leave it) and resumed to 6 gives the uninterrupted run's weights: the cut falls in the
    frozen phase (feature cache warm), the resumed part crosses the encoder's unfreeze at
    step 4 (cache emptied, encoder blocks join the optimizer). (A 3-step run extended to 6
    is another run: the cosine schedule follows the total steps.)"""
    import shutil

    from safetensors.torch import load_file

    from atelier.tasks.training import load_run_spec

    sets = ["pretrained=false", "image_size=64", "d_model=32", "layers=1", "heads=2", "finetune_blocks=1",
            "data.length=60", "data.size=32", "batch_size=8", "checkpoint_every=1", "log_every=1",
            "keep_checkpoints=10", "freeze_encoder_steps=4", "warmup_steps=1", "val_images=4",
            "validate_every=3", "steps=6"]  # fmt: skip
    straight = train_run(resolve_run("captioner", data="scenes", overrides=sets), tmp_path / "a")
    cut = tmp_path / "cut"
    shutil.copytree(straight, cut)
    for step in (4, 5, 6):
        (cut / "checkpoints" / f"step-{step:08d}.pt").unlink()
    (cut / "model.safetensors").unlink()
    resumed = train_run(resolve_run("captioner", data="scenes", overrides=[], base=load_run_spec(cut)), cut)
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    last = lambda path: torch.load(path / "checkpoints" / "step-00000006.pt", weights_only=True)["modules"]["model"]  # noqa: E731
    before, after = last(straight), last(resumed)
    assert all(torch.equal(before[k], after[k]) for k in before)
