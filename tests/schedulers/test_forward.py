"""The forward process and the training side: add_noise, velocity, training_target, snr,
min-SNR weights, img2img timesteps, renoise."""

from __future__ import annotations

import math

import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.schedulers import get_scheduler
from tests.schedulers.reference import linear_alphas_cumprod

AC = linear_alphas_cumprod()  # independent: a running product in Python floats


def test_add_noise_closed_form():
    """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps (Ho et al. 2020, eq. 4), one timestep per image."""
    s = get_scheduler("ddpm")
    x0 = torch.rand(3, 2, 4, 4) * 2 - 1
    noise = torch.randn(3, 2, 4, 4)
    t = torch.tensor([0, 500, 999])
    out = s.add_noise(x0, noise, t)
    assert out.shape == x0.shape and out.dtype == torch.float32
    for i, ti in enumerate(t.tolist()):
        expected = math.sqrt(AC[ti]) * x0[i] + math.sqrt(1 - AC[ti]) * noise[i]
        assert torch.allclose(out[i], expected, atol=1e-6)
    # one timestep for the whole batch, as an int or a 0-d tensor
    assert torch.allclose(s.add_noise(x0, noise, 500), s.add_noise(x0, noise, torch.tensor(500)))
    assert torch.allclose(s.add_noise(x0, noise, 500), s.add_noise(x0, noise, torch.full((3,), 500)))
    x64 = s.add_noise(x0.double(), noise.double(), t)
    assert x64.dtype == torch.float64


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_add_noise_statistics(schedule):
    """For x0 = 0.5 and standard normal noise: mean sqrt(a) 0.5, std sqrt(1 - a)."""
    s = get_scheduler("ddpm", {"beta_schedule": schedule})
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((4, 1, 64, 64), 0.5)
    t = torch.tensor([0, 300, 700, 999])
    out = s.add_noise(x0, torch.randn(x0.shape, generator=g), t)
    for i, ti in enumerate(t.tolist()):
        a = s.alphas_cumprod[ti].item()
        assert out[i].mean().item() == pytest.approx(math.sqrt(a) * 0.5, abs=0.03)
        assert out[i].std().item() == pytest.approx(math.sqrt(1 - a), rel=0.04, abs=1e-4)


def test_velocity_and_targets():
    """v = sqrt(a) eps - sqrt(1 - a) x0 (Salimans & Ho 2022, section 4); with x_t it recovers x0 and
    eps (a rotation), and training_target picks eps, v or x0 by prediction type."""
    x0 = torch.rand(2, 3, 4, 4) * 2 - 1
    noise = torch.randn(2, 3, 4, 4)
    t = torch.tensor([10, 900])
    s = get_scheduler("ddim", {"prediction_type": "v_prediction"})
    v = s.velocity(x0, noise, t)
    xt = s.add_noise(x0, noise, t)
    for i, ti in enumerate(t.tolist()):
        c, d = math.sqrt(AC[ti]), math.sqrt(1 - AC[ti])
        assert torch.allclose(v[i], c * noise[i] - d * x0[i], atol=1e-6)
        assert torch.allclose(c * xt[i] - d * v[i], x0[i], atol=1e-5)
        assert torch.allclose(d * xt[i] + c * v[i], noise[i], atol=1e-5)
    assert torch.equal(s.training_target(x0, noise, t), v)
    assert torch.equal(get_scheduler("ddim").training_target(x0, noise, t), noise)
    assert torch.equal(get_scheduler("ddim", {"prediction_type": "sample"}).training_target(x0, noise, t), x0)


def test_snr_and_min_snr_weights():
    """snr = a / (1 - a); Min-SNR-gamma (Hang et al. 2023): min(snr, gamma) for x0, divided by
    snr for epsilon and by snr + 1 for v (diffusers' train_text_to_image.py)."""
    t = torch.tensor([0, 100, 400, 999])
    snr = [AC[i] / (1 - AC[i]) for i in t.tolist()]
    for kind, div in (("epsilon", lambda r: r), ("v_prediction", lambda r: r + 1), ("sample", lambda r: 1.0)):
        s = get_scheduler("ddpm", {"prediction_type": kind})
        assert s.snr(t).tolist() == pytest.approx(snr, rel=1e-6)
        for gamma in (1.0, 5.0):
            w = s.min_snr_weight(t, gamma=gamma)
            assert w.dtype == torch.float32 and w.shape == (4,)
            assert w.tolist() == pytest.approx([min(r, gamma) / div(r) for r in snr], rel=1e-6)
    eps_w = get_scheduler("ddpm").min_snr_weight(t)
    assert eps_w[-1].item() == 1.0 and eps_w[0].item() == pytest.approx(5 / snr[0])
    assert get_scheduler("ddpm").snr(5).shape == ()
    with pytest.raises(InvalidArgument, match="gamma must be a number > 0"):
        get_scheduler("ddpm").min_snr_weight(t, gamma=0)


def test_forward_errors():
    s = get_scheduler("ddpm")
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(InvalidArgument, match="same shape"):
        s.add_noise(x, torch.zeros(2, 1, 4, 5), 3)
    with pytest.raises(InvalidArgument, match=r"timesteps must be in \[0, 999\]"):
        s.add_noise(x, x, torch.tensor([0, 1000]))
    with pytest.raises(InvalidArgument, match=r"timesteps must be in \[0, 999\]"):
        s.snr(-1)
    with pytest.raises(InvalidArgument, match="3 timesteps for a batch"):
        s.add_noise(x, x, torch.tensor([1, 2, 3]))
    with pytest.raises(InvalidArgument, match="integer"):
        s.add_noise(x, x, torch.tensor([0.5, 0.5]))
    with pytest.raises(InvalidArgument, match="floating-point"):
        s.add_noise(x.long(), x.long(), 3)


def test_img2img_timesteps():
    """diffusers' img2img get_timesteps: init_timestep = min(int(n * strength), n), the run
    keeps timesteps[n - init_timestep:], and the image is noised to the first of them."""
    s = get_scheduler("ddim")  # trailing
    s.set_timesteps(10)
    start, ts = s.img2img_timesteps(0.6)
    assert start == 599 and ts.tolist() == [599, 499, 399, 299, 199, 99]
    s = get_scheduler("ddim", {"timestep_spacing": "leading"})
    s.set_timesteps(10)
    start, ts = s.img2img_timesteps(0.6)
    assert start == 500 and ts.tolist() == [500, 400, 300, 200, 100, 0]
    start, ts = s.img2img_timesteps(1.0)
    assert start == 900 and len(ts) == 10
    s.set_timesteps(100)
    assert len(s.img2img_timesteps(0.29)[1]) == 29  # 100 * 0.29 = 28.999999999999996
    for bad in (0, -0.1, 1.5, float("nan"), "0.5", True):
        with pytest.raises(InvalidArgument, match=r"strength must be in \(0, 1\]"):
            s.img2img_timesteps(bad)
    s.set_timesteps(10)
    with pytest.raises(InvalidArgument, match="keeps no step"):
        s.img2img_timesteps(0.05)


@pytest.mark.parametrize("name", ["ddpm", "ddim", "dpm++2m"])
def test_img2img_run_with_oracle(name):
    """SDEdit end to end: noise x0 to the start timestep, step through the kept timesteps
    (DPM-Solver++ starts first order there), and an oracle model lands on x0."""
    x0 = torch.linspace(-1, 1, 32, dtype=torch.float64).reshape(1, 2, 4, 4)
    s = get_scheduler(name)
    s.set_timesteps(20)
    start, ts = s.img2img_timesteps(0.6)
    g = torch.Generator().manual_seed(0)
    x = s.add_noise(x0, torch.randn(x0.shape, generator=g, dtype=x0.dtype), start)
    for t in ts:
        a = s.alphas_cumprod[int(t)].item()
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        x = s.step(eps, t, x, generator=g).prev_sample
    assert torch.allclose(x, x0, atol=1e-8)


def test_renoise():
    """q(x_to | x_t) = N(sqrt(a_to / a_t) x_t, (1 - a_to / a_t) I); from -1 (clean) it is add_noise."""
    s = get_scheduler("ddpm")
    g = torch.Generator().manual_seed(0)
    x = torch.full((1, 1, 128, 128), 0.8)
    out = s.renoise(x, 100, 600, generator=g)
    r = AC[600] / AC[100]
    assert out.mean().item() == pytest.approx(math.sqrt(r) * 0.8, abs=0.02)
    assert out.std().item() == pytest.approx(math.sqrt(1 - r), rel=0.03)
    a = s.renoise(x, -1, 300, generator=torch.Generator().manual_seed(5))
    b = s.add_noise(x, torch.randn(x.shape, generator=torch.Generator().manual_seed(5)), 300)
    assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(InvalidArgument, match="must not be below"):
        s.renoise(x, 600, 100)
    with pytest.raises(InvalidArgument, match="from -1 to 999"):
        s.renoise(x, 0, 1000)
