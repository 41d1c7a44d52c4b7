"""DRUNet: a U-Net of residual blocks with a noise-level map (Zhang et al. 2021).

``forward(x, sigma)`` takes a noisy batch ``(B, C, H, W)`` float32 in [0, 1] and the noise
level (0..255 units, a float or a ``(B,)`` tensor) and returns the denoised batch of the
same shape (not clamped). Same interface as :class:`~atelier.models.dncnn.DnCNN`, so the
denoise task, its tiling and its level estimate take either.

Layout (KAIR's ``UNetRes``): a head convolution; on each of ``levels - 1`` encoder levels
``blocks`` residual blocks then a 2x2 stride-2 convolution; ``blocks`` residual blocks at the
bottom; on the way up a 2x2 transposed convolution, the encoder's features added (skip by
sum), ``blocks`` residual blocks; a tail convolution. No batch norm, no biases. Widths double
per level from ``width`` up to ``max_width``. atelier's variant predicts the noise (output
``x - net(x)``) with the tail initialised to zero, so training starts from the identity, as
its DnCNN does; KAIR's predicts the image. Sizes that are not a multiple of ``2**(levels-1)``
are padded by reflection and cropped back.

Reference: Zhang, Li, Zuo, Zhang, Van Gool & Timofte (2021), "Plug-and-Play Image Restoration
with Deep Denoiser Prior", IEEE TPAMI (DRUNet).

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> net = build_model("drunet", {"width": 8, "max_width": 16, "blocks": 1, "levels": 3}).eval()
>>> net(torch.rand(1, 3, 9, 6), sigma=25).shape, net.size_multiple
(torch.Size([1, 3, 9, 6]), 4)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from atelier.models.layers import pad_to_multiple, sigma_map
from atelier.models.registry import ModelConfig, register_model
from atelier.models.sr import radius_of

__all__ = ["DRUNetConfig", "DRUNet"]


@dataclass
class DRUNetConfig(ModelConfig):
    """DRUNet hyper-parameters (KAIR's DRUNet: width 64, max_width 512, blocks 4, levels 4).

    channels : 1 (grey) or 3 (RGB).  width : channels of the full-resolution level.
    max_width : the cap on a level's channels (they double per level).
    blocks : residual blocks (two 3x3 convolutions each) per level, on each side.
    levels : resolutions, the full one included (2..5).
    """

    channels: int = 3
    width: int = 32
    max_width: int = 128
    blocks: int = 2
    levels: int = 4

    def check(self) -> None:
        self._require(self.channels in (1, 3), "channels", "1 (grey) or 3 (RGB)")
        self._require(1 <= self.width <= 512, "width", "an integer from 1 to 512")
        self._require(self.width <= self.max_width <= 1024, "max_width", "from width to 1024")
        self._require(1 <= self.blocks <= 16, "blocks", "an integer from 1 to 16")
        self._require(2 <= self.levels <= 5, "levels", "an integer from 2 to 5")


class _ResBlock(nn.Sequential):
    """``x + conv(relu(conv(x)))`` (KAIR's ``ResBlock``, mode "CRC")."""

    def __init__(self, width: int) -> None:
        super().__init__(
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(x)


def _blocks(width: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[_ResBlock(width) for _ in range(n)])


@register_model("drunet", DRUNetConfig)
class DRUNet(nn.Module):
    """DRUNet denoiser with a noise-level map: predicts the noise, returns ``x - noise``."""

    def __init__(self, config: DRUNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        widths = [min(c.width * 2**k, c.max_width) for k in range(c.levels)]
        self.head = nn.Conv2d(c.channels + 1, widths[0], 3, padding=1, bias=False)
        self.down = nn.ModuleList(
            nn.Sequential(_blocks(widths[k], c.blocks), nn.Conv2d(widths[k], widths[k + 1], 2, stride=2, bias=False))
            for k in range(c.levels - 1)
        )
        self.bottom = _blocks(widths[-1], c.blocks)
        self.up = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2, bias=False), _blocks(widths[k], c.blocks))
            for k in range(c.levels - 1)
        )
        self.tail = nn.Conv2d(widths[0], c.channels, 3, padding=1, bias=False)
        nn.init.zeros_(self.tail.weight)

    @property
    def size_multiple(self) -> int:
        """Sizes the network runs at without padding: ``2 ** (levels - 1)``."""
        return 2 ** (self.config.levels - 1)

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that can change an output pixel: exact, from the layer
        plan (a 2x2 stride-2 convolution reaches back as an unshuffle, a 2x2 transposed one as
        a shuffle; the skips see less than the path through the bottom)."""
        c = self.config
        convs = [("conv", 1)] * (2 * c.blocks)
        plan = [("conv", 1)]
        for _ in range(c.levels - 1):
            plan += [*convs, ("unshuffle", 2)]
        plan += convs
        for _ in range(c.levels - 1):
            plan += [("shuffle", 2), *convs]
        return radius_of([*plan, ("conv", 1)])

    @property
    def blind(self) -> bool:
        """Always False: DRUNet takes the noise level."""
        return False

    def noise(self, x: torch.Tensor, sigma: object = None) -> torch.Tensor:
        """The predicted noise ``x - forward(x, sigma)``, ``(B, C, H, W)``."""
        h, w = x.shape[-2:]
        z = pad_to_multiple(x, self.size_multiple)
        f = self.head(torch.cat([z, sigma_map(sigma, z)], dim=1))
        skips = []
        for down in self.down:
            skips.append(f)
            f = down(f)
        f = self.bottom(f)
        for up, skip in zip(reversed(self.up), reversed(skips)):
            f = up[1](up[0](f) + skip)
        return self.tail(f)[..., :h, :w]

    def forward(self, x: torch.Tensor, sigma: object = None) -> torch.Tensor:
        """``(B, C, H, W)`` noisy in [0, 1] -> denoised ``(B, C, H, W)``, not clamped."""
        return x - self.noise(x, sigma)
