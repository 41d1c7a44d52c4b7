"""Tests for atelier.models.gan_losses: hand-computed loss values and the gradient penalty."""

from __future__ import annotations

import math

import pytest
import torch

from atelier.errors import InvalidArgument, UnknownName
from atelier.models.gan_losses import GAN_LOSSES, get_gan_loss, gradient_penalty


def test_nonsaturating_at_zero_logits():
    """D(x) = 0.5 everywhere: d = -log .5 - log .5 = 2 log 2, g = log 2 (Goodfellow et al. 2014)."""
    d, g = get_gan_loss("nonsaturating")
    z = torch.zeros(4)
    assert d(z, z).item() == pytest.approx(2 * math.log(2))
    assert g(z).item() == pytest.approx(math.log(2))


def test_nonsaturating_matches_bce():
    """Against torch's binary_cross_entropy on sigmoid probabilities (real = 1, fake = 0)."""
    real, fake = torch.tensor([1.5, -0.3]), torch.tensor([0.2, -2.0])
    d, g = get_gan_loss("nonsaturating")
    bce = torch.nn.functional.binary_cross_entropy
    ref_d = bce(torch.sigmoid(real), torch.ones(2)) + bce(torch.sigmoid(fake), torch.zeros(2))
    ref_g = bce(torch.sigmoid(fake), torch.ones(2))
    assert d(real, fake).item() == pytest.approx(ref_d.item(), rel=1e-5)
    assert g(fake).item() == pytest.approx(ref_g.item(), rel=1e-5)


def test_hinge_hand_values():
    """real = [0.5, 2], fake = [-2, 0]: relu(1 - real) = [.5, 0], relu(1 + fake) = [0, 1] -> .25 + .5."""
    d, g = get_gan_loss("hinge")
    real, fake = torch.tensor([0.5, 2.0]), torch.tensor([-2.0, 0.0])
    assert d(real, fake).item() == pytest.approx(0.75)
    assert g(fake).item() == pytest.approx(1.0)


def test_wgan_hand_values():
    """Critic loss mean(fake) - mean(real) = -1 - 2 = -3; generator loss -mean(fake) = 1."""
    d, g = get_gan_loss("wgan-gp")
    assert d(torch.tensor([1.0, 3.0]), torch.tensor([-1.0, -1.0])).item() == pytest.approx(-3.0)
    assert g(torch.tensor([-1.0, -1.0])).item() == pytest.approx(1.0)


def test_unknown_loss():
    assert set(GAN_LOSSES) == {"nonsaturating", "hinge", "wgan-gp"}
    with pytest.raises(UnknownName, match="hinge"):
        get_gan_loss("hinje")


def _linear_critic(scale: float):
    torch.manual_seed(0)
    w = torch.randn(3 * 4 * 4)
    w = w / w.norm() * scale
    return lambda x: x.flatten(1) @ w


def test_penalty_of_unit_linear_critic_is_zero():
    """d(x) = <w, x> has gradient w everywhere; ||w|| = 1 gives (1 - 1)^2 = 0 (Gulrajani et al. 2017)."""
    real, fake = torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)
    gp = gradient_penalty(_linear_critic(1.0), real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx(0.0, abs=1e-10)


def test_penalty_of_scaled_linear_critic():
    """||w|| = 3 gives (3 - 1)^2 = 4 for every interpolate, whatever alpha (hand-computed)."""
    real, fake = torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)
    assert gradient_penalty(_linear_critic(3.0), real, fake).item() == pytest.approx(4.0, rel=1e-5)


def test_penalty_gradcheck():
    """The penalty is twice differentiable: gradcheck in float64 through a smooth critic."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))
    net = net.double()
    alpha = torch.tensor([0.3, 0.8], dtype=torch.float64)
    real = torch.rand(2, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    fake = torch.rand(2, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    fn = lambda r, f: gradient_penalty(lambda x: net(x).squeeze(1), r, f, alpha=alpha)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (real, fake))


def test_penalty_reaches_critic_parameters():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    gp = gradient_penalty(lambda x: net(x).squeeze(1), torch.rand(3, 2, 2, 2), torch.rand(3, 2, 2, 2))
    gp.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net[1].parameters())


def test_penalty_seeded_and_checked():
    real, fake = torch.rand(4, 1, 3, 3), torch.rand(4, 1, 3, 3)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(9, 1), torch.nn.Tanh())
    d = lambda x: net(x).squeeze(1) ** 2  # noqa: E731  (gradient depends on the interpolate)
    a = gradient_penalty(d, real, fake, generator=torch.Generator().manual_seed(1))
    b = gradient_penalty(d, real, fake, generator=torch.Generator().manual_seed(1))
    assert a.item() == b.item()
    with pytest.raises(InvalidArgument, match="same shape"):
        gradient_penalty(d, real, fake[:2])
