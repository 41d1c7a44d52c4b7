"""DiffAugment: differentiable augmentations applied to every image a GAN discriminator sees.

Zhao, Liu, Lin, Zhu & Han (2020), "Differentiable Augmentation for Data-Efficient GAN
Training", NeurIPS (arXiv:2006.10738). The same random colour, translation and cutout are
applied to real and fake images, in the discriminator step and in the generator step, so D
never sees an un-augmented image and the augmentation does not leak into the generator (it
is differentiable: the generator's gradient flows through it). This is what lets a GAN train
on a few hundred images, and Projected GANs use it by default.

The three policies follow the authors' reference code (``DiffAugment_pytorch.py``), on
images in [-1, 1]: ``color`` (brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]),
``translation`` (up to 1/8 of the side, zero-padded) and ``cutout`` (one square of half the
side set to zero). Here images are atelier's [0, 1] and are mapped to [-1, 1] and back, so
"zero" is mid-grey, as in the reference. Randomness comes from a ``torch.Generator`` (on its
own device), so a run resumes exactly.

Example
-------
>>> import torch
>>> x = torch.rand(4, 3, 16, 16)
>>> y = diff_augment(x, "color,translation,cutout", generator=torch.Generator().manual_seed(0))
>>> y.shape, bool((y != x).any())
(torch.Size([4, 3, 16, 16]), True)
>>> diff_augment(x, "") is x
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument

__all__ = ["POLICIES", "check_policy", "diff_augment"]

POLICIES = ("color", "translation", "cutout")


def check_policy(policy: str) -> tuple[str, ...]:
    """The policy names of a comma-separated ``policy`` ("" is none); InvalidArgument otherwise."""
    names = tuple(p.strip() for p in str(policy).split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise InvalidArgument(
            f"augment: unknown DiffAugment policy {unknown[0]!r}; use a comma-separated list of "
            f"{', '.join(POLICIES)} (or an empty string for none)"
        )
    return names


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    where = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=where).to(like.device, like.dtype)


def _integers(low: int, high: int, n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """``(n, 1, 1)`` integers in ``[low, high)``."""
    where = generator.device if generator is not None else device
    return torch.randint(low, high, (n, 1, 1), generator=generator, device=where).to(device)


def _color(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    b = x.shape[0]
    x = x + (_uniform((b, 1, 1, 1), g, x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform((b, 1, 1, 1), g, x) * 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform((b, 1, 1, 1), g, x) + 0.5) + mean


def _translation(x: torch.Tensor, g: torch.Generator | None, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = _integers(-sy, sy + 1, b, g, x.device)
    tx = _integers(-sx, sx + 1, b, g, x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # indices into the image padded by one zero pixel: a shift past the border reads the pad
    iy = (rows + ty + 1).clamp(0, h + 1).expand(b, h, w)
    ix = (cols + tx + 1).clamp(0, w + 1).expand(b, h, w)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    batch = torch.arange(b, device=x.device).view(b, 1, 1).expand(b, h, w)
    return padded[batch, iy, ix].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, g: torch.Generator | None, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = _integers(0, h + (1 - ch % 2), b, g, x.device)
    ox = _integers(0, w + (1 - cw % 2), b, g, x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = oy - ch // 2, ox - cw // 2
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: str, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a batch ``(B, C, H, W)`` in [0, 1] with the comma-separated ``policy``.

    Returns a tensor of the same shape (values may leave [0, 1], as in the reference code:
    the discriminator takes them as they are); ``x`` itself when the policy is empty.
    Differentiable with respect to ``x``. Each image gets its own random draw.
    """
    names = check_policy(policy)
    if not names:
        return x
    s = x * 2.0 - 1.0
    for name in names:
        s = _OPS[name](s, generator)
    return (s + 1.0) * 0.5
