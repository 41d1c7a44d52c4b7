"""Adversarial restoration: the PatchGAN critic, RaGAN, ESRGAN-style perceptual SR
(``loss=perceptual``) and the inpainting objective's optional PatchGAN term."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model
from atelier.models.gan_losses import relativistic_d_loss, relativistic_g_loss
from atelier.models.patchgan import PatchGAN, PatchGANConfig
from atelier.tasks.training import check_resume, resolve_run, train_run
from atelier.train import TrainConfig, Trainer, load_checkpoint
from atelier.train.objectives import make_objective
from tests.cli.test_cli import atelier

TINY_SR = {"scale": 2, "width": 4, "blocks": 1}
# 16 px LR patches: 32 px HR, enough for the 3-layer critic (24 px at least)
SR_RUN = ["patch=16", "batch_size=2", "checkpoint_every=2", "validate_every=2", "log_every=1", "val_crop=32",
          "holdout=1", "d_width=4", "feature_layer=relu2_2"]  # fmt: skip
INPAINT = {"width": 4, "levels": 2, "resolution": 24}




def _sr_spec(photos, extra=(), model=TINY_SR):
    sets = [f"{k}={v}" for k, v in model.items()] + SR_RUN + ["loss=perceptual", *extra]
    return resolve_run("sr", data=str(photos), overrides=sets)


@pytest.fixture
def psnr_run(photos, tmp_path):
    """A tiny L1-trained x2 EDSR: the PSNR model a perceptual run starts from."""
    sets = [f"{k}={v}" for k, v in TINY_SR.items()] + SR_RUN + ["steps=2"]
    return train_run(resolve_run("sr", data=str(photos), overrides=sets), tmp_path / "psnr")


# --- the critic and its loss -------------------------------------------------------------


def test_patchgan_shapes_receptive_field_and_spectral_norm():
    """pix2pix's 70 x 70 PatchGAN (Isola et al. 2017, appendix 6.1.2): the logit of an
    interior patch depends on exactly a 70 x 70 window of the input."""
    d = PatchGAN(PatchGANConfig(width=4)).eval()
    assert d(torch.rand(2, 3, 96, 80)).shape == (2, 1, 10, 8)
    x = torch.rand(1, 3, 128, 128, requires_grad=True)
    d(x)[0, 0, 7, 7].backward()
    rows = torch.nonzero(x.grad.abs().sum((0, 1)).sum(1)).flatten()
    cols = torch.nonzero(x.grad.abs().sum((0, 1)).sum(0)).flatten()
    assert int(rows[-1] - rows[0] + 1) == int(cols[-1] - cols[0] + 1) == d.receptive_field == 70
    assert d(torch.rand(1, 3, 24, 24)).shape == (1, 1, 1, 1) and d.min_size == 24
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5 and all(hasattr(m, "parametrizations") for m in convs)
    with pytest.raises(InvalidArgument, match="layers"):
        PatchGANConfig(layers=0)


def test_relativistic_losses_reference_values():
    """RaGAN (Jolicoeur-Martineau 2019, eq. 6-7), by hand: real [1, 3], fake [0, -2] ->
    mean real 2, mean fake -1; D = (sp(-2) + sp(-4) + sp(2) + sp(0)) / 4 and G the mirror."""
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    d = (sp(-(1 + 1)) + sp(-(3 + 1)) + sp(0 - 2) + sp(-2 - 2)) / 4
    g = (sp(1 + 1) + sp(3 + 1) + sp(2 - 0) + sp(2 + 2)) / 4
    assert relativistic_d_loss(real, fake).item() == pytest.approx(d, rel=1e-6)
    assert relativistic_g_loss(real, fake).item() == pytest.approx(g, rel=1e-6)


# --- perceptual super-resolution ---------------------------------------------------------


def test_perceptual_recipe_is_esrgans(photos):
    """ESRGAN (Wang et al. 2018, section 4.1): L1 1e-2, VGG conv5_4 (before ReLU) 1 on an
    ImageNet-normalised input (1/58 on atelier's Caffe-scale VGG19), RaGAN 5e-3, Adam 1e-4."""
    obj = make_objective(build_model("edsr", TINY_SR), {"loss": "perceptual", "d_width": 4, "patch": 16})
    h = obj.hyper
    assert (h.pixel_weight, h.adversarial_weight, h.lr_gan, h.feature_layer) == (1e-2, 5e-3, 1e-4, "conv5_4")
    assert h.perceptual_weight == pytest.approx(1 / 58)
    assert obj.opt.param_groups[0]["lr"] == 1e-4 and obj.adversary.loss == "ragan"
    assert sorted(obj.modules()) == sorted(obj.optimizers()) == ["discriminator", "model"]
    assert sorted(obj.schedulers()) == ["lr", "lr_discriminator"]
    assert (obj.best_metric, obj.higher_is_better) == ("val_vgg", False)
    plain = make_objective(build_model("edsr", TINY_SR))
    assert sorted(plain.modules()) == ["model"] and plain.best_metric == "val_psnr"
    for hyper, match in [({"feature_layer": "relu9_9"}, "feature_layer"), ({"loss": "l2"}, "loss"),
                         ({"loss": "perceptual", "patch": 8}, "at least 24 px")]:
        with pytest.raises(InvalidArgument, match=match):
            make_objective(build_model("edsr", TINY_SR), hyper)


def _sr_trainer(photos, folder, stop_after=None, steps=4):
    spec = _sr_spec(photos)
    torch.manual_seed(0)
    obj = make_objective(build_model("edsr", spec["model_config"]), spec["hyper"])
    data = obj.build_data(spec)
    cfg = TrainConfig(steps=steps, batch_size=2, checkpoint_every=2, log_every=1, validate_every=2)
    trainer = Trainer(obj, data, cfg, folder)
    losses = trainer.fit(stop_after=stop_after)
    return trainer, losses


def test_perceptual_step_trains_both_networks_and_resumes_exactly(photos, tmp_path):
    straight, losses = _sr_trainer(photos, tmp_path / "a")
    assert {"pixel", "perceptual", "adversarial", "loss", "d_loss"} <= set(losses)
    assert all(math.isfinite(v) for v in losses.values())
    fresh = PatchGAN(PatchGANConfig(width=4)).state_dict()
    trained = straight.modules["discriminator"].state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in trained.items() if k.endswith("original"))
    assert straight.best is not None and straight.best["metric"] == "val_vgg"
    _sr_trainer(photos, tmp_path / "b", stop_after=3)
    resumed, _ = _sr_trainer(photos, tmp_path / "b")
    assert resumed.best == straight.best
    for name in ("model", "discriminator"):
        mine, theirs = straight.modules[name].state_dict(), resumed.modules[name].state_dict()
        assert all(torch.equal(v, theirs[k]) for k, v in mine.items()), name
    for name in ("model", "discriminator"):
        a, b = straight.optimizers[name].state_dict(), resumed.optimizers[name].state_dict()
        assert a["param_groups"][0]["lr"] == b["param_groups"][0]["lr"]
        assert all(torch.equal(a["state"][i]["exp_avg"], b["state"][i]["exp_avg"]) for i in a["state"])


def test_run_from_a_psnr_model_exports_the_generator_alone(photos, psnr_run, tmp_path):
    spec = _sr_spec(photos, ["steps=2"])
    spec["fine_tune"]["init_from"] = str(psnr_run)
    run = train_run(spec, tmp_path / "gan")
    exported = load_model(run)
    assert set(exported.state_dict()) == set(load_model(psnr_run).state_dict())
    assert json.loads((run / "model.json").read_text())["model"] == "edsr"
    state = load_checkpoint(run / "checkpoints" / "step-00000002.pt")
    assert sorted(state["modules"]) == sorted(state["optimizers"]) == ["discriminator", "model"]
    vals = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if "val_vgg" in line]
    assert vals and all(v["val_vgg"] > 0 and v["val_psnr"] > 10 for v in vals)


def test_perceptual_without_init_starts_from_the_shipped_psnr_model(photos, tmp_path):
    """Documented: no init_from -> the shipped sr-x<scale> (ESRGAN starts from its PSNR model),
    recorded in config.json; its architecture is the run's."""
    spec = _sr_spec(photos, ["steps=1", "checkpoint_every=1", "validate_every=1"], model={"scale": 2})
    assert spec["fine_tune"]["init_from"] is None
    run = train_run(spec, tmp_path / "auto")
    assert json.loads((run / "config.json").read_text())["fine_tune"]["init_from"] == "sr-x2"
    shipped, tuned = load_model(_shipped("sr-x2")), load_model(run)
    diff = max(float((a - tuned.state_dict()[k]).abs().max()) for k, a in shipped.state_dict().items())
    assert 0 < diff < 0.01  # one small step away from the shipped weights, not a fresh network


def _shipped(name):
    from atelier.pretrained import pretrained_dir

    return pretrained_dir(name)


def test_perceptual_without_usable_init_is_a_clear_error(photos, tmp_path, monkeypatch, capsys):
    # another architecture than the shipped sr-x2's
    with pytest.raises(InvalidArgument, match="fine-tunes the PSNR model as it is"):
        train_run(_sr_spec(photos, ["steps=1"]), tmp_path / "tiny")
    # the shipped model missing from the install: say to train one first
    monkeypatch.setattr("atelier.pretrained.WEIGHTS_ROOT", tmp_path / "no-weights")
    with pytest.raises(InvalidArgument, match="sr-x2 is not in this install: train one first"):
        train_run(_sr_spec(photos, ["steps=1"], model={"scale": 2}), tmp_path / "none")
    assert not (tmp_path / "none" / "checkpoints").exists()
    code = atelier("train", "sr", "--data", photos, "--scale", "2", "--set", "loss=perceptual",
                   "--out", tmp_path / "cli", *sum((["--set", s] for s in SR_RUN), []))
    assert code == 2 and "not in this install" in capsys.readouterr().err


def test_loss_cannot_change_on_resume(photos, psnr_run):
    stored = json.loads((psnr_run / "config.json").read_text())
    changed = json.loads(json.dumps(stored))
    changed["hyper"]["loss"] = "perceptual"
    with pytest.raises(InvalidArgument, match="hyper.loss cannot change"):
        check_resume(stored, changed, psnr_run)
    assert atelier("train", "--resume", psnr_run, "--set", "loss=perceptual") == 2


def test_shipped_perceptual_model_upscales_a_real_photo(shared_data):
    from atelier.image import load_image
    from atelier.metrics import psnr
    from atelier.ops.geometry import resize
    from atelier.pretrained import describe_pretrained, is_installed
    from atelier.tasks.restore import upscale

    assert is_installed("sr-x4-perceptual")
    info = describe_pretrained("sr-x4-perceptual")
    assert info["task"] == "sr" and info["scale"] == 4 and info["size_mb"] < 1.2
    hr = load_image(shared_data / "bench" / "CSet5" / "butterfly.png", mode="rgb")[:128, :128]
    lr = resize(hr, width=32, height=32, method="bicubic", antialias=True)
    out = upscale(lr, 4, "sr-x4-perceptual")
    plain = upscale(lr, 4, "sr-x4")
    bicubic = upscale(lr, 4, "bicubic")
    assert out.shape == hr.shape and out.dtype == np.uint8
    assert not np.array_equal(out, plain)
    assert psnr(out, hr, channel="y", crop=4) > psnr(bicubic, hr, channel="y", crop=4) - 1.0


# --- inpainting's adversarial term -------------------------------------------------------


def _inpaint_trainer(photos, folder, hyper, stop_after=None, steps=4):
    spec = resolve_run("inpaint", data=str(photos), overrides=[f"{k}={v}" for k, v in INPAINT.items()]
                       + ["holdout=1", "val_crop=48"])
    torch.manual_seed(0)
    obj = make_objective(build_model("inpaint", spec["model_config"]), {**spec["hyper"], **hyper})
    data = obj.build_data(spec)
    cfg = TrainConfig(steps=steps, batch_size=2, checkpoint_every=2, log_every=1, validate_every=2)
    trainer = Trainer(obj, data, cfg, folder)
    return trainer, trainer.fit(stop_after=stop_after)


def test_inpaint_adversarial_zero_changes_nothing(photos, tmp_path):
    """Weight 0 (the default): no critic, the same modules, optimizers and losses, and the
    critic's own settings have no effect."""
    default, losses = _inpaint_trainer(photos, tmp_path / "a", {}, steps=2)
    inert, _ = _inpaint_trainer(photos, tmp_path / "b", {"adversarial": 0.0, "d_width": 8, "lr_d": 1.0}, steps=2)
    assert sorted(default.modules) == sorted(default.optimizers) == ["model"] and sorted(default.schedulers) == ["lr"]
    assert set(losses) == {"valid", "hole", "perceptual", "style", "loss"}
    a, b = default.modules["model"].state_dict(), inert.modules["model"].state_dict()
    assert all(torch.equal(v, b[k]) for k, v in a.items())
    assert sorted(load_checkpoint(tmp_path / "a" / "checkpoints" / "step-00000002.pt")["modules"]) == ["model"]


def test_inpaint_adversarial_trains_and_resumes_exactly(photos, tmp_path):
    hyper = {"adversarial": 0.1, "d_width": 4}
    straight, losses = _inpaint_trainer(photos, tmp_path / "a", hyper)
    assert {"adversarial", "d_loss"} <= set(losses) and all(math.isfinite(v) for v in losses.values())
    assert sorted(straight.modules) == ["discriminator", "model"]
    plain, _ = _inpaint_trainer(photos, tmp_path / "p", {})
    a, b = straight.modules["model"].state_dict(), plain.modules["model"].state_dict()
    assert any(not torch.equal(v, b[k]) for k, v in a.items())  # the term moves the generator
    _inpaint_trainer(photos, tmp_path / "b", hyper, stop_after=3)
    resumed, _ = _inpaint_trainer(photos, tmp_path / "b", hyper)
    for name in ("model", "discriminator"):
        mine, theirs = straight.modules[name].state_dict(), resumed.modules[name].state_dict()
        assert all(torch.equal(v, theirs[k]) for k, v in mine.items()), name
    assert resumed.best == straight.best


def test_inpaint_adversarial_cli_run_and_resume_rules(photos, tmp_path, capsys):
    sets = sum((["--set", f"{k}={v}"] for k, v in INPAINT.items()), [])
    common = ["--set", "batch_size=2", "--set", "checkpoint_every=2", "--set", "validate_every=2",
              "--set", "holdout=1", "--set", "val_crop=48", "--set", "d_width=4"]
    run = tmp_path / "run"
    assert atelier("train", "inpaint", "--data", photos, "--out", run, *sets, *common,
                   "--set", "adversarial=0.05", "--set", "steps=2") == 0
    assert "discriminator" not in "".join(load_model(run).state_dict())
    assert atelier("train", "--resume", run, "--set", "adversarial=0.02", "--set", "steps=3") == 0
    capsys.readouterr()
    assert atelier("train", "--resume", run, "--set", "adversarial=0", "--set", "steps=4") == 2
    assert "hyper.adversarial cannot turn off" in capsys.readouterr().err
    with pytest.raises(InvalidArgument, match="at least 24 px"):
        make_objective(build_model("inpaint", {**INPAINT, "resolution": 16}), {"adversarial": 1.0})


def test_recipe_of_a_perceptual_run_follows_the_exported_step(tmp_path):
    """The recipe's best is the step the Trainer exported (lowest val_vgg), not the PSNR-best."""
    from atelier import pretrained

    folder = tmp_path / "run"
    spec = resolve_run("sr", data="photos", overrides=["scale=2", "loss=perceptual", "steps=4"])
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(spec))
    log = [
        {"step": 2, "val_psnr": 30.0, "val_bicubic": 28.0, "val_vgg": 0.5, "best_step": 2, "best_val_vgg": 0.5},
        {"step": 4, "val_psnr": 29.5, "val_bicubic": 28.0, "val_vgg": 0.4, "best_step": 4, "best_val_vgg": 0.4},
    ]
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    recipe = pretrained.run_recipe(folder, "atelier train sr ...")
    assert recipe["best"] == {"step": 4, "val_vgg": 0.4, "val_bicubic": 28.0, "val_psnr": 29.5}


def test_listed_for_upscaling():
    from atelier.pretrained import PRETRAINED
    from atelier.server.listings import tasks_of

    spec = PRETRAINED["sr-x4-perceptual"]
    assert (spec.task, spec.scale) == ("sr", 4) and "--model sr-x4-perceptual" in spec.use
    assert tasks_of(spec.task, spec.name) == ["upscale"]
