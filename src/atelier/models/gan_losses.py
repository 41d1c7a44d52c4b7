"""GAN losses as pure functions of discriminator logits, plus the WGAN-GP gradient penalty.

Three losses, looked up by the config's ``loss`` name with :func:`get_gan_loss`:

- ``nonsaturating`` — Goodfellow et al. 2014, the "-log D" generator loss:
  ``d = softplus(-real) + softplus(fake)``, ``g = softplus(-fake)``;
- ``hinge`` — Lim & Ye 2017 / Miyato et al. 2018:
  ``d = relu(1 - real) + relu(1 + fake)``, ``g = -fake``;
- ``wgan-gp`` — Gulrajani et al. 2017: ``d = fake - real`` (+ ``lambda * gradient_penalty``,
  added by the objective), ``g = -fake``.

The relativistic average loss (Jolicoeur-Martineau 2019, ESRGAN's) takes both batches in its
generator loss too, so it is not in that table: :func:`relativistic_d_loss` and
:func:`relativistic_g_loss`.

Each loss is the batch mean. Logits are ``(B,)`` tensors, as the discriminators return.

Example
-------
>>> import torch
>>> d_loss, g_loss = get_gan_loss("hinge")
>>> d_loss(torch.tensor([2.0]), torch.tensor([-2.0])).item()
0.0
>>> g_loss(torch.tensor([0.5])).item()
-0.5
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument, lookup

__all__ = [
    "GANLoss",
    "GAN_LOSSES",
    "get_gan_loss",
    "nonsaturating_d_loss",
    "nonsaturating_g_loss",
    "hinge_d_loss",
    "hinge_g_loss",
    "wgan_d_loss",
    "wgan_g_loss",
    "gradient_penalty",
    "relativistic_d_loss",
    "relativistic_g_loss",
]


def nonsaturating_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``mean(-log sigmoid(real)) + mean(-log(1 - sigmoid(fake)))`` (binary cross-entropy)."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def nonsaturating_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """``mean(-log sigmoid(fake))``, the non-saturating generator loss."""
    return F.softplus(-fake).mean()


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``mean(relu(1 - real)) + mean(relu(1 + fake))``."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """``-mean(fake)``."""
    return -fake.mean()


def wgan_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Critic loss ``mean(fake) - mean(real)`` (add the gradient penalty separately)."""
    return fake.mean() - real.mean()


def wgan_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """``-mean(fake)``."""
    return -fake.mean()


def relativistic_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """RaGAN critic loss: real judged against the mean fake and the reverse, each a binary
    cross-entropy, averaged: ``(softplus(-(real - mean fake)) + softplus(fake - mean real)) / 2``.

    Logits of any shape (``(B,)`` or PatchGAN's ``(B, 1, h, w)``: the means run over every
    element). Reference: Jolicoeur-Martineau (2019), "The relativistic discriminator", eq. 6-7;
    Wang et al. (2018), ESRGAN, eq. 1 (BasicSR halves each term the same way).

    >>> round(relativistic_d_loss(torch.tensor([3.0]), torch.tensor([-3.0])).item(), 4)
    0.0025
    """
    return 0.5 * (F.softplus(fake.mean() - real).mean() + F.softplus(fake - real.mean()).mean())


def relativistic_g_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """RaGAN generator loss, the critic's with the roles swapped (ESRGAN eq. 2): the
    generator gains from the real logits too, so ``real`` should come from the critic without
    a graph to its parameters (its gradient goes to ``fake`` only)."""
    return 0.5 * (F.softplus(real - fake.mean()).mean() + F.softplus(real.mean() - fake).mean())


def gradient_penalty(
    d: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    alpha: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``mean((||grad_x d(x_hat)||_2 - 1)**2)`` on random interpolates.

    Parameters
    ----------
    d : callable
        The critic, ``(B, ...) -> (B,)`` logits (wrap a conditional one: ``lambda x: D(x, y)``).
    real, fake : torch.Tensor
        ``(B, C, H, W)`` batches of the same shape.
    alpha : torch.Tensor, optional
        ``(B,)`` interpolation weights in [0, 1]; drawn uniformly with ``generator`` if omitted.
    generator : torch.Generator, optional
        Source of ``alpha``.

    Returns
    -------
    torch.Tensor
        A scalar, differentiable with respect to the critic's parameters (``create_graph``).

    Reference
    ---------
    Gulrajani et al. (2017), "Improved Training of Wasserstein GANs", Algorithm 1 (lambda = 10
    is applied by the caller).
    """
    if real.shape != fake.shape:
        raise InvalidArgument(
            f"real and fake batches must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    b = real.shape[0]
    if alpha is None:
        where = generator.device if generator is not None else real.device
        alpha = torch.rand(b, generator=generator, device=where).to(real.device, real.dtype)
    alpha = alpha.reshape(b, *([1] * (real.ndim - 1)))
    # Gradients flow back into real/fake only if they require grad (detach fakes in a D step).
    x_hat = alpha * real + (1.0 - alpha) * fake
    if not x_hat.requires_grad:
        x_hat.requires_grad_(True)
    out = d(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.reshape(b, -1).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()


class GANLoss(NamedTuple):
    """The discriminator and generator losses of one GAN objective."""

    d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g_loss: Callable[[torch.Tensor], torch.Tensor]


GAN_LOSSES: dict[str, GANLoss] = {
    "nonsaturating": GANLoss(nonsaturating_d_loss, nonsaturating_g_loss),
    "hinge": GANLoss(hinge_d_loss, hinge_g_loss),
    "wgan-gp": GANLoss(wgan_d_loss, wgan_g_loss),
}


def get_gan_loss(name: str) -> GANLoss:
    """``(d_loss, g_loss)`` for ``name``; ``UnknownName`` with the known names otherwise."""
    return lookup(GAN_LOSSES, name, "GAN loss")
