"""Tests for atelier.models.dcgan: shapes, ranges, determinism, norms and one step per loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atelier.errors import InvalidArgument
from atelier.models import build_model, get_gan_loss, gradient_penalty

from .helpers import TINY, assert_all_grads, assert_finite_scalar, assert_unit_range


def _gan(resolution=16, channels=1, **kw):
    return build_model("dcgan", {"resolution": resolution, "channels": channels, "width": 8, "latent_dim": 8, **kw})


@pytest.mark.parametrize("resolution, channels", TINY + [(64, 1)])
def test_shapes_and_range(resolution, channels):
    gan = _gan(resolution, channels)
    z = torch.randn(3, 8)
    images = gan(z)
    assert images.shape == (3, channels, resolution, resolution)
    assert_unit_range(images)
    assert gan.discriminator(images).shape == (3,)
    assert gan.discriminator.features(images).shape[-2:] == (4, 4)
    assert gan.sample(2).shape == (2, channels, resolution, resolution)


def test_generator_output_is_unit_mapped_tanh():
    """G ends in tanh mapped by (t + 1) / 2: its output equals that of the pre-activation."""
    gan = _gan().eval()
    z = torch.randn(2, 8)
    with torch.no_grad():
        pre = gan.generator.up(gan.generator.project(z.reshape(2, 8, 1, 1)))
        assert torch.allclose(gan(z), (torch.tanh(pre) + 1) / 2)


def test_sample_deterministic_per_seed():
    gan = _gan(32, 3).train()
    a = gan.sample(4, generator=torch.Generator().manual_seed(3))
    b = gan.sample(4, generator=torch.Generator().manual_seed(3))
    c = gan.sample(4, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert gan.training and not a.requires_grad  # mode restored, no graph kept
    # sample() is the eval-mode generator on z ~ N(0, 1) drawn from the given generator
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(gan.eval()(z), a)


def test_sample_errors():
    gan = _gan()
    with pytest.raises(InvalidArgument, match="unconditional"):
        gan.sample(2, labels=1)
    with pytest.raises(InvalidArgument, match="positive"):
        gan.sample(0)


def _norms(module):
    return {type(m) for m in module.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))}


def test_discriminator_norm_follows_loss():
    """BatchNorm in D by default; none with spectral norm; LayerNorm (GroupNorm(1)) for WGAN-GP."""
    assert _norms(_gan().discriminator) == {nn.BatchNorm2d}
    assert _norms(_gan(loss="wgan-gp").discriminator) == {nn.GroupNorm}
    assert _norms(_gan(loss="hinge", spectral_norm=True).discriminator) == set()
    assert _norms(_gan(loss="wgan-gp").generator) == {nn.BatchNorm2d}


def test_spectral_norm_bounds_layers():
    """After power iterations, every D conv has spectral norm ~1 (Miyato et al. 2018)."""
    from torch.nn.utils import parametrize

    d = _gan(loss="hinge", spectral_norm=True).discriminator.train()
    for _ in range(30):
        d(torch.rand(2, 1, 16, 16))
    d.eval()
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize(
    "loss, sn", [("nonsaturating", False), ("hinge", False), ("hinge", True), ("wgan-gp", False)]
)
@pytest.mark.parametrize("resolution, channels", TINY)
def test_one_step_per_loss(loss, sn, resolution, channels):
    """A D step and a G step give finite losses and gradients on every parameter."""
    torch.manual_seed(0)
    gan = _gan(resolution, channels, loss=loss, spectral_norm=sn).train()
    d_loss, g_loss = get_gan_loss(loss)
    real = torch.rand(4, channels, resolution, resolution)
    fake = gan(torch.randn(4, 8))

    opt_d = torch.optim.Adam(gan.discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    loss_d = d_loss(gan.discriminator(real), gan.discriminator(fake.detach()))
    if loss == "wgan-gp":
        loss_d = loss_d + 10.0 * gradient_penalty(gan.discriminator, real, fake.detach())
    assert_finite_scalar(loss_d)
    opt_d.zero_grad()
    loss_d.backward()
    assert_all_grads(gan.discriminator)
    before = [p.detach().clone() for p in gan.discriminator.parameters()]
    opt_d.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, gan.discriminator.parameters()))

    opt_g = torch.optim.Adam(gan.generator.parameters(), 2e-4, betas=(0.5, 0.999))
    loss_g = g_loss(gan.discriminator(fake))
    assert_finite_scalar(loss_g)
    opt_g.zero_grad()
    loss_g.backward()
    assert_all_grads(gan.generator)
    opt_g.step()
