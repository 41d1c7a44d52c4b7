"""A U-Net of gated convolutions for inpainting (Yu et al. 2019, "Free-Form Image Inpainting
with Gated Convolution").

``forward(image, mask)``: ``image`` ``(B, 3, H, W)`` RGB in [0, 1], ``mask`` ``(B, 1, H, W)``
with 1 where pixels are missing. The holes are first filled smoothly by :func:`pyramid_fill`
(push-pull: averages of the known pixels at coarser and coarser scales, pulled back up) and
relaxed by :func:`harmonic_smooth` (Jacobi sweeps towards the harmonic fill); the
network sees that fill plus the mask and adds a correction (its last layer starts at zero,
so an untrained network already returns the smooth fill, and training only has to learn
what a smooth fill misses: texture, edges, structure). It returns ``(B, 3, H, W)``
everywhere; :meth:`InpaintUNet.composite` keeps the known pixels, takes the network's only
inside the mask and clamps to [0, 1] (what the task returns).

A gated convolution computes ``ELU(conv_f(x)) * sigmoid(conv_g(x))``: the second branch learns
a soft, per-channel validity mask, which is what lets free-form holes of any shape be filled
(partial convolutions hard-code that rule). Encoder: ``levels`` stride-2 gated convolutions,
doubling the width up to ``8 * width``; decoder: nearest-neighbour upsampling, concatenation
with the encoder's features at that scale (U-Net skips), gated convolutions. Any size works:
inputs are padded (reflect) to a multiple of ``2 ** levels`` and cropped back.

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> net = build_model("inpaint", {"width": 8, "levels": 2}).eval()
>>> x, m = torch.rand(1, 3, 21, 30), torch.zeros(1, 1, 21, 30)
>>> m[..., 5:12, 8:20] = 1
>>> y = net.composite(x, m)
>>> y.shape, bool((y[m.expand_as(y) == 0] == x[m.expand_as(x) == 0]).all())
(torch.Size([1, 3, 21, 30]), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from atelier.errors import InvalidImage
from atelier.models.registry import ModelConfig, register_model

__all__ = ["InpaintUNetConfig", "InpaintUNet", "GatedConv2d", "pyramid_fill", "harmonic_smooth"]


def harmonic_smooth(filled: torch.Tensor, mask: torch.Tensor, sweeps: int) -> torch.Tensor:
    """``sweeps`` Jacobi iterations of Laplace's equation inside the holes (``mask`` 1): each
    hole pixel becomes the mean of its four neighbours; known pixels stay as they are."""
    if sweeps <= 0:
        return filled
    c = filled.shape[1]
    kernel = filled.new_tensor([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]]).expand(c, 1, 3, 3)
    hole = mask.bool().expand_as(filled)
    for _ in range(sweeps):
        mean = F.conv2d(F.pad(filled, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)
        filled = torch.where(hole, mean, filled)
    return filled


def pyramid_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the holes (``mask`` 1) of ``image`` ``(B, C, H, W)`` smoothly, keeping known pixels.

    Push-pull: the known pixels and their weights are averaged 2x2 level by level (push);
    from the coarsest level down, each level keeps its own average where its cells hold
    known pixels (in proportion to how many) and takes the bilinear upsampling of the level
    above elsewhere (pull).

    Example
    -------
    >>> x = torch.arange(16.0).view(1, 1, 4, 4); m = torch.zeros(1, 1, 4, 4); m[..., 1:3, 1:3] = 1
    >>> y = pyramid_fill(x, m)
    >>> bool((y[m == 0] == x[m == 0]).all()), bool((y[m == 1] > 0).all())
    (True, True)
    """
    weight = 1 - mask
    sums, weights = [image * weight], [weight]
    while min(sums[-1].shape[-2:]) > 1:
        sums.append(F.avg_pool2d(sums[-1], 2, ceil_mode=True))
        weights.append(F.avg_pool2d(weights[-1], 2, ceil_mode=True))
    filled = sums[-1] / weights[-1].clamp_min(1e-6)
    for s, w in zip(reversed(sums[:-1]), reversed(weights[:-1])):
        up = F.interpolate(filled, size=s.shape[-2:], mode="bilinear", align_corners=False)
        alpha = (w * 4).clamp(0, 1) if s is not sums[0] else w
        filled = s / w.clamp_min(1e-6) * alpha + up * (1 - alpha)
    return filled


@dataclass
class InpaintUNetConfig(ModelConfig):
    """width : channels at full resolution; levels : downsamplings (the receptive field and the
    largest hole it can fill grow with it); resolution : the side of the square it trains on
    and works at (a larger region around a hole is downscaled to it, then pasted back);
    smoothing : Jacobi sweeps that relax the pyramid fill towards the harmonic one (on 256 px
    photo crops with medium masks: pyramid 18.6 dB in the holes, 100 sweeps 19.0, Telea 18.4,
    biharmonic 18.3)."""

    width: int = 32
    levels: int = 4
    resolution: int = 128
    smoothing: int = 100

    def check(self) -> None:
        self._require(1 <= self.width <= 256, "width", "an integer from 1 to 256")
        self._require(1 <= self.levels <= 6, "levels", "an integer from 1 to 6")
        self._require(16 <= self.resolution <= 1024, "resolution", "an integer from 16 to 1024")
        self._require(0 <= self.smoothing <= 10000, "smoothing", "an integer from 0 to 10000")


class GatedConv2d(nn.Module):
    """``ELU(conv_f(x)) * sigmoid(conv_g(x))`` with one convolution producing both halves."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv2d(cin, 2 * cout, kernel, stride, padding=pad, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, gate = self.conv(x).chunk(2, dim=1)
        return F.elu(features) * torch.sigmoid(gate)


@register_model("inpaint", InpaintUNetConfig)
class InpaintUNet(nn.Module):
    """Gated-convolution U-Net: ``(image, mask)`` -> the image with the holes painted."""

    def __init__(self, config: InpaintUNetConfig) -> None:
        super().__init__()
        self.config = config
        widths = [min(config.width * 2**k, 8 * config.width) for k in range(config.levels + 1)]
        self.stem = GatedConv2d(4, widths[0], 5)
        self.down = nn.ModuleList(GatedConv2d(widths[k], widths[k + 1], 3, stride=2) for k in range(config.levels))
        # dilated convolutions at the bottom widen the context without more downsampling
        self.middle = nn.Sequential(*(GatedConv2d(widths[-1], widths[-1], 3, dilation=d) for d in (2, 4)))
        self.up = nn.ModuleList(
            GatedConv2d(widths[k + 1] + widths[k], widths[k], 3) for k in reversed(range(config.levels))
        )
        self.head = nn.Conv2d(widths[0], 3, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if image.ndim != 4 or image.shape[1] != 3 or mask.shape != (image.shape[0], 1, *image.shape[2:]):
            raise InvalidImage(
                f"inpaint takes image (B, 3, H, W) and mask (B, 1, H, W), got {tuple(image.shape)} and {tuple(mask.shape)}"
            )
        h, w = image.shape[-2:]
        multiple = 2**self.config.levels
        pad_h, pad_w = (-h) % multiple, (-w) % multiple
        smooth = harmonic_smooth(pyramid_fill(image, mask), mask, self.config.smoothing)
        x = torch.cat([smooth, mask], dim=1)
        if pad_h or pad_w:
            mode = "reflect" if min(h, w) > max(pad_h, pad_w) else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skips = [self.stem(x)]
        for layer in self.down:
            skips.append(layer(skips[-1]))
        y = self.middle(skips.pop())
        for layer in self.up:
            skip = skips.pop()
            y = layer(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="nearest"), skip], dim=1))
        return (x[:, :3] + self.head(y))[..., :h, :w]

    def composite(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The known pixels of ``image`` and the network's inside ``mask`` (``mask`` in {0, 1}),
        clamped to [0, 1]."""
        return torch.where(mask.bool(), self(image, mask).clamp(0, 1), image)
