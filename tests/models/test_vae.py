"""Tests for atelier.models.vae: shapes, the ELBO terms against hand values, one step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument
from atelier.models import build_model
from atelier.models.vae import vae_loss

from .helpers import TINY, assert_all_grads, assert_finite_scalar, assert_unit_range


def _vae(resolution=16, channels=1, **kw):
    return build_model("vae", {"resolution": resolution, "channels": channels, "width": 8, "latent_dim": 4, **kw})


@pytest.mark.parametrize("resolution, channels", TINY)
def test_shapes_and_range(resolution, channels):
    vae = _vae(resolution, channels)
    x = torch.rand(3, channels, resolution, resolution)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (3, 4)
    x_rec, mu2, _ = vae(x)
    assert x_rec.shape == x.shape and torch.equal(mu, mu2)
    assert_unit_range(x_rec)
    assert_unit_range(vae.decode(torch.randn(2, 4)))
    assert vae.sample(2).shape == (2, channels, resolution, resolution)


def test_kl_hand_values():
    """KL(N(mu, s^2) || N(0, 1)) = 0.5 (mu^2 + s^2 - 1 - log s^2) per unit (Kingma & Welling
    2014, appendix B): 0 for (0, 0); 0.5 for mu = 1, logvar = 0; 0.5 (e - 2) for mu = 0, logvar = 1."""
    x, logits = torch.full((1, 1, 2, 2), 0.5), torch.zeros(1, 1, 2, 2)
    assert vae_loss(x, logits, torch.zeros(1, 3), torch.zeros(1, 3))["kl"].item() == pytest.approx(0.0)
    assert vae_loss(x, logits, torch.ones(1, 3), torch.zeros(1, 3))["kl"].item() == pytest.approx(1.5)
    kl = vae_loss(x, logits, torch.zeros(1, 1), torch.ones(1, 1))["kl"].item()
    assert kl == pytest.approx(0.5 * (torch.e - 2.0), rel=1e-6)


def test_recon_terms_and_beta():
    """Bernoulli recon = torch BCE on sigmoid outputs, summed per image; Gaussian recon =
    sum of squares / (2 sigma^2); total = recon + beta * kl."""
    torch.manual_seed(0)
    x, logits = torch.rand(2, 1, 3, 3), torch.randn(2, 1, 3, 3)
    mu, logvar = torch.randn(2, 4), torch.randn(2, 4)
    out = vae_loss(x, logits, mu, logvar, beta=4.0)
    ref = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / 2
    assert out["recon"].item() == pytest.approx(ref.item(), rel=1e-5)
    assert out["total"].item() == pytest.approx(out["recon"].item() + 4.0 * out["kl"].item(), rel=1e-6)
    g = vae_loss(x, logits, mu, logvar, recon="gaussian", recon_sigma=0.5)
    ref_g = ((torch.sigmoid(logits) - x) ** 2).sum() / (2 * 0.25) / 2
    assert g["recon"].item() == pytest.approx(ref_g.item(), rel=1e-5)


def test_reparameterize_seeded():
    vae = _vae()
    mu, logvar = torch.zeros(3, 4), torch.zeros(3, 4)
    a = vae.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, torch.randn(3, 4, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(vae.reparameterize(mu + 2, logvar - 100), mu + 2)  # sigma ~ 0


def test_sample_deterministic_and_unconditional():
    vae = _vae(32, 3)
    a = vae.sample(3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, vae.sample(3, generator=torch.Generator().manual_seed(2)))
    assert not torch.equal(a, vae.sample(3, generator=torch.Generator().manual_seed(9)))
    with pytest.raises(InvalidArgument, match="unconditional"):
        vae.sample(3, labels=[0, 1, 2])


@pytest.mark.parametrize("recon", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("resolution, channels", TINY)
def test_one_step(recon, resolution, channels):
    torch.manual_seed(0)
    vae = _vae(resolution, channels, recon=recon, beta=0.5).train()
    out = vae.loss(torch.rand(4, channels, resolution, resolution), generator=torch.Generator().manual_seed(0))
    for v in out.values():
        assert_finite_scalar(v)
    assert out["kl"].item() >= 0
    out["total"].backward()
    assert_all_grads(vae)
    torch.optim.Adam(vae.parameters(), 1e-3).step()
