"""Projected GAN discriminators (atelier.models.projected_d, atelier.nets.projected) and
DiffAugment (atelier.train.diffaugment): shapes, what is frozen and saved, the recipe, and a
Trainer run that resumes exactly."""

from __future__ import annotations

import pytest
import torch

from atelier.data import make_dataset
from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model, save_model
from atelier.nets.projected import ProjectedFeatures
from atelier.train import TrainConfig, Trainer
from atelier.train.diffaugment import check_policy, diff_augment
from atelier.train.objectives import make_objective
from atelier.train.objectives.gan import PROJECTED_RECIPE
from tests.train.test_objectives import FakeCtx, _batch, _changed, _snapshot

SMALL = {"resolution": 16, "width": 8, "latent_dim": 8, "discriminator": "projected", "projected_width": 4}


# --------------------------------------------------------------------------- DiffAugment


def test_diff_augment_is_seeded_differentiable_and_per_image():
    x = torch.rand(6, 3, 16, 16, requires_grad=True)
    a = diff_augment(x, "color,translation,cutout", generator=torch.Generator().manual_seed(3))
    b = diff_augment(x, "color,translation,cutout", generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # each image has its own draw: the brightness shift differs across the batch
    same = torch.full((6, 1, 8, 8), 0.5)
    shifted = diff_augment(same, "color", generator=torch.Generator().manual_seed(0))
    assert shifted.flatten(1).mean(1).unique().numel() == 6


def test_cutout_blanks_a_square_of_half_the_side_to_mid_grey():
    x = torch.ones(32, 1, 16, 16)
    out = diff_augment(x, "cutout", generator=torch.Generator().manual_seed(1))
    blank = (out == 0.5).flatten(1).sum(1)  # zero in [-1, 1] is mid-grey in [0, 1]
    assert int(blank.max()) == 64 and int(blank.min()) >= 16  # an 8x8 square, clipped at borders
    assert set(out.unique().tolist()) <= {0.5, 1.0}


def test_translation_moves_content_and_pads_with_grey():
    x = torch.zeros(16, 1, 16, 16)
    x[:, :, 8, 8] = 1.0  # one white pixel
    out = diff_augment(x, "translation", generator=torch.Generator().manual_seed(2))
    peaks = [divmod(int(o.argmax()), 16) for o in out[:, 0]]
    assert all(abs(r - 8) <= 2 and abs(c - 8) <= 2 for r, c in peaks)  # shift <= 1/8 of 16
    assert len(set(peaks)) > 1


def test_policy_names_are_checked():
    assert check_policy(" color , cutout ") == ("color", "cutout")
    assert diff_augment(x := torch.rand(1, 1, 8, 8), "") is x
    with pytest.raises(InvalidArgument, match="unknown DiffAugment policy 'flip'"):
        check_policy("color,flip")


# --------------------------------------------------------------------------- features


@pytest.mark.parametrize("size, sides", [(32, [16, 8, 4, 2]), (64, [32, 16, 8, 4])])
def test_projected_features_shapes_and_gradient(size, sides):
    proj = ProjectedFeatures(size)
    x = torch.rand(2, 1, 16, 16, requires_grad=True)
    maps = proj(x)
    assert [tuple(m.shape[1:]) for m in maps] == [(c, s, s) for c, s in zip((64, 64, 128, 256), sides)]
    sum(m.mean() for m in maps).backward()
    assert x.grad.abs().sum() > 0  # the generator learns through the frozen network
    assert not any(p.requires_grad for p in proj.parameters())


def test_mixing_is_fixed_saved_and_leaves_the_random_state_alone():
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a, b = ProjectedFeatures(32), ProjectedFeatures(32)
    assert torch.equal(torch.rand(1), before)  # drawing the mixing did not consume the caller's RNG
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    # only the random mixing layers are saved, never the ImageNet network
    assert sum(v.numel() for v in sa.values()) < 400_000
    assert all(k.startswith(("ccm.", "csm.")) for k in sa)


# --------------------------------------------------------------------------- the families


@pytest.mark.parametrize("name", ["dcgan", "cgan"])
def test_projected_gan_step_trains_generator_and_small_discriminators(name):
    torch.manual_seed(0)
    model = build_model(name, {**SMALL, "loss": "hinge"})
    obj = make_objective(model)
    assert obj.hyper.augment == PROJECTED_RECIPE["augment"] and obj.hyper.betas == (0.5, 0.999)
    mixing = {k: v.clone() for k, v in model.discriminator.features_net.state_dict().items()}
    ctx = FakeCtx(obj.optimizers())
    g, d = _snapshot(model.generator), _snapshot(model.discriminator)
    losses = {}
    for step in range(2):
        losses = obj.step(_batch(seed=step), step, ctx)
    assert {"d_loss", "g_loss"} <= set(losses) and all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    trainable = {k for k, p in model.discriminator.named_parameters() if p.requires_grad}
    assert _changed(g, model.generator) == set(g)
    assert _changed(d, model.discriminator) == trainable
    after = model.discriminator.features_net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in mixing.items())


def test_conv_plus_projected_trains_both_discriminators_weighed_equally():
    torch.manual_seed(0)
    model = build_model("dcgan", {**SMALL, "loss": "hinge", "discriminator": "conv+projected"})
    D = model.discriminator.eval()  # fixed BatchNorm statistics and spectral norms
    x = torch.rand(3, 1, 16, 16)
    logits = D(x)
    k = logits.shape[1] // 2
    assert torch.equal(logits[:, :k], D.conv(x)[:, None].expand(3, k))  # one logit, repeated
    assert torch.allclose(logits[:, k:], D.projected(x))
    D.train()
    obj = make_objective(model)
    assert obj.hyper.augment == PROJECTED_RECIPE["augment"]
    ctx = FakeCtx(obj.optimizers())
    d = _snapshot(D)
    for step in range(2):
        losses = obj.step(_batch(seed=step), step, ctx)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    changed = _changed(d, D)
    assert any(k.startswith("conv.") for k in changed) and any(k.startswith("projected.discs.") for k in changed)
    assert not any(".features_net." in k for k in changed)


def test_text_gan_takes_the_projected_discriminator():
    model = build_model("text-gan", {"resolution": 16, "width": 8, "latent_dim": 8, "discriminator": "projected",
                                     "projected_width": 4, "vocab_size": 50, "text_dim": 16, "text_layers": 1})
    tokens = torch.randint(5, 50, (3, 6))
    h = model.discriminator.features(torch.rand(3, 3, 16, 16))
    e = model.discriminator.embed(tokens)
    logits = model.discriminator.score(h, e)
    assert logits.shape[0] == 3
    assert not torch.allclose(model.discriminator.score(h, e.flip(0)), logits)  # the caption counts
    assert make_objective(model).hyper.augment == PROJECTED_RECIPE["augment"]


def test_saved_projected_gan_holds_no_imagenet_weights(tmp_path):
    model = build_model("dcgan", SMALL)
    save_model(model, tmp_path)
    size = (tmp_path / "model.safetensors").stat().st_size
    assert size < 3_000_000, size  # EfficientNet-Lite0 alone is 18 MB
    loaded = load_model(tmp_path)
    x = torch.rand(2, 1, 16, 16)
    model.eval()
    assert torch.allclose(loaded.discriminator(x), model.discriminator(x))


def test_freeze_d_is_refused_with_the_projected_discriminator():
    with pytest.raises(InvalidArgument, match="projected discriminator"):
        make_objective(build_model("dcgan", SMALL), freeze_d=1)


def test_bad_projected_settings_name_the_field():
    with pytest.raises(InvalidArgument, match="projected_size"):
        build_model("dcgan", {**SMALL, "projected_size": 48})
    with pytest.raises(InvalidArgument, match="discriminator"):
        build_model("dcgan", {**SMALL, "discriminator": "huge"})


@pytest.fixture(scope="module")
def digits16():
    return make_dataset("digits", size=16, split=(0, 64))


def test_projected_gan_run_resumes_exactly(digits16, tmp_path):
    cfg = dict(steps=4, batch_size=8, ema_decay=0.9, log_every=2, checkpoint_every=2)

    def trainer(folder):
        torch.manual_seed(0)
        return Trainer(make_objective(build_model("dcgan", {**SMALL, "loss": "hinge"})), digits16,
                       TrainConfig(**cfg), tmp_path / folder)

    straight = trainer("a")
    straight.fit()
    first = trainer("b")
    first.fit(stop_after=2)
    resumed = trainer("b")
    resumed.fit()
    for name in ("generator", "discriminator"):
        a, b = straight.modules[name].state_dict(), resumed.modules[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
