"""Projected-GAN features: frozen EfficientNet-Lite0 stages, then fixed random mixing.

Sauer, Chitta, Müller & Geiger (2021), "Projected GANs Converge Faster", NeurIPS
(arXiv:2111.01007), section 3. A discriminator that judges an image through a pretrained
classifier's features trains faster and better than one that learns its features from
scratch; two fixed, random layers spread those features so that the discriminators cannot
focus on a few of them:

- **cross-channel mixing** (CCM): a random 1x1 convolution on each of four feature maps;
- **cross-scale mixing** (CSM): a random top-down feature pyramid: the deepest map, 1x1-
  convolved and bilinearly upsampled 2x, is added to the next one, and so on (the fusion
  blocks of their ``projector.py``, channel "expansion" on, ``cout = 64``).

The four maps are the EfficientNet-Lite0 stages the authors tap (``tf_efficientnet_lite0``
blocks 0-1, 2, 3-4, 5-6, at strides 4, 8, 16, 32: 24, 40, 112 and 320 channels); after
mixing they have 64, 64, 128 and 256 channels at strides 2, 4, 8 and 16 of the input.

The ImageNet network is frozen and shared: it is held outside the module tree (one copy per
input size and device, built on first use), so it is neither trained, nor saved in a GAN's
weights, nor copied by the Trainer's EMA. The random mixing layers are drawn from a fixed
seed, frozen, and saved with the discriminator (0.3 M numbers), so a resumed or reloaded
discriminator sees exactly the features it was trained on.

Example
-------
>>> import torch
>>> proj = ProjectedFeatures(size=64)
>>> feats = proj(torch.rand(2, 1, 32, 32))
>>> [tuple(f.shape[1:]) for f in feats]
[(64, 32, 32), (64, 16, 16), (128, 8, 8), (256, 4, 4)]
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

from atelier.errors import InvalidArgument

__all__ = ["STAGE_CHANNELS", "MIXED_CHANNELS", "ProjectedFeatures", "efficientnet_stages"]

#: The taps of EfficientNet-Lite0's 16 MBConv blocks: (first, last + 1) for each of the 4 maps.
_CUTS = ((0, 3), (3, 5), (5, 11), (11, 16))
STAGE_CHANNELS = (24, 40, 112, 320)
_CCM_CHANNELS = (64, 128, 256, 512)
#: Channels of the four mixed maps (finest first).
MIXED_CHANNELS = (64, 64, 128, 256)
_MIXING_SEED = 20211118  # any fixed value: the random layers must be the same in every run

_NETS: dict[tuple[int, str], nn.Module] = {}
_LOCK = threading.Lock()


class _Stages(nn.Module):
    """The frozen EfficientNet-Lite0 trunk cut into the four tapped stages."""

    def __init__(self, size: int) -> None:
        super().__init__()
        from atelier.nets.efficientnet_backbone import EfficientNetLite0Backbone

        trunk = EfficientNetLite0Backbone(pretrained=True, image_size=size)
        self.stem = trunk.stem
        self.stages = nn.ModuleList(nn.Sequential(*trunk.blocks[a:b]) for a, b in _CUTS)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "_Stages":
        return super().train(False)  # frozen BatchNorm statistics, always

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.stem(x)
        out = []
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out


def efficientnet_stages(size: int, device: torch.device | str) -> nn.Module:
    """The shared frozen trunk for inputs of ``size`` pixels on ``device`` (built once)."""
    key = (int(size), str(torch.device(device)))
    with _LOCK:
        if key not in _NETS:
            _NETS[key] = _Stages(size).to(device)
        return _NETS[key]


class _Fuse(nn.Module):
    """One CSM step: ``up2x(x [+ skip])`` then a 1x1 convolution."""

    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + skip
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.conv(x)


class ProjectedFeatures(nn.Module):
    """``(B, C, R, R)`` in [0, 1] -> four mixed feature maps, finest first.

    Parameters
    ----------
    size : int
        Side the images are resized to (bilinear) before EfficientNet; a multiple of 32, at
        least 32. The maps come out at ``size / 2, / 4, / 8, / 16``.

    Grey images are repeated to RGB. Gradients flow to the input (the generator learns
    through the frozen network); no parameter here requires one.
    """

    channels = MIXED_CHANNELS

    def __init__(self, size: int = 64) -> None:
        super().__init__()
        if not isinstance(size, int) or size < 32 or size % 32:
            raise InvalidArgument(f"projected feature size must be a multiple of 32, >= 32; got {size!r}")
        self.size = size
        fork = torch.random.fork_rng(devices=[])
        with fork:  # drawn from a fixed seed without touching the caller's random state
            torch.manual_seed(_MIXING_SEED)
            self.ccm = nn.ModuleList(nn.Conv2d(i, o, 1) for i, o in zip(STAGE_CHANNELS, _CCM_CHANNELS))
            c = _CCM_CHANNELS
            self.csm = nn.ModuleList([
                _Fuse(c[0], c[0]),
                _Fuse(c[1], c[1] // 2),
                _Fuse(c[2], c[2] // 2),
                _Fuse(c[3], c[3] // 2),
            ])
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        from atelier.nets.efficientnet_lite0 import _MEAN, _STD, rgb_batch

        x = rgb_batch(images, None, antialias=False)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        stages = efficientnet_stages(self.size, x.device)(((x - _MEAN) / _STD).to(x.dtype))
        mixed = [ccm(f) for ccm, f in zip(self.ccm, stages)]
        out3 = self.csm[3](mixed[3])
        out2 = self.csm[2](out3, mixed[2])
        out1 = self.csm[1](out2, mixed[1])
        out0 = self.csm[0](out1, mixed[0])
        return [out0, out1, out2, out3]
