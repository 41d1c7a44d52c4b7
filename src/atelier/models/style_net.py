"""Feed-forward style transfer network (Johnson, Alahi & Fei-Fei 2016), one style per model.

``forward(x)`` takes ``(B, 3, H, W)`` RGB in [0, 1] and returns the stylised batch of the
same size, in [0, 1]. The layout is Johnson et al.'s with the two changes everyone adopted:

- instance normalisation instead of batch normalisation (Ulyanov et al. 2016, "Instance
  Normalization: The Missing Ingredient for Fast Stylization"), affine;
- upsampling by nearest-neighbour resize then a convolution instead of transposed
  convolutions, which avoids checkerboard artifacts (Odena et al. 2016, Distill).

Reflection padding everywhere; 9x9 convolutions at the ends, two stride-2 3x3 downsamplings,
``blocks`` residual blocks at a quarter of the resolution, two resize-convolutions back up.
Any size works: the input is reflect-padded to a multiple of 4 and the output cropped back,
so the output size always equals the input size (odd sizes included).

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> net = build_model("style", {"width": 8, "blocks": 1}).eval()
>>> net(torch.rand(1, 3, 37, 50)).shape
torch.Size([1, 3, 37, 50])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from atelier.errors import InvalidImage
from atelier.models.registry import ModelConfig, register_model

__all__ = ["StyleNetConfig", "StyleNet", "MIN_SIDE"]

#: Smallest input side (the 9x9 reflection-padded convolutions need more than 4 pixels).
MIN_SIDE = 8


@dataclass
class StyleNetConfig(ModelConfig):
    """width : channels of the first layer (Johnson: 32; the residual blocks use 4x).
    blocks : residual blocks (Johnson: 5)."""

    width: int = 32
    blocks: int = 5

    def check(self) -> None:
        self._require(1 <= self.width <= 256, "width", "an integer from 1 to 256")
        self._require(1 <= self.blocks <= 32, "blocks", "an integer from 1 to 32")


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride))


def _conv_norm_relu(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(_conv(cin, cout, kernel, stride), nn.InstanceNorm2d(cout, affine=True), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_norm_relu(width, width, 3), _conv(width, width, 3), nn.InstanceNorm2d(width, affine=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Upsample(nn.Module):
    """Nearest-neighbour 2x, then conv-IN-ReLU (no checkerboard)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = _conv_norm_relu(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


@register_model("style", StyleNetConfig)
class StyleNet(nn.Module):
    """Johnson et al.'s image transformation network, ``(B, 3, H, W)`` -> same, in [0, 1]."""

    def __init__(self, config: StyleNetConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.down = nn.Sequential(
            _conv_norm_relu(3, w, 9), _conv_norm_relu(w, 2 * w, 3, 2), _conv_norm_relu(2 * w, 4 * w, 3, 2)
        )
        self.res = nn.Sequential(*(_Residual(4 * w) for _ in range(config.blocks)))
        self.up = nn.Sequential(_Upsample(4 * w, 2 * w), _Upsample(2 * w, w))
        self.out = _conv(w, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if x.ndim != 4 or x.shape[1] != 3 or min(h, w) < MIN_SIDE:
            raise InvalidImage(f"the style network takes (B, 3, H, W) RGB with sides >= {MIN_SIDE}, got {tuple(x.shape)}")
        pad_h, pad_w = (-h) % 4, (-w) % 4
        z = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x
        y = self.out(self.up(self.res(self.down(z * 2 - 1))))
        # a sigmoid keeps [0, 1] without the dead gradients of clamping
        return torch.sigmoid(y)[..., :h, :w]
