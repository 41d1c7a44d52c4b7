"""``degradation=real`` for the restoration objectives: Real-ESRGAN's degradations in the
training step and in a fixed-seed validation (sr: edsr; denoise: dncnn)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from atelier.data.degradations import DENOISING, degrade_real
from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model
from atelier.tasks.training import load_run_spec, resolve_run, train_run
from atelier.train import TrainConfig, Trainer
from atelier.train.objectives import make_objective
from atelier.train.objectives.restoration import (
    DenoiseObjective,
    SRObjective,
    estimate_sigmas,
)
from tests.cli.test_cli import atelier

TINY = {"edsr": {"scale": 2, "width": 4, "blocks": 1}, "dncnn": {"width": 4, "depth": 3}}
SMALL_RUN = [
    "patch=8", "batch_size=4", "checkpoint_every=2", "validate_every=2", "log_every=2", "val_crop=32", "holdout=1",
]


def _spec(model: str, data, extra=()) -> dict:
    sets = [f"{k}={v}" for k, v in TINY[model].items()] + SMALL_RUN + ["degradation=real", *extra]
    return resolve_run(model, data=str(data), overrides=sets)


def _objective(model: str, spec: dict):
    torch.manual_seed(0)
    obj = make_objective(build_model(model, spec["model_config"]), spec["hyper"])
    return obj, obj.build_data(spec)


class Ctx:
    """The part of the Trainer's step context a restoration step uses."""

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    autocast = staticmethod(lambda: torch.autocast("cpu", enabled=False))
    optimize = staticmethod(lambda name, loss: loss.backward())


def test_sr_trains_two_steps_end_to_end(photos, tmp_path):
    """``atelier.tasks.training``: a run of 2 steps with degradation=real, validated on
    fixed-seed degraded crops, exported and recorded in config.json."""
    run = train_run(_spec("edsr", photos, ["steps=2"]), tmp_path / "run")
    assert load_run_spec(run)["hyper"]["degradation"] == "real"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    vals = [r for r in log if "val_psnr" in r]
    assert [r["step"] for r in vals] == [2] and math.isfinite(vals[0]["val_psnr"])
    assert load_model(run).config.scale == 2


def test_sr_step_degrades_the_hr_patches_from_the_step_generator(photos):
    """The model sees Real-ESRGAN inputs drawn from ``ctx.generator``, not the dataset's bicubic LR."""
    obj, data = _objective("edsr", _spec("edsr", photos))
    seen = []
    real = obj.model.forward
    obj.model.forward = lambda x: seen.append(x.detach()) or real(x)
    hr = torch.stack([data[i][0] for i in range(4)])
    bicubic = torch.stack([data[i][1] for i in range(4)])
    obj.step((hr, bicubic), 0, Ctx(3))
    expected = degrade_real(hr, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(seen[0], expected) and not torch.equal(seen[0], bicubic)


def test_sr_validation_uses_fixed_degraded_inputs(photos):
    """Validation crops are degraded from a fixed seed: two validations agree, and the
    bicubic reference on real degradations scores below the bicubic protocol's."""
    bicubic_obj, _ = _objective("edsr", resolve_run("edsr", data=str(photos), overrides=[
        f"{k}={v}" for k, v in TINY["edsr"].items()] + SMALL_RUN))
    obj, _ = _objective("edsr", _spec("edsr", photos))
    model = obj.model.eval()
    with torch.no_grad():
        a, b = obj.validate({"model": model}), obj.validate({"model": model})
        again = _objective("edsr", _spec("edsr", photos))[0].validate({"model": model})
        clean = bicubic_obj.validate({"model": model})
    assert a == b == again and set(a) == {"val_psnr", "val_bicubic"}
    assert a["val_bicubic"] < clean["val_bicubic"] - 1


def test_denoise_real_keeps_the_size_and_gives_the_estimated_level(photos):
    """A noise-map denoiser gets the ``sigma=auto`` estimate of its degraded input."""
    obj, data = _objective("dncnn", _spec("dncnn", photos))
    seen = []
    real = obj.model.forward
    obj.model.forward = lambda x, sigma=None: seen.append((x.detach(), sigma)) or real(x, sigma)
    clean = torch.stack([data[i][0] for i in range(4)])
    obj.step((clean, torch.full((4,), -1)), 0, Ctx(5))
    noisy, sigma = seen[0]
    assert noisy.shape == clean.shape
    assert torch.equal(noisy, degrade_real(clean, 1, generator=torch.Generator().manual_seed(5), config=DENOISING))
    assert torch.equal(sigma, estimate_sigmas(noisy))
    with torch.no_grad():
        first, second = obj.validate({"model": obj.model.eval()}), obj.validate({"model": obj.model})
    assert first == second and set(first) == {"val_psnr", "val_noisy"}


def test_blind_denoiser_trains_on_real_degradations(photos, tmp_path):
    obj, data = _objective("dncnn", _spec("dncnn", photos, ["noise_map=false"]))
    losses = Trainer(obj, data, TrainConfig(steps=1, batch_size=4), tmp_path / "r").fit()
    assert math.isfinite(losses["l1"])


def test_estimate_matches_the_denoise_task(astronaut):
    """The level given in training is what ``atelier denoise --sigma auto`` estimates."""
    from atelier.tasks.restore import estimate_noise_sigma

    rng = np.random.default_rng(0)
    image = np.clip(astronaut / 255 + rng.normal(0, 12 / 255, astronaut.shape), 0, 1).astype(np.float32)
    batch = torch.from_numpy(image).permute(2, 0, 1)[None]
    assert float(estimate_sigmas(batch)[0]) == pytest.approx(estimate_noise_sigma(image), rel=1e-6)


def test_bad_values_are_clear_errors(photos, tmp_path, capsys):
    sr, dn = build_model("edsr", TINY["edsr"]), build_model("dncnn", TINY["dncnn"])
    with pytest.raises(InvalidArgument, match="hyper.degradation must be one of 'bicubic', 'real'"):
        make_objective(sr, {"degradation": "gaussian"})
    with pytest.raises(InvalidArgument, match="hyper.degradation must be one of 'gaussian', 'real'"):
        make_objective(dn, {"degradation": "bicubic"})
    with pytest.raises(InvalidArgument, match="drop --sigma"):
        make_objective(dn, {"degradation": "real", "sigma": [0, 30]})
    with pytest.raises(InvalidArgument, match="hyper.degradation cannot change"):
        SRObjective.check_resume_hyper({"loss": "l1"}, {"degradation": "real"})
    with pytest.raises(InvalidArgument, match="hyper.degradation cannot change"):
        DenoiseObjective.check_resume_hyper({"degradation": "real"}, {"degradation": "gaussian"})
    SRObjective.check_resume_hyper({"loss": "l1"}, {"loss": "l1", "degradation": "bicubic"})  # old runs: bicubic
    cases = [
        (("sr", "--set", "degradation=jpeg"), "hyper.degradation must be one of 'bicubic', 'real'"),
        (("denoise", "--sigma", "0:30", "--set", "degradation=real"), "drop --sigma"),
    ]
    for args, match in cases:
        assert atelier("train", args[0], "--data", photos, "--out", tmp_path / "o", *args[1:]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err
