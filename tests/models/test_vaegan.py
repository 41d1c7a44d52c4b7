"""Tests for atelier.models.vaegan: the three modules, shapes and one joint step."""

from __future__ import annotations

import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model, get_gan_loss
from atelier.models.dcgan import DCGANDiscriminator
from atelier.models.vae import VAEDecoder, VAEEncoder

from .helpers import TINY, assert_all_grads, assert_finite_scalar, assert_unit_range


def _model(resolution=16, channels=1, **kw):
    return build_model("vaegan", {"resolution": resolution, "channels": channels, "width": 8, "latent_dim": 4, **kw})


def test_reuses_vae_and_dcgan_pieces():
    m = _model()
    assert isinstance(m.encoder, VAEEncoder) and isinstance(m.decoder, VAEDecoder)
    assert isinstance(m.discriminator, DCGANDiscriminator)


@pytest.mark.parametrize("resolution, channels", TINY)
def test_shapes_and_range(resolution, channels):
    m = _model(resolution, channels)
    x = torch.rand(3, channels, resolution, resolution)
    x_rec, mu, logvar = m(x)
    assert x_rec.shape == x.shape and mu.shape == logvar.shape == (3, 4)
    assert_unit_range(x_rec)
    assert m.discriminator(x_rec).shape == (3,)
    assert m.sample(2).shape == (2, channels, resolution, resolution)
    assert m.feature_loss(x, x).item() == 0.0


def test_sample_deterministic():
    m = _model()
    a = m.sample(2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, m.sample(2, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(InvalidArgument):
        m.sample(2, labels=0)


@pytest.mark.parametrize("loss, sn", [("nonsaturating", False), ("hinge", True)])
@pytest.mark.parametrize("resolution, channels", TINY)
def test_one_joint_step(loss, sn, resolution, channels):
    """Larsen et al. 2016, Algorithm 1: D on real/reconstructed/sampled images; encoder on
    prior + feature reconstruction; decoder on feature reconstruction + GAN loss."""
    torch.manual_seed(0)
    m = _model(resolution, channels, loss=loss, spectral_norm=sn).train()
    d_loss, g_loss = get_gan_loss(loss)
    x = torch.rand(4, channels, resolution, resolution)
    x_rec, mu, logvar = m(x)
    x_p = m.decoder(torch.randn(4, 4))

    ld = d_loss(m.discriminator(x), m.discriminator(x_rec.detach())) + d_loss(
        m.discriminator(x), m.discriminator(x_p.detach())
    )
    assert_finite_scalar(ld)
    ld.backward()
    assert_all_grads(m.discriminator)

    m.zero_grad()
    vae = m.loss(x)
    lg = vae["kl"] + m.feature_loss(x, x_rec) + g_loss(m.discriminator(x_rec)) + g_loss(m.discriminator(x_p))
    assert_finite_scalar(lg)
    lg.backward()
    assert_all_grads(m.encoder)
    assert_all_grads(m.decoder)
