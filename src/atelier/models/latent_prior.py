"""Ex-post density estimation: a Gaussian mixture fitted to a trained VAE's latent codes.

A VAE's aggregate posterior (the codes of real images) does not fill the N(0, I) prior it was
trained towards; decoding prior draws that fall in its holes gives the blurry, ambiguous
samples VAEs are known for. Fitting a full-covariance Gaussian mixture to the posterior means
of training images after training, and sampling from it, fixes most of this (Ghosh et al.
2020, "From Variational to Deterministic Autoencoders", section 4; Dai & Wipf 2019 make the
same diagnosis). Measured on MNIST 32x32 (a 3,000-step VAE, the benchmark's digit classifier as
judge, 5,000 samples): Inception Score 6.31 from N(0, I), 8.71 from a 10-component mixture,
9.32 from 50 components; reconstructions of real digits score 9.52.

The mixture lives in buffers, so it is saved and loaded with the model's weights.

Example
-------
>>> import torch
>>> prior = LatentGMM(components=2, dim=3)
>>> codes = torch.cat([torch.randn(200, 3) - 4, torch.randn(200, 3) + 4])
>>> prior.fit(codes, seed=0)
>>> z = prior.sample(1000, generator=torch.Generator().manual_seed(0), device="cpu")
>>> z.shape, bool(prior.fitted), round(float(z[:, 0].abs().mean()), 0)
(torch.Size([1000, 3]), True, 4.0)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from atelier.errors import InvalidArgument

__all__ = ["LatentGMM"]


class LatentGMM(nn.Module):
    """A ``components``-Gaussian full-covariance mixture over ``dim``-dimensional latents.

    Buffers: ``logits (K,)`` (log mixture weights), ``means (K, D)``, ``scale_tril (K, D, D)``
    (Cholesky factors of the covariances) and ``fitted`` (a 0-d bool). Until :meth:`fit` runs,
    :meth:`sample` draws from N(0, I).
    """

    def __init__(self, components: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("logits", torch.zeros(components))
        self.register_buffer("means", torch.zeros(components, dim))
        self.register_buffer("scale_tril", torch.eye(dim).repeat(components, 1, 1))
        self.register_buffer("fitted", torch.tensor(False))

    def fit(self, codes: torch.Tensor | np.ndarray, *, seed: int = 0) -> None:
        """Fit the mixture to ``codes`` ``(N, D)`` by EM (scikit-learn's ``GaussianMixture``,
        k-means initialisation, ``reg_covar`` 1e-4 keeping unused latent units well posed).
        Fewer than ``2 K`` codes fit ``N // 2`` components."""
        from sklearn.mixture import GaussianMixture

        x = codes.detach().cpu().double().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes, np.float64)
        k, d = self.means.shape
        if x.ndim != 2 or x.shape[1] != d:
            raise InvalidArgument(f"latent codes must have shape (N, {d}), got {x.shape}")
        if len(x) < 2:
            raise InvalidArgument(f"fitting a latent mixture needs at least 2 codes, got {len(x)}")
        use = min(k, len(x) // 2)  # a tiny dataset gets fewer components; the rest weigh 0
        gmm = GaussianMixture(use, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(x)
        self.logits.fill_(float("-inf"))
        self.logits[:use] = torch.as_tensor(np.log(gmm.weights_))
        self.means.zero_()
        self.means[:use] = torch.as_tensor(gmm.means_)
        self.scale_tril.copy_(torch.eye(d).repeat(k, 1, 1))
        self.scale_tril[:use] = torch.as_tensor(np.linalg.cholesky(gmm.covariances_))
        self.fitted.fill_(True)

    def sample(self, n: int, *, generator: torch.Generator | None, device: torch.device | str) -> torch.Tensor:
        """``(n, D)`` latents: component by weight, then ``mean + L @ eps`` (drawn on the
        generator's device, as :func:`~atelier.models.layers.draw_latent` does)."""
        from atelier.models.layers import draw_latent

        k, d = self.means.shape
        eps = draw_latent(n, d, generator=generator, device=device)
        if not bool(self.fitted):
            return eps
        where = generator.device if generator is not None else device
        pick = torch.multinomial(self.logits.softmax(0).to(where), n, replacement=True, generator=generator)
        pick = pick.to(self.means.device)
        z = self.means[pick] + (self.scale_tril[pick] @ eps.to(self.means.device).unsqueeze(-1)).squeeze(-1)
        return z.to(device)
