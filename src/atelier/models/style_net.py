"""Feed-forward style transfer network (Johnson, Alahi & Fei-Fei 2016), one style per model.

``forward(x)`` takes ``(B, 3, H, W)`` RGB in [0, 1] and returns the stylised batch of the
same size, in [0, 1]. The layout is Johnson et al.'s with the two changes everyone adopted:

- instance normalisation instead of batch normalisation (Ulyanov et al. 2016, "Instance
  Normalization: The Missing Ingredient for Fast Stylization"), affine;
- upsampling by nearest-neighbour resize then a convolution instead of transposed
  convolutions, which avoids checkerboard artifacts (Odena et al. 2016, Distill).

Reflection padding everywhere (``padding``); 9x9 convolutions at the ends, two stride-2 3x3 downsamplings,
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
from typing import Literal

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
    """width : channels of the first layer (Johnson: 32); the downsamplings give ``2 * width``
    then ``res_width``. blocks : residual blocks (Johnson: 5). res_width : channels of the
    residual blocks (0: ``4 * width``, Johnson's 128). up_width : channels of the last
    upsampling, the first has twice as many (0: ``width``, Johnson's 64 then 32).

    out_kernel : the last convolution's kernel (Johnson: 9). padding : ``reflect``
    (Johnson's) or ``zeros``.

    The shipped styles use a light variant (``width=16, res_width=48, up_width=8, blocks=3,
    out_kernel=3, padding=zeros``): about 6 GFLOP at 512 x 512 against Johnson's 80, like
    the small networks of mobile style-transfer demos (the style is mostly made at a quarter
    of the resolution); zero padding because reflection padding copies every feature map
    (a quarter of the time on a CPU)."""

    width: int = 32
    blocks: int = 5
    res_width: int = 0
    up_width: int = 0
    out_kernel: int = 9
    padding: Literal["reflect", "zeros"] = "reflect"

    def check(self) -> None:
        self._require(1 <= self.width <= 256, "width", "an integer from 1 to 256")
        self._require(1 <= self.blocks <= 32, "blocks", "an integer from 1 to 32")
        self._require(0 <= self.res_width <= 1024, "res_width", "an integer from 0 (4 x width) to 1024")
        self._require(0 <= self.up_width <= 256, "up_width", "an integer from 0 (width) to 256")
        self._require(self.out_kernel in (1, 3, 5, 7, 9), "out_kernel", "1, 3, 5, 7 or 9")


class _InstanceNorm(nn.Module):
    """Affine instance normalisation, the same result as ``nn.InstanceNorm2d(c, affine=True)``
    but fast on channels-last tensors: the statistics are taken over the ``(N, H*W, C)`` view
    (mean and mean of squares, one pass each) and applied with one ``addcmul``. The built-in
    copies channels-last maps to NCHW and back, and ``var_mean`` over the strided spatial
    dimensions is ten times slower: together half the network's time at 1024 px."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        flat = x.permute(0, 2, 3, 1).reshape(n, -1, c)  # a view when x is channels-last
        mean = flat.mean(1)
        var = ((flat * flat).mean(1) - mean * mean).clamp_min(0)
        scale = self.weight * torch.rsqrt(var + self.eps)
        shift = self.bias - mean * scale
        return torch.addcmul(shift.view(n, c, 1, 1), x, scale.view(n, c, 1, 1))


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: str = "reflect") -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, padding_mode=padding)


def _conv_norm_relu(cin: int, cout: int, kernel: int, stride: int = 1, padding: str = "reflect") -> nn.Sequential:
    return nn.Sequential(_conv(cin, cout, kernel, stride, padding), _InstanceNorm(cout), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, width: int, padding: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_norm_relu(width, width, 3, 1, padding), _conv(width, width, 3, 1, padding), _InstanceNorm(width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Upsample(nn.Module):
    """Nearest-neighbour 2x, then conv-IN-ReLU (no checkerboard)."""

    def __init__(self, cin: int, cout: int, padding: str) -> None:
        super().__init__()
        self.conv = _conv_norm_relu(cin, cout, 3, 1, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


@register_model("style", StyleNetConfig)
class StyleNet(nn.Module):
    """Johnson et al.'s image transformation network, ``(B, 3, H, W)`` -> same, in [0, 1]."""

    def __init__(self, config: StyleNetConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        r = config.res_width or 4 * w
        u = config.up_width or w
        p = config.padding
        self.down = nn.Sequential(
            _conv_norm_relu(3, w, 9, 1, p), _conv_norm_relu(w, 2 * w, 3, 2, p), _conv_norm_relu(2 * w, r, 3, 2, p)
        )
        self.res = nn.Sequential(*(_Residual(r, p) for _ in range(config.blocks)))
        self.up = nn.Sequential(_Upsample(r, 2 * u, p), _Upsample(2 * u, u, p))
        self.out = _conv(u, 3, config.out_kernel, 1, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if x.ndim != 4 or x.shape[1] != 3 or min(h, w) < MIN_SIDE:
            raise InvalidImage(f"the style network takes (B, 3, H, W) RGB with sides >= {MIN_SIDE}, got {tuple(x.shape)}")
        pad_h, pad_w = (-h) % 4, (-w) % 4
        z = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x
        # channels-last: oneDNN's convolutions run about 1.5x faster on it on a CPU
        z = (z * 2 - 1).contiguous(memory_format=torch.channels_last)
        y = self.out(self.up(self.res(self.down(z)))).contiguous()
        # a sigmoid keeps [0, 1] without the dead gradients of clamping
        return torch.sigmoid(y)[..., :h, :w]
