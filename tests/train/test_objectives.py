"""Tests of the model-family objectives (atelier.train.objectives): one step per family and
GAN loss, freezing, lr scaling, export with EMA, and short Trainer runs that must learn."""

from __future__ import annotations

import pytest
import torch

from atelier.data import make_dataset
from atelier.errors import InvalidArgument, UnknownName
from atelier.models import build_model
from atelier.train import EMA, TrainConfig, Trainer
from atelier.train.objectives import (
    GAN_RECIPES,
    VAEObjective,
    get_objective,
    hyper_from_dict,
    make_objective,
)
from atelier.train.objectives.freeze import discriminator_blocks


class FakeCtx:
    """The StepContext surface an objective uses, without a Trainer."""

    def __init__(self, optimizers, seed=0):
        self.optimizers = optimizers
        self.device = torch.device("cpu")
        self.generator = torch.Generator().manual_seed(seed)

    def autocast(self):
        import contextlib

        return contextlib.nullcontext()

    def optimize(self, name, loss):
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _batch(n=8, channels=1, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, 16, 16, generator=g), torch.randint(0, classes, (n,), generator=g)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before, module):
    return {k for k, v in module.named_parameters() if not torch.equal(before[k], v.detach())}


def _run(objective, steps=2):
    ctx = FakeCtx(objective.optimizers())
    befores = {k: _snapshot(m) for k, m in objective.modules().items()}
    losses = {}
    for step in range(steps):
        losses = objective.step(_batch(seed=step), step, ctx)
    return losses, befores


MODEL = {"resolution": 16, "width": 8, "latent_dim": 8}


@pytest.mark.parametrize("name", ["dcgan", "cgan"])
@pytest.mark.parametrize("loss", ["nonsaturating", "hinge", "wgan-gp"])
def test_gan_step_updates_both_networks(name, loss):
    torch.manual_seed(0)
    model = build_model(name, {**MODEL, "loss": loss})
    obj = make_objective(model)
    assert obj.hyper == type(obj).default_hyper(model.config)  # the cGAN adds mode seeking
    assert (obj.hyper.lr_g, obj.hyper.betas, obj.hyper.n_critic) == (
        GAN_RECIPES[loss].lr_g, GAN_RECIPES[loss].betas, GAN_RECIPES[loss].n_critic
    )
    losses, before = _run(obj, steps=2)
    assert {"d_loss", "g_loss"} <= set(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses
    assert ("gp" in losses) == (loss == "wgan-gp")
    # Every parameter of both networks moved (n_critic 5: G still steps at step 0).
    assert _changed(before["generator"], model.generator) == set(before["generator"])
    assert _changed(before["discriminator"], model.discriminator) == set(before["discriminator"])


def test_recipes_follow_the_papers():
    """Radford et al. 2015 (DCGAN); Gulrajani et al. 2017 Alg. 1; Miyato et al. 2018 Table 1 setting C (hinge + SN)."""
    ns, hinge, wgan = GAN_RECIPES["nonsaturating"], GAN_RECIPES["hinge"], GAN_RECIPES["wgan-gp"]
    assert (ns.lr_g, ns.lr_d, ns.betas, ns.batch_size) == (2e-4, 2e-4, (0.5, 0.999), 64)
    assert (wgan.lr_g, wgan.betas, wgan.n_critic, wgan.gp_weight) == (1e-4, (0.0, 0.9), 5, 10.0)
    assert (hinge.lr_d, hinge.lr_g, hinge.betas, hinge.n_critic) == (2e-4, 2e-4, (0.5, 0.999), 1)
    opt = make_objective(build_model("dcgan", MODEL)).optimizers()["generator"]
    assert opt.param_groups[0]["betas"] == (0.5, 0.999) and opt.param_groups[0]["lr"] == 2e-4


def test_wgan_gp_alternates_generator_steps():
    """n_critic = 3: D moves every step, G only on steps 0 and 3."""
    torch.manual_seed(0)
    model = build_model("dcgan", {**MODEL, "loss": "wgan-gp"})
    obj = make_objective(model, {"n_critic": 3})
    ctx = FakeCtx(obj.optimizers())
    moved = []
    for step in range(4):
        g, d = _snapshot(model.generator), _snapshot(model.discriminator)
        obj.step(_batch(seed=step), step, ctx)
        moved.append((bool(_changed(g, model.generator)), bool(_changed(d, model.discriminator))))
    assert moved == [(True, True), (False, True), (False, True), (True, True)]


def test_gan_reports_no_generator_loss_before_its_first_step():
    """A resume at a critic-only step has no generator figure yet: the record leaves it out
    (it used to be NaN, which made log.jsonl invalid JSON); once G steps it is reported."""
    torch.manual_seed(0)
    model = build_model("dcgan", {**MODEL, "loss": "wgan-gp"})
    obj = make_objective(model, {"n_critic": 3})
    ctx = FakeCtx(obj.optimizers())
    assert "g_loss" not in obj.step(_batch(), 1, ctx)  # step 1 % 3: discriminator only
    assert "g_loss" in obj.step(_batch(), 3, ctx)
    assert "g_loss" in obj.step(_batch(), 4, ctx)  # the last G figure is carried


@pytest.mark.parametrize("name", ["vae", "cvae"])
def test_vae_step(name):
    torch.manual_seed(0)
    model = build_model(name, MODEL)
    obj = make_objective(model)
    assert obj.ema_modules() == () and list(obj.modules()) == ["model"]
    losses, before = _run(obj)
    assert set(losses) == {"recon", "kl", "total"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert losses["total"] == pytest.approx(losses["recon"] + losses["kl"], rel=1e-5)
    assert _changed(before["model"], model) == set(before["model"])


def test_vaegan_step_and_gradient_routing():
    torch.manual_seed(0)
    model = build_model("vaegan", MODEL)
    obj = make_objective(model)
    losses, before = _run(obj)
    assert {"d_loss", "g_loss", "feature", "kl"} <= set(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    for name in ("encoder", "decoder", "discriminator"):
        assert _changed(before[name], getattr(model, name)) == set(before[name]), name


def test_vaegan_encoder_gets_no_gan_gradient():
    """Larsen et al. 2016, Alg. 1: the encoder's gradient is that of KL + feature loss only,
    independent of gamma (the 1/gamma scaling cancels the decoder's weight)."""
    grads = []
    for gamma in (1.0, 5.0):
        torch.manual_seed(0)
        model = build_model("vaegan", MODEL)
        obj = make_objective(model, {"gamma": gamma})
        model.discriminator.eval()  # deterministic D features
        grabbed = {}

        class Grab(FakeCtx):
            def optimize(self, name, loss):
                if name == "vae":
                    loss.backward()
                    grabbed["enc"] = model.encoder.head.weight.grad.clone()
                    grabbed["dec"] = model.decoder.project.weight.grad.clone()

        obj.step(_batch(), 0, Grab(obj.optimizers()))
        grads.append(grabbed)
    assert torch.allclose(grads[0]["enc"], grads[1]["enc"], rtol=1e-4, atol=1e-7)
    assert not torch.allclose(grads[0]["dec"], grads[1]["dec"], rtol=1e-3)


def test_classifier_step():
    torch.manual_seed(0)
    model = build_model("classifier", {"resolution": 16, "width": 8})
    obj = make_objective(model)
    losses, before = _run(obj)
    assert set(losses) == {"loss", "accuracy"} and 0.0 <= losses["accuracy"] <= 1.0
    assert torch.isfinite(torch.tensor(losses["loss"]))
    assert _changed(before["model"], model) == set(before["model"])


@pytest.mark.parametrize("name", ["dcgan", "cgan", "vaegan"])
def test_freeze_d_keeps_first_blocks_bit_identical(name):
    """FreezeD (Mo et al. 2020): first k DownStack blocks frozen, the rest trains."""
    torch.manual_seed(0)
    model = build_model(name, MODEL)
    obj = make_objective(model, freeze_d=2)
    d_params = {id(p) for g in obj.optimizers()["discriminator"].param_groups for p in g["params"]}
    blocks = discriminator_blocks(model.discriminator)
    assert len(blocks) == 2
    frozen = [p for b in blocks[:2] for p in b.parameters()]
    assert frozen and not any(id(p) in d_params for p in frozen)
    before = [p.detach().clone() for p in frozen]
    _, snap = _run(obj, steps=3)
    assert all(torch.equal(a, p.detach()) for a, p in zip(before, frozen))
    changed = _changed(snap["discriminator"], model.discriminator)
    assert changed and all(not n.startswith("body.") for n in changed)  # the head still trains


def test_freeze_d_too_many_blocks_and_non_gan():
    with pytest.raises(InvalidArgument, match="only 2 conv blocks"):
        make_objective(build_model("dcgan", MODEL), freeze_d=3)
    with pytest.raises(InvalidArgument, match="freeze_d"):
        make_objective(build_model("vae", MODEL), freeze_d=1)


def test_freeze_by_prefix():
    torch.manual_seed(0)
    model = build_model("vae", MODEL)
    obj = make_objective(model, freeze=("encoder",))
    n_opt = sum(len(g["params"]) for g in obj.optimizers()["model"].param_groups)
    assert n_opt == len(list(model.decoder.parameters()))
    enc = _snapshot(model.encoder)
    dec = _snapshot(model.decoder)
    _run(obj)
    assert not _changed(enc, model.encoder)
    assert _changed(dec, model.decoder)
    with pytest.raises(InvalidArgument, match="top-level groups"):
        make_objective(build_model("vae", MODEL), freeze=("encodr",))
    with pytest.raises(InvalidArgument, match="nothing left"):
        make_objective(build_model("classifier", {"resolution": 16, "width": 8}), freeze=("body", "fc", "head"))


@pytest.mark.parametrize("name", ["dcgan", "cgan", "vae", "vaegan", "classifier"])
def test_lr_scale_multiplies_every_learning_rate(name):
    cfg = MODEL if name != "classifier" else {"resolution": 16, "width": 8}
    base = make_objective(build_model(name, cfg))
    scaled = make_objective(build_model(name, cfg), lr_scale=0.1)
    for key, opt in scaled.optimizers().items():
        for g, g0 in zip(opt.param_groups, base.optimizers()[key].param_groups):
            assert g["lr"] == pytest.approx(0.1 * g0["lr"])
    with pytest.raises(InvalidArgument, match="lr_scale"):
        make_objective(build_model(name, cfg), lr_scale=0.0)


def test_unknown_hyper_key_lists_the_known_ones():
    with pytest.raises(InvalidArgument, match=r"'lr_gen'.*known: augment, batch_size, betas, class_weight, ema_decay, gp_weight, lr_d, lr_g, mode_seeking, n_critic"):
        make_objective(build_model("dcgan", MODEL), {"lr_gen": 1e-3})
    with pytest.raises(InvalidArgument, match="must be > 0"):
        make_objective(build_model("vae", MODEL), {"lr": -1.0})


def test_hyper_from_dict_overrides_on_a_recipe():
    h = hyper_from_dict(type(GAN_RECIPES["wgan-gp"]), {"betas": [0.5, 0.9]}, base=GAN_RECIPES["wgan-gp"])
    assert h.betas == (0.5, 0.9) and h.lr_d == 1e-4 and h.n_critic == 5
    assert GAN_RECIPES["wgan-gp"].betas == (0.0, 0.9)  # the recipe itself is untouched
    with pytest.raises(InvalidArgument, match="2 numbers"):
        hyper_from_dict(type(h), {"betas": 0.5})


def test_registry_lookup():
    assert get_objective("vae") is VAEObjective
    with pytest.raises(UnknownName, match="did you mean vae"):
        get_objective("vea")
    with pytest.raises(InvalidArgument, match="not a registered"):
        make_objective(torch.nn.Linear(1, 1))


def test_conditional_needs_labels():
    obj = make_objective(build_model("cgan", MODEL))
    x, _ = _batch()
    with pytest.raises(InvalidArgument, match="unlabelled"):
        obj.step((x, torch.full((8,), -1)), 0, FakeCtx(obj.optimizers()))


@pytest.mark.parametrize("name,ema_name,attr", [("dcgan", "generator", "generator"), ("vaegan", "decoder", "decoder")])
def test_export_swaps_in_ema_without_touching_training_modules(name, ema_name, attr):
    torch.manual_seed(0)
    model = build_model(name, MODEL)
    obj = make_objective(model, freeze_d=1)
    assert obj.ema_modules() == (ema_name,)
    ema = {ema_name: EMA(obj.modules()[ema_name], decay=0.5)}
    ctx = FakeCtx(obj.optimizers())
    for step in range(2):
        obj.step(_batch(seed=step), step, ctx)
        ema[ema_name].update(obj.modules()[ema_name])
    live = {k: v.clone() for k, v in getattr(model, attr).state_dict().items()}
    out = obj.export(ema)
    assert type(out) is type(model) and out is not model and not out.training
    exported, averaged = getattr(out, attr).state_dict(), ema[ema_name].module.state_dict()
    assert all(torch.equal(exported[k], averaged[k]) for k in averaged)
    assert any(not torch.equal(exported[k], live[k]) for k in live)  # EMA differs from live weights
    assert all(torch.equal(v, getattr(model, attr).state_dict()[k]) for k, v in live.items())
    assert all(p.requires_grad for p in out.parameters())
    # No EMA: the live weights.
    plain = obj.export({})
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in model.state_dict().items())


@pytest.fixture(scope="module")
def digits16():
    return make_dataset("digits", size=16, split=(0, 512))


def test_trainer_run_lowers_vae_loss(digits16, tmp_path):
    """The negative ELBO of a fixed batch (eval mode, fixed noise) drops by at least 15% in 60 steps (about 25% seen).

    Reference point: an untrained Bernoulli decoder outputs ~0.5 per pixel, i.e. a recon term
    near 256 * ln 2 = 177 nats for a 16 x 16 image.
    """
    torch.manual_seed(0)
    model = build_model("vae", {"resolution": 16, "width": 8, "latent_dim": 8})
    x = torch.stack([digits16[i][0] for i in range(64)])

    def elbo():
        model.eval()
        with torch.no_grad():
            return model.loss(x, generator=torch.Generator().manual_seed(1))["total"].item()

    before = elbo()
    records = []
    cfg = TrainConfig(steps=60, batch_size=16, log_every=10, checkpoint_every=1000)
    Trainer(make_objective(model), digits16, cfg, tmp_path, on_log=records.append).fit()
    after = elbo()
    assert 150 < before < 260, before
    assert after < 0.85 * before, (before, after)
    assert records[-1]["total"] < records[0]["total"]


def test_trainer_run_classifier_beats_chance(digits16, tmp_path):
    torch.manual_seed(0)
    model = build_model("classifier", {"resolution": 16, "width": 8, "dropout": 0.0})
    obj = make_objective(model)
    cfg = TrainConfig(steps=50, batch_size=16, log_every=50, checkpoint_every=1000)
    Trainer(obj, digits16, cfg, tmp_path).fit()
    held_out = make_dataset("digits", size=16, split=(1500, 1797))
    x = torch.stack([held_out[i][0] for i in range(len(held_out))])
    y = torch.tensor([held_out[i][1] for i in range(len(held_out))])
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.3, accuracy  # chance is 0.1


def test_trainer_gan_run_exports_ema_generator(digits16, tmp_path):
    """Real Trainer (StepContext, EMA) on a WGAN-GP DCGAN with FreezeD; the export round-trips
    through save_model/load_model with the EMA generator's weights."""
    from atelier.models import load_model, save_model

    torch.manual_seed(0)
    model = build_model("dcgan", {**MODEL, "loss": "wgan-gp"})
    obj = make_objective(model, freeze_d=1)
    cfg = TrainConfig(steps=4, batch_size=16, ema_decay=0.9, log_every=2, checkpoint_every=1000)
    trainer = Trainer(obj, digits16, cfg, tmp_path / "run")
    losses = trainer.fit()
    assert set(losses) == {"d_loss", "g_loss", "gp"}
    save_model(obj.export(trainer.ema), tmp_path / "out")
    loaded = load_model(tmp_path / "out")
    averaged = trainer.ema["generator"].module.state_dict()
    assert all(torch.equal(loaded.generator.state_dict()[k], v) for k, v in averaged.items())
