"""Tests for atelier.models.cgan: conditional sampling, projection discriminator, one step."""

from __future__ import annotations

import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model, get_gan_loss, gradient_penalty

from .helpers import TINY, assert_all_grads, assert_finite_scalar, assert_unit_range


def _gan(resolution=16, channels=1, **kw):
    cfg = {"resolution": resolution, "channels": channels, "width": 8, "latent_dim": 8, "num_classes": 3}
    return build_model("cgan", {**cfg, "embed_dim": 4, **kw})


@pytest.mark.parametrize("resolution, channels", TINY)
def test_shapes_and_range(resolution, channels):
    gan = _gan(resolution, channels)
    y = torch.tensor([0, 2, 1])
    images = gan(torch.randn(3, 8), y)
    assert images.shape == (3, channels, resolution, resolution)
    assert_unit_range(images)
    assert gan.discriminator(images, y).shape == (3,)
    assert gan.sample(5).shape == (5, channels, resolution, resolution)


def test_defaults_follow_projection_paper():
    """Miyato & Koyama 2018 train the projection discriminator with hinge loss and SN."""
    cfg = _gan().config
    assert cfg.loss == "hinge" and cfg.spectral_norm


def test_labels_change_images_and_sampling_is_seeded():
    gan = _gan()
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    a = gan.sample(3, labels=0, generator=g())
    assert torch.equal(a, gan.sample(3, labels=[0, 0, 0], generator=g()))
    assert not torch.equal(a, gan.sample(3, labels=1, generator=g()))
    assert torch.equal(gan.sample(3, generator=g()), gan.sample(3, labels=[0, 1, 2], generator=g()))


def test_label_errors():
    gan = _gan()
    with pytest.raises(InvalidArgument, match="0..2"):
        gan.sample(2, labels=3)
    with pytest.raises(InvalidArgument, match="2 integers"):
        gan.sample(2, labels=[0, 1, 2])


def test_projection_formula():
    """D(x, y) = linear(h) + <embed(y), h> with h the summed features (Miyato & Koyama 2018, eq. 3)."""
    d = _gan(loss="nonsaturating", spectral_norm=False).discriminator.eval()
    x, y = torch.rand(3, 1, 16, 16), torch.tensor([2, 0, 1])
    with torch.no_grad():
        h = d.body(2 * x - 1).sum(dim=(2, 3))
        expected = h @ d.linear.weight[0] + d.linear.bias + (d.embed.weight[y] * h).sum(1)
        assert torch.allclose(d(x, y), expected, atol=1e-6)


@pytest.mark.parametrize("loss, sn", [("hinge", True), ("nonsaturating", False), ("wgan-gp", False)])
@pytest.mark.parametrize("resolution, channels", TINY)
def test_one_step_per_loss(loss, sn, resolution, channels):
    torch.manual_seed(0)
    gan = _gan(resolution, channels, loss=loss, spectral_norm=sn).train()
    d_loss, g_loss = get_gan_loss(loss)
    real, y = torch.rand(4, channels, resolution, resolution), torch.tensor([0, 1, 2, 1])
    fake = gan(torch.randn(4, 8), y)

    loss_d = d_loss(gan.discriminator(real, y), gan.discriminator(fake.detach(), y))
    if loss == "wgan-gp":
        loss_d = loss_d + 10.0 * gradient_penalty(lambda x: gan.discriminator(x, y), real, fake.detach())
    # the class head learns real labels (the objective's class term)
    loss_d = loss_d + torch.nn.functional.cross_entropy(gan.discriminator.classify(gan.discriminator.features(real)), y)
    assert_finite_scalar(loss_d)
    loss_d.backward()
    assert_all_grads(gan.discriminator)
    torch.optim.Adam(gan.discriminator.parameters(), 2e-4).step()

    gan.generator.zero_grad()
    loss_g = g_loss(gan.discriminator(fake, y))
    assert_finite_scalar(loss_g)
    loss_g.backward()
    assert_all_grads(gan.generator)
