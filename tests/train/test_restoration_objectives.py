"""Restoration objectives (espcn, edsr, dncnn): recipes, steps, validation, runs and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.image import save_image
from atelier.models import build_model, load_model
from atelier.tasks.training import load_run_spec, resolve_run, train_run
from atelier.train import TrainConfig, Trainer, load_checkpoint
from atelier.train.objectives import make_objective
from atelier.train.objectives.restoration import (
    DenoiseObjective,
    EDSRObjective,
    ESPCNObjective,
    parse_sigma_range,
)
from tests.cli.test_cli import atelier

TINY = {
    "espcn": {"scale": 2, "width": 4},
    "edsr": {"scale": 2, "width": 4, "blocks": 1},
    "dncnn": {"width": 4, "depth": 3},
    "drunet": {"width": 4, "max_width": 8, "blocks": 1, "levels": 2},
}
SMALL_RUN = ["patch=8", "batch_size=4", "checkpoint_every=2", "validate_every=2", "log_every=2", "val_crop=32", "holdout=1"]


def _spec(model: str, data, extra=()) -> dict:
    sets = [f"{k}={v}" for k, v in TINY[model].items()] + SMALL_RUN + list(extra)
    return resolve_run(model, data=str(data), overrides=sets)


def _objective(model: str, spec: dict):
    torch.manual_seed(0)  # the initial weights
    obj = make_objective(build_model(model, spec["model_config"]), spec["hyper"])
    return obj, obj.build_data(spec)


def test_registered_with_their_recipes():
    """EDSR's published recipe (Lim et al. 2017): L1, Adam betas (0.9, 0.999), batch 16 of
    48 px LR patches (lr raised to 5e-4 + cosine for short runs); DnCNN-B/FFDNet: 50 px
    patches, sigma in [0, 50] here."""
    edsr = make_objective(build_model("edsr", TINY["edsr"]))
    espcn = make_objective(build_model("espcn", TINY["espcn"]))
    dncnn = make_objective(build_model("dncnn", TINY["dncnn"]))
    assert (type(edsr), type(espcn), type(dncnn)) == (EDSRObjective, ESPCNObjective, DenoiseObjective)
    assert (edsr.hyper.lr, edsr.hyper.betas, edsr.hyper.batch_size, edsr.hyper.patch) == (5e-4, (0.9, 0.999), 16, 48)
    assert espcn.hyper.lr == 1e-3 and dncnn.hyper.sigma == (0.0, 50.0) and dncnn.hyper.patch == 50
    assert edsr.best_metric == dncnn.best_metric == "val_psnr" and edsr.higher_is_better
    drunet = make_objective(build_model("drunet", TINY["drunet"]))
    assert isinstance(drunet, DenoiseObjective) and (drunet.hyper.lr, drunet.hyper.patch) == (4e-4, 96)
    spec = resolve_run("sr", data="x", overrides=["scale=3"])
    assert spec["model"] == "edsr" and spec["model_config"]["scale"] == 3
    assert spec["train"]["batch_size"] == 16 and "batch_size" not in spec["hyper"]
    assert list(resolve_run("denoise", data="x", flags={"hyper.sigma": [0, 30]})["hyper"]["sigma"]) == [0, 30]


def test_cosine_schedule_over_the_run():
    obj = make_objective(build_model("edsr", TINY["edsr"]), {"lr": 1e-3, "min_lr_ratio": 0.1})
    obj.setup(TrainConfig(steps=10))
    sched = obj.schedulers()["lr"]
    lrs = []
    for _ in range(11):
        lrs.append(obj.opt.param_groups[0]["lr"])
        obj.opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1e-3) and lrs[10] == pytest.approx(1e-4)
    assert lrs[5] == pytest.approx(1e-4 + 0.9e-3 * 0.5)  # halfway down the cosine
    assert all(a > b for a, b in zip(lrs, lrs[1:10]))
    assert "lr_lambdas" not in sched.state_dict() or sched.state_dict()["lr_lambdas"] == [None]


@pytest.mark.parametrize("model", ["espcn", "edsr", "dncnn", "drunet"])
def test_one_step_trains(photos, tmp_path, model):
    spec = _spec(model, photos)
    obj, data = _objective(model, spec)
    before = {k: v.clone() for k, v in obj.model.state_dict().items()}
    trainer = Trainer(obj, data, TrainConfig(steps=2, batch_size=4, checkpoint_every=2, log_every=1), tmp_path / "r")
    losses = trainer.fit()
    assert set(losses) == {"l1", "psnr"} and all(math.isfinite(v) for v in losses.values())
    changed = [k for k, v in obj.model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed
    assert trainer.best is not None and trainer.best["metric"] == "val_psnr"


def test_blind_denoiser_trains(photos, tmp_path):
    spec = _spec("dncnn", photos, ["noise_map=false"])
    obj, data = _objective("dncnn", spec)
    losses = Trainer(obj, data, TrainConfig(steps=1, batch_size=4), tmp_path / "r").fit()
    assert math.isfinite(losses["l1"])


def test_denoiser_sees_the_sampled_sigma(photos):
    """Noise std follows the drawn sigma; the model gets that sigma; reproducible from the
    step generator."""
    spec = _spec("dncnn", photos, ["sigma=[20, 30]"])
    obj, data = _objective("dncnn", spec)
    seen = []
    real = obj.model.forward
    obj.model.forward = lambda x, sigma=None: seen.append((x.detach(), sigma)) or real(x, sigma)

    class Ctx:
        generator = torch.Generator().manual_seed(5)
        autocast = staticmethod(lambda: torch.autocast("cpu", enabled=False))
        optimize = staticmethod(lambda name, loss: loss.backward())

    clean = torch.stack([data[i][0] for i in range(4)])
    obj.step((clean, torch.full((4,), -1)), 0, Ctx())
    noisy, sigma = seen[0]
    assert sigma.shape == (4,) and bool(((sigma >= 20) & (sigma <= 30)).all())
    std = (noisy - clean).flatten(1).std(1) * 255
    torch.testing.assert_close(std, sigma, rtol=0.1, atol=0)
    Ctx.generator = torch.Generator().manual_seed(5)
    obj.step((clean, None), 0, Ctx())
    assert torch.equal(seen[1][0], noisy) and torch.equal(seen[1][1], sigma)


def test_sr_step_rejects_data_of_another_scale(photos):
    spec = _spec("edsr", photos)
    obj, _ = _objective("edsr", spec)
    with pytest.raises(InvalidArgument, match="another scale"):
        obj.step((torch.rand(2, 3, 24, 24), torch.rand(2, 3, 8, 8)), 0, None)
    with pytest.raises(InvalidArgument, match=r"\(HR, LR\) pairs"):
        obj.step((torch.rand(2, 3, 24, 24), torch.full((2,), -1)), 0, None)


def test_sr_validation_measures_the_protocol(photos):
    """An untrained model (zero last layer) is PyTorch's bicubic upsampling: its Y PSNR is
    within 1.5 dB of Pillow's bicubic on the same crops, and validation is deterministic."""
    obj, _ = _objective("edsr", _spec("edsr", photos))
    assert len(obj.validation) == 1 and obj.validation[0].shape == (32, 32, 3)
    model = obj.model.eval()
    with torch.no_grad():
        a, b = obj.validate({"model": model}), obj.validate({"model": model})
    assert a == b and set(a) == {"val_psnr", "val_bicubic"}
    assert 20 < a["val_bicubic"] < 45 and abs(a["val_psnr"] - a["val_bicubic"]) < 1.5


def test_denoise_validation_reference(photos):
    """Gaussian noise of sigma 25: PSNR 20 log10(255 / 25) = 20.17 dB before clipping and
    rounding to uint8 (which remove a little error): the noisy baseline is 20.1..21 dB."""
    obj, _ = _objective("dncnn", _spec("dncnn", photos))
    with torch.no_grad():
        first = obj.validate({"model": obj.model.eval()})
        again = obj.validate({"model": obj.model.eval()})
    assert first == again and 20.1 < first["val_noisy"] < 21.0
    obj.use_validation([])
    assert obj.validate({"model": obj.model}) == {}


def test_resume_is_exact(photos, tmp_path):
    """Patches, noise, cosine schedule and best validation resume bit-exactly."""
    cfg = TrainConfig(steps=6, batch_size=4, checkpoint_every=2, log_every=2, validate_every=2, ema_decay=0.9)
    spec = _spec("dncnn", photos)

    def run(folder, stop_after=None):
        obj, data = _objective("dncnn", spec)
        trainer = Trainer(obj, data, cfg, tmp_path / folder)
        trainer.fit(stop_after=stop_after)
        return trainer

    straight = run("a")
    run("b", stop_after=3)
    resumed = run("b")
    assert resumed.best == straight.best
    for key, value in straight.modules["model"].state_dict().items():
        assert torch.equal(value, resumed.modules["model"].state_dict()[key]), key
    assert straight.optimizers["model"].param_groups[0]["lr"] == resumed.optimizers["model"].param_groups[0]["lr"]


def test_run_exports_the_best_validated_model(photos, tmp_path):
    spec = _spec("edsr", photos, ["steps=6", "keep_checkpoints=1", "lr=0.05"])
    run = train_run(spec, tmp_path / "run")
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    vals = [r for r in log if "val_psnr" in r]
    assert [r["step"] for r in vals] == [2, 4, 6]
    best = vals[-1]["best_step"]
    assert vals[-1]["best_val_psnr"] == max(r["val_psnr"] for r in vals)
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == sorted({f"step-{best:08d}.pt", "step-00000006.pt"})
    state = load_checkpoint(run / "checkpoints" / f"step-{best:08d}.pt")["modules"]["model"]
    exported = load_model(run).state_dict()
    assert all(torch.equal(exported[k], v) for k, v in state.items())
    assert load_run_spec(run)["model"] == "edsr"


def test_separate_validation_folder(photos, tmp_path, astronaut):
    val = tmp_path / "val"
    save_image(val / "v.png", astronaut[:40, :60])
    spec = _spec("edsr", photos, ["data.holdout=0"])
    spec["data_options"]["val"] = str(val)
    obj, data = _objective("edsr", spec)
    assert len(data.photos) == 4 and [v.shape for v in obj.validation] == [(32, 32, 3)]
    spec["data_options"]["holdout"] = 1
    with pytest.raises(InvalidArgument, match="not both"):
        obj.build_data(spec)


@pytest.mark.parametrize(
    "text,match",
    [("50:10", "0 <= low <= high <= 255"), ("a:b", "noise level or a range"), ("0:300", "<= 255"), ("1:2:3", "range")],
)
def test_sigma_range_errors(text, match):
    with pytest.raises(InvalidArgument, match=match):
        parse_sigma_range(text)


def test_hyper_errors():
    model = build_model("dncnn", TINY["dncnn"])
    for hyper, match in [({"sigma": [50, 10]}, "hyper.sigma"), ({"min_lr_ratio": 2}, "min_lr_ratio"), ({"patch": 4}, "patch")]:
        with pytest.raises(InvalidArgument, match=match):
            make_objective(model, hyper)


def _cli(*args):
    return atelier("train", *args, *sum((["--set", s] for s in SMALL_RUN), []))


def test_cli_train_sr_denoise_and_resume(photos, tmp_path, capsys):
    sets = sum((["--set", f"{k}={v}"] for k, v in TINY["edsr"].items() if k != "scale"), [])
    assert _cli("sr", "--data", photos, "--scale", "2", "--out", tmp_path / "sr", *sets, "--set", "steps=2") == 0
    assert load_model(tmp_path / "sr").config.scale == 2
    assert "exported the best val_psnr" in capsys.readouterr().err
    assert atelier("train", "--resume", tmp_path / "sr", "--set", "steps=4") == 0
    assert load_checkpoint(tmp_path / "sr" / "checkpoints" / "step-00000004.pt")["step"] == 4
    dn = sum((["--set", f"{k}={v}"] for k, v in TINY["dncnn"].items()), [])
    assert _cli("denoise", "--data", photos, "--sigma", "0:30", "--out", tmp_path / "dn", *dn, "--set", "steps=2") == 0
    assert load_run_spec(tmp_path / "dn")["hyper"]["sigma"] == [0.0, 30.0]


def test_cli_init_from_another_scale(photos, tmp_path):
    """EDSR's x3/x4 from x2 (Lim et al. 2017): --init-from a run of another scale keeps the
    source's architecture, takes --scale from the command, and carries the shared layers."""
    sets = sum((["--set", f"{k}={v}"] for k, v in TINY["edsr"].items() if k != "scale"), [])
    assert _cli("sr", "--data", photos, "--scale", "2", "--out", tmp_path / "x2", *sets, "--set", "steps=2") == 0
    source = load_model(tmp_path / "x2")
    assert _cli("sr", "--data", photos, "--scale", "3", "--init-from", tmp_path / "x2",
                "--out", tmp_path / "x3", "--set", "steps=1", "--freeze", "head.", "--freeze", "body.") == 0
    x3 = load_model(tmp_path / "x3")
    assert (x3.config.scale, x3.config.width, x3.config.blocks) == (3, 4, 1)
    for name, value in source.state_dict().items():
        if name.startswith(("head.", "body.")):
            assert torch.equal(x3.state_dict()[name], value), name  # frozen: still the x2 weights
    assert x3.state_dict()["upsample.0.weight"].shape != source.state_dict()["upsample.0.weight"].shape


def test_copy_matching_weights_needs_a_match():
    from atelier.tasks.training import copy_matching_weights

    with pytest.raises(InvalidArgument, match="no layer matches"):
        copy_matching_weights(build_model("dncnn", TINY["dncnn"]), build_model("edsr", TINY["edsr"]), source_name="r")


def test_cli_errors_are_one_line(photos, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    save_image(tmp_path / "small" / "s.png", np.zeros((12, 12, 3), np.uint8))
    cases = [
        (("sr", "--data", tmp_path / "empty", "--out", tmp_path / "o"), "no images found"),
        (("sr", "--data", tmp_path / "small", "--out", tmp_path / "o", "--set", "holdout=0"), "larger than every photo"),
        (("denoise", "--data", photos, "--sigma", "50:10", "--out", tmp_path / "o"), "0 <= low <= high"),
        (("vae", "--data", "digits", "--scale", "4", "--out", tmp_path / "o"), "model.scale does not apply to vae"),
        (("sr", "--data", photos, "--sigma", "0:50", "--out", tmp_path / "o"), "hyper.sigma does not apply to edsr"),
        (("sr", "--data", photos, "--val", tmp_path / "missing", "--out", tmp_path / "o"), "--val"),
        (("sr", "--data", photos, "--scale", "5", "--out", tmp_path / "o"), "scale must be 2, 3 or 4"),
    ]
    for args, match in cases:
        assert atelier("train", *args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and match in err[0], (args, err)
