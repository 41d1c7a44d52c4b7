"""Ex-post density estimation: a Gaussian mixture fitted to a trained VAE's latent codes.

A VAE's aggregate posterior (the codes of real images) does not fill the N(0, I) prior it was
trained towards; decoding prior draws that fall in its holes gives the blurry, ambiguous
samples VAEs are known for. Fitting a full-covariance Gaussian mixture to the posterior means
of training images after training, and sampling from it, fixes most of this (Ghosh et al.
2020, "From Variational to Deterministic Autoencoders", section 4; Dai & Wipf 2019 make the
same diagnosis). Measured on MNIST 32x32 (a 3,000-step VAE, the benchmark's digit classifier as
judge, 5,000 samples): Inception Score 6.31 from N(0, I), 8.71 from a 10-component mixture,
9.32 from 50 components; reconstructions of real digits score 9.52.

A conditional VAE gets one mixture per class (:class:`ClassLatentGMM`), fitted to the codes
of that class's images: its N(0, I) draws often carry another digit's identity, which the
label cannot override (a 3,000-step MNIST CVAE drew the asked digit 67.8 % of the time).

The mixtures live in buffers, so they are saved and loaded with the model's weights.

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

__all__ = ["LatentGMM", "ClassLatentGMM"]


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


class ClassLatentGMM(nn.Module):
    """One :class:`LatentGMM` per class: ``fit(codes, labels)``, ``sample(labels)``.

    >>> prior = ClassLatentGMM(num_classes=2, components=1, dim=2)
    >>> prior.fit(torch.cat([torch.randn(50, 2) - 5, torch.randn(50, 2) + 5]), torch.tensor([0] * 50 + [1] * 50))
    >>> z = prior.sample(torch.tensor([0, 1, 1]), generator=torch.Generator().manual_seed(0), device="cpu")
    >>> (z[:, 0] > 0).tolist()
    [False, True, True]
    """

    def __init__(self, num_classes: int, components: int, dim: int) -> None:
        super().__init__()
        self.classes = nn.ModuleList(LatentGMM(components, dim) for _ in range(num_classes))

    def fit(self, codes: torch.Tensor, labels: torch.Tensor, *, seed: int = 0) -> None:
        """Fit class ``k``'s mixture to ``codes[labels == k]``; a class without codes keeps N(0, I)."""
        labels = torch.as_tensor(labels).long().cpu()
        if len(labels) != len(codes):
            raise InvalidArgument(f"{len(codes)} latent codes but {len(labels)} labels")
        for k, prior in enumerate(self.classes):
            mine = codes[labels == k]
            if len(mine) >= 2:
                prior.fit(mine, seed=seed)

    def sample(self, labels: torch.Tensor, *, generator: torch.Generator | None, device: torch.device | str) -> torch.Tensor:
        """``(n, D)`` latents, row ``i`` from the mixture of class ``labels[i]`` (classes drawn
        in increasing order, so a seed gives the same latents)."""
        labels = labels.long().cpu()
        z = torch.empty(len(labels), self.classes[0].means.shape[1], device=device)
        for k in labels.unique().tolist():
            rows = (labels == k).nonzero().squeeze(1)
            z[rows.to(z.device)] = self.classes[k].sample(len(rows), generator=generator, device=device)
        return z
