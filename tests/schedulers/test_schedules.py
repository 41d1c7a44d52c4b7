"""Beta schedules and timestep spacing, against their published definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from atelier.errors import InvalidArgument
from atelier.schedulers import get_scheduler
from atelier.schedulers.schedules import COSINE_MAX_BETA, make_betas, make_timesteps


def test_linear_betas():
    """Ho et al. 2020, section 4: beta from 1e-4 to 0.02, linearly, T = 1000."""
    betas = make_betas("linear", 1000, 1e-4, 0.02)
    assert betas.dtype == np.float64 and betas.shape == (1000,)
    assert betas[0] == pytest.approx(1e-4, abs=1e-15) and betas[-1] == pytest.approx(0.02, abs=1e-15)
    assert np.allclose(np.diff(betas), (0.02 - 1e-4) / 999)


def test_scaled_linear_betas():
    """Latent diffusion's schedule: linear in sqrt(beta), 0.00085 to 0.012."""
    betas = make_betas("scaled_linear", 1000, 0.00085, 0.012)
    assert betas[0] == pytest.approx(0.00085) and betas[-1] == pytest.approx(0.012)
    assert np.allclose(np.diff(np.sqrt(betas)), (math.sqrt(0.012) - math.sqrt(0.00085)) / 999)


def test_cosine_betas():
    """Nichol & Dhariwal 2021, eq. 17: a_t = f(t) / f(0), f(t) = cos((t / T + s) / (1 + s) pi / 2)^2,
    s = 0.008, betas clipped at 0.999; with atelier's 0-based t, alphas_cumprod[t] = f(t + 1) / f(0)."""
    T = 1000
    betas = make_betas("cosine", T, 1e-4, 0.02)
    assert betas[-1] == COSINE_MAX_BETA == 0.999  # the last beta ends at the clip
    assert betas.max() == 0.999 and betas.min() > 0
    assert np.all(np.diff(betas) > 0)

    def f(u):
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    ac = np.cumprod(1 - betas)
    for t in (0, 1, 250, 500, 750, 990):
        assert ac[t] == pytest.approx(f((t + 1) / T) / f(0), rel=1e-9)
    assert ac[-1] == pytest.approx(ac[-2] * 0.001)


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear", "cosine"])
def test_alphas_cumprod_monotone(schedule):
    s = get_scheduler("ddpm", {"beta_schedule": schedule})
    ac = s.alphas_cumprod.numpy()
    assert np.all(np.diff(ac) < 0) and 0 < ac[-1] < ac[0] < 1
    assert np.allclose(s.alphas.numpy(), 1 - s.betas.numpy())
    assert np.allclose(ac, np.cumprod(1 - s.betas.numpy()))


def test_spacing_ddpm_ddim_matches_diffusers():
    """diffusers' DDPMScheduler / DDIMScheduler.set_timesteps for 10 of 1000:
    leading  (arange(0, n) * (T // n)).round()[::-1]
    trailing np.round(np.arange(T, 0, -T / n)) - 1
    linspace np.linspace(0, T - 1, n).round()[::-1]"""
    expected = {
        "leading": [900, 800, 700, 600, 500, 400, 300, 200, 100, 0],
        "trailing": [999, 899, 799, 699, 599, 499, 399, 299, 199, 99],
        "linspace": [999, 888, 777, 666, 555, 444, 333, 222, 111, 0],
    }
    for spacing, steps in expected.items():
        assert make_timesteps(spacing, 10, 1000).tolist() == steps
        for name in ("ddpm", "ddim"):
            s = get_scheduler(name, {"timestep_spacing": spacing})
            s.set_timesteps(10)
            assert s.timesteps.tolist() == steps


def test_spacing_dpm_solver_matches_diffusers():
    """diffusers' DPMSolverMultistepScheduler.set_timesteps for 10 of 1000 (n + 1 points, the
    last dropped, for leading and linspace):
    linspace np.linspace(0, T - 1, n + 1).round()[::-1][:-1]
    leading  (np.arange(0, n + 1) * (T // (n + 1))).round()[::-1][:-1]
    trailing np.arange(T, 0, -T / n).round() - 1"""
    expected = {
        "linspace": [999, 899, 799, 699, 599, 500, 400, 300, 200, 100],
        "leading": [900, 810, 720, 630, 540, 450, 360, 270, 180, 90],
        "trailing": [999, 899, 799, 699, 599, 499, 399, 299, 199, 99],
    }
    for spacing, steps in expected.items():
        s = get_scheduler("dpm++2m", {"timestep_spacing": spacing})
        s.set_timesteps(10)
        assert s.timesteps.tolist() == steps


def test_trailing_always_n_steps():
    """np.arange(1000, 0, -1000 / 61) has 62 values (float steps): still 61 timesteps, the
    last >= 0, the first T - 1."""
    for n in (3, 7, 61, 103, 999, 1000):
        steps = make_timesteps("trailing", n, 1000)
        assert len(steps) == n and steps[0] == 999 and steps[-1] >= 0
        assert np.all(np.diff(steps) < 0)


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("name", ["ddpm", "ddim"])
def test_spacing_full_run_is_every_timestep(spacing, name):
    s = get_scheduler(name, {"timestep_spacing": spacing, "num_train_timesteps": 50})
    s.set_timesteps(50)
    assert s.timesteps.tolist() == list(range(49, -1, -1))


def test_dpm_linspace_too_many_steps():
    """n + 1 points of linspace over T - 1 repeat a timestep when n = T: a clear error."""
    s = get_scheduler("dpm++2m", {"timestep_spacing": "linspace", "num_train_timesteps": 20})
    with pytest.raises(InvalidArgument, match="repeat a timestep"):
        s.set_timesteps(20)
    s.set_timesteps(19)
    assert len(s.timesteps) == 19


def test_previous_timestep():
    s = get_scheduler("ddpm", {"timestep_spacing": "leading"})
    s.set_timesteps(4)
    assert [s.previous_timestep(t) for t in s.timesteps] == [500, 250, 0, -1]
