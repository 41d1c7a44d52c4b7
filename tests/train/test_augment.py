"""Batch random-resized-crop + flip: shapes, range, determinism, and the identity / mirror cases."""

from __future__ import annotations

import torch

from atelier.train.augment import random_resized_crop_flip


def test_shape_range_and_determinism():
    x = torch.rand(6, 3, 16, 16)
    a = random_resized_crop_flip(x, torch.Generator().manual_seed(3))
    b = random_resized_crop_flip(x, torch.Generator().manual_seed(3))
    c = random_resized_crop_flip(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_full_crop_without_flip_is_the_identity_and_with_flip_a_mirror():
    """Area 1 and aspect 1: the box is the whole image, sampled at the pixel centres
    (align_corners=False), so the output is the input; flipped, it is the mirror image."""
    x = torch.rand(8, 1, 12, 12)
    same = random_resized_crop_flip(x, torch.Generator().manual_seed(0), scale=(1, 1), ratio=(1, 1), flip=False)
    assert torch.allclose(same, x, atol=1e-5)
    out = random_resized_crop_flip(x, torch.Generator().manual_seed(0), scale=(1, 1), ratio=(1, 1))
    mirrored = [torch.allclose(o, i.flip(-1), atol=1e-5) for o, i in zip(out, x)]
    kept = [torch.allclose(o, i, atol=1e-5) for o, i in zip(out, x)]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)


def test_small_crops_zoom_in():
    """A crop of a quarter of the area, resized back, shows fewer distinct columns of a ramp."""
    ramp = torch.linspace(0, 1, 32).expand(4, 1, 32, 32).contiguous()
    out = random_resized_crop_flip(ramp, torch.Generator().manual_seed(1), scale=(0.25, 0.25), ratio=(1, 1), flip=False)
    span = out[:, 0, 0, -1] - out[:, 0, 0, 0]
    assert torch.allclose(span, torch.full((4,), 0.5), atol=0.05)
