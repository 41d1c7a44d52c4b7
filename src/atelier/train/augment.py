"""Batch augmentation on tensors: random resized crop and horizontal flip, in one resampling.

The light augmentation of few-shot fine-tuning (torchvision's ``RandomResizedCrop`` +
``RandomHorizontalFlip``, as timm's training transforms use them), done on a whole
``(B, C, H, W)`` batch on its own device with one ``grid_sample``: each image gets a crop
box of area ``scale`` times its own and aspect ratio in ``ratio`` (log-uniform), at a uniform
position inside the image, resampled (bilinear) to the batch's size and mirrored with
probability 1/2. The draws come from ``generator`` (the Trainer's step generator, which its
checkpoints carry), so a run and its resumed copy see the same crops.

Example
-------
>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> out = random_resized_crop_flip(torch.rand(4, 3, 32, 32), g)
>>> tuple(out.shape), bool(out.min() >= 0) and bool(out.max() <= 1)
((4, 3, 32, 32), True)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["random_resized_crop_flip"]


def random_resized_crop_flip(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    scale: tuple[float, float] = (0.35, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
) -> torch.Tensor:
    """Randomly crop (area fraction in ``scale``, aspect in ``ratio``), resize back and flip.

    Parameters
    ----------
    images : ``(B, C, H, W)`` float tensor in [0, 1].
    generator : a CPU ``torch.Generator`` for the draws.
    scale, ratio : ranges of the crop's area fraction and width/height ratio.
    flip : mirror left-right with probability 1/2.

    Returns
    -------
    ``(B, C, H, W)`` tensor of the same dtype and device, in [0, 1].
    """
    b = images.shape[0]
    area = torch.empty(b).uniform_(scale[0], scale[1], generator=generator)
    log_ratio = torch.empty(b).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = log_ratio.exp()
    # width and height as fractions of the image's, clamped to fit inside it
    w = (area * aspect).sqrt().clamp(max=1.0)
    h = (area / aspect).sqrt().clamp(max=1.0)
    # centres in normalised [-1, 1] coordinates, uniform over the positions that fit
    cx = (torch.rand(b, generator=generator) * 2 - 1) * (1 - w)
    cy = (torch.rand(b, generator=generator) * 2 - 1) * (1 - h)
    sign = torch.ones(b)
    if flip:
        sign = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    theta = theta.to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.clamp(0.0, 1.0)
