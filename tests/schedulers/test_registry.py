"""The scheduler registry: typed configs, names, scheduler.json round trip, sampler swap."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from atelier.errors import AtelierError, InvalidArgument, UnknownName
from atelier.schedulers import (
    SCHEDULER_FILE,
    DDIMConfig,
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverScheduler,
    get_scheduler,
    list_schedulers,
    load_scheduler,
    register_scheduler,
    save_scheduler,
)


def test_list_and_get():
    assert [s.name for s in list_schedulers()] == ["ddim", "ddpm", "dpm++2m"]
    assert all(s.summary for s in list_schedulers())
    assert type(get_scheduler("ddpm")) is DDPMScheduler
    assert type(get_scheduler("ddim", DDIMConfig(eta=0.3))) is DDIMScheduler
    assert type(get_scheduler("dpm++2m")) is DPMSolverScheduler
    with pytest.raises(UnknownName, match=r"unknown scheduler 'dpm'; did you mean .*dpm\+\+2m"):
        get_scheduler("dpm")


@pytest.mark.parametrize(
    "config, message",
    [
        ({"num_train_timesteps": 1}, "num_train_timesteps must be an integer from 2 to 100000, got 1"),
        ({"num_train_timesteps": 1000.0}, "num_train_timesteps must be an integer, got 1000.0"),
        ({"num_train_timesteps": True}, "num_train_timesteps must be an integer, got True"),
        ({"beta_start": 0}, r"beta_start must be in \(0, 1\), got 0.0"),
        ({"beta_end": float("nan")}, "beta_end must be a finite number"),
        ({"beta_end": "0.02"}, "beta_end must be a number"),
        ({"prediction_type": "v"}, "prediction_type must be one of 'epsilon', 'v_prediction', 'sample', got 'v'"),
        ({"timestep_spacing": "even"}, "timestep_spacing must be one of"),
        ({"eta": -0.1}, r"eta must be in \[0, 1\]"),
        ({"clip_sample": 1}, "clip_sample must be true or false, got 1"),
        ({"clip_sample_range": 0}, "clip_sample_range must be > 0"),
        ({"steps": 10}, "unknown config key.*steps; known keys: num_train_timesteps"),
    ],
)
def test_config_errors(config, message):
    with pytest.raises(InvalidArgument, match=message):
        get_scheduler("ddim", config)


def test_config_errors_other_samplers():
    with pytest.raises(InvalidArgument, match="solver_order must be one of 1, 2, got True"):
        get_scheduler("dpm++2m", {"solver_order": True})
    with pytest.raises(InvalidArgument, match="unknown config key.*eta"):
        get_scheduler("dpm++2m", {"eta": 0.0})
    with pytest.raises(InvalidArgument, match="variance_type must be one of"):
        get_scheduler("ddpm", {"variance_type": "learned"})
    with pytest.raises(InvalidArgument, match="must be a mapping or a DDIMConfig, got DDPMConfig"):
        get_scheduler("ddim", get_scheduler("ddpm").config)


def test_config_is_copied():
    config = DDIMConfig(eta=0.2)
    s = get_scheduler("ddim", config)
    config.eta = 0.9
    assert s.config.eta == 0.2


@pytest.mark.parametrize(
    "name, config",
    [
        ("ddpm", {"beta_schedule": "cosine", "prediction_type": "v_prediction", "variance_type": "fixed_large"}),
        ("ddim", {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "eta": 0.5,
                  "set_alpha_to_one": False, "clip_sample": False, "timestep_spacing": "leading"}),
        ("dpm++2m", {"num_train_timesteps": 500, "solver_order": 1, "final_sigmas_type": "sigma_min"}),
    ],
)
def test_save_load_round_trip(tmp_path, name, config):
    s = get_scheduler(name, config)
    path = save_scheduler(s, tmp_path / "run")
    assert path == tmp_path / "run" / SCHEDULER_FILE
    meta = json.loads(path.read_text("utf-8"))
    assert meta == {"scheduler": name, "config": dataclasses.asdict(s.config)}
    loaded = load_scheduler(tmp_path / "run")
    assert type(loaded) is type(s) and loaded.config == s.config
    assert torch.equal(loaded.alphas_cumprod, s.alphas_cumprod)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [SCHEDULER_FILE]  # no temporary files
    save_scheduler(get_scheduler("ddpm"), tmp_path / "run")  # overwrites
    assert load_scheduler(tmp_path / "run").name == "ddpm"


def test_swap_sampler_keeps_the_schedule(tmp_path):
    """A model trained with DDPM sampled with DDIM or DPM-Solver++: the fields both configs
    declare are kept, the others take the new sampler's defaults, overrides win."""
    trained = get_scheduler("ddpm", {"beta_schedule": "cosine", "prediction_type": "v_prediction",
                                     "clip_sample": False, "timestep_spacing": "linspace",
                                     "variance_type": "fixed_large"})
    save_scheduler(trained, tmp_path)
    ddim = load_scheduler(tmp_path, as_="ddim")
    assert ddim.name == "ddim"
    assert (ddim.config.beta_schedule, ddim.config.prediction_type, ddim.config.clip_sample,
            ddim.config.timestep_spacing) == ("cosine", "v_prediction", False, "linspace")
    assert ddim.config.eta == 0.0 and ddim.config.set_alpha_to_one is True
    assert torch.equal(ddim.alphas_cumprod, trained.alphas_cumprod)
    dpm = load_scheduler(tmp_path, as_="dpm++2m", config={"solver_order": 1, "timestep_spacing": "trailing"})
    assert dpm.name == "dpm++2m" and dpm.config.prediction_type == "v_prediction"
    assert dpm.config.solver_order == 1 and dpm.config.timestep_spacing == "trailing"
    assert torch.equal(dpm.alphas_cumprod, trained.alphas_cumprod)
    # the swapped samplers sample the trained model: an oracle lands on x0
    x0 = torch.linspace(-1, 1, 8, dtype=torch.float64)
    for s in (ddim, dpm):
        s.set_timesteps(12)
        x = torch.randn(8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        for t in s.timesteps:
            a = s.alphas_cumprod[int(t)].item()
            eps = (x - a**0.5 * x0) / (1 - a) ** 0.5
            x = s.step(a**0.5 * eps - (1 - a) ** 0.5 * x0, t, x).prev_sample
        assert torch.allclose(x, x0, atol=1e-8)
    with pytest.raises(UnknownName, match="unknown scheduler 'euler'"):
        load_scheduler(tmp_path, as_="euler")
    with pytest.raises(InvalidArgument, match="unknown config key.*variance_type"):
        load_scheduler(tmp_path, as_="ddim", config={"variance_type": "fixed_small"})


def test_load_errors(tmp_path):
    with pytest.raises(AtelierError, match=f"no {SCHEDULER_FILE} in"):
        load_scheduler(tmp_path)
    path = tmp_path / SCHEDULER_FILE
    for text in ("{not json", '{"config": {}}', '{"scheduler": "ddpm", "config": [1]}', "[]"):
        path.write_text(text)
        with pytest.raises(AtelierError, match="is not a valid scheduler file"):
            load_scheduler(tmp_path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(AtelierError, match="is not a valid scheduler file"):
        load_scheduler(tmp_path)
    path.write_text('{"scheduler": "ddpn", "config": {}}')
    with pytest.raises(UnknownName, match="did you mean ddpm"):
        load_scheduler(tmp_path)
    path.write_text('{"scheduler": "ddpm", "config": {"eta": 0.5}}')
    with pytest.raises(InvalidArgument, match="unknown config key.*eta"):
        load_scheduler(tmp_path)


def test_save_unregistered(tmp_path):
    with pytest.raises(InvalidArgument, match="not a registered atelier scheduler"):
        save_scheduler(object(), tmp_path)


def test_register_twice_is_a_bug():
    with pytest.raises(ValueError, match="registered twice"):
        register_scheduler("ddim", DDIMConfig)(type("Other", (DDIMScheduler,), {}))
