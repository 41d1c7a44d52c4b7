"""The VAE's ex-post latent mixture (atelier.models.latent_prior)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model, save_model
from atelier.models.latent_prior import LatentGMM

TINY = {"resolution": 16, "width": 8, "latent_dim": 4, "prior_components": 3}


def test_fit_recovers_separated_clusters():
    """Three well-separated Gaussians: the fitted weights and means match the generating ones
    (EM on such data converges to them; the source is the construction itself)."""
    rng = np.random.default_rng(0)
    centres = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    codes = np.concatenate([c + rng.standard_normal((n, 2)) for c, n in zip(centres, (200, 400, 400))])
    prior = LatentGMM(3, 2)
    prior.fit(codes, seed=0)
    order = np.argsort(prior.means[:, 0].numpy() + 0.1 * prior.means[:, 1].numpy())
    assert np.allclose(prior.means.numpy()[order], centres, atol=0.2)
    assert np.allclose(prior.logits.softmax(0).numpy()[order], [0.2, 0.4, 0.4], atol=0.02)
    z = prior.sample(20_000, generator=torch.Generator().manual_seed(1), device="cpu")
    assert abs(float((z[:, 0] < -3).float().mean()) - 0.2) < 0.02  # weights honoured when sampling


def test_unfitted_prior_is_standard_normal_and_small_data_uses_fewer_components():
    prior = LatentGMM(10, 3)
    a = prior.sample(5, generator=torch.Generator().manual_seed(0), device="cpu")
    assert torch.equal(a, torch.randn(5, 3, generator=torch.Generator().manual_seed(0)))
    prior.fit(torch.randn(8, 3), seed=0)  # 8 codes: 4 components, 6 with weight 0
    assert int(torch.isfinite(prior.logits).sum()) == 4
    assert torch.isfinite(prior.sample(100, generator=None, device="cpu")).all()
    with pytest.raises(InvalidArgument, match=r"shape \(N, 3\)"):
        prior.fit(torch.randn(8, 2))


def test_vae_samples_from_its_fitted_prior_and_saves_it(tmp_path):
    torch.manual_seed(0)
    vae = build_model("vae", TINY)
    seed = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    before = vae.sample(4, generator=seed())
    vae.fit_prior(torch.rand(40, 1, 16, 16), seed=0)
    after = vae.sample(4, generator=seed())
    assert bool(vae.latent_prior.fitted) and not torch.allclose(before, after)
    save_model(vae, tmp_path / "run")
    again = load_model(tmp_path / "run")
    assert torch.equal(again.sample(4, generator=seed()), after)
    plain = build_model("vae", {**TINY, "prior_components": 0})
    plain.fit_prior(torch.rand(8, 1, 16, 16))  # no mixture: a no-op
    assert plain.latent_prior is None


def test_cvae_draws_each_label_from_its_own_mixture(tmp_path):
    """Codes of class 0 fitted near -5 and of class 1 near +5 (a fake encoder output): a CVAE
    asked for label 1 must decode latents from class 1's mixture only."""
    torch.manual_seed(0)
    cvae = build_model("cvae", {"resolution": 16, "width": 8, "latent_dim": 2, "num_classes": 2, "prior_components": 1})
    codes = torch.cat([torch.randn(30, 2) - 5, torch.randn(30, 2) + 5])
    cvae.latent_prior.fit(codes, torch.tensor([0] * 30 + [1] * 30))
    z = cvae.draw_prior(4, generator=torch.Generator().manual_seed(0), device="cpu", labels=torch.tensor([1, 0, 1, 0]))
    assert (z[:, 0] > 0).tolist() == [True, False, True, False]
    cvae.fit_prior(torch.rand(20, 1, 16, 16), torch.tensor([0, 1] * 10))  # the real path: encoder means
    images = cvae.sample(4, labels=1, generator=torch.Generator().manual_seed(1))
    save_model(cvae, tmp_path / "run")
    assert torch.equal(load_model(tmp_path / "run").sample(4, labels=1, generator=torch.Generator().manual_seed(1)), images)
    with pytest.raises(InvalidArgument, match="labelled"):
        cvae.fit_prior(torch.rand(4, 1, 16, 16))
