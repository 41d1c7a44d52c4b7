"""PatchGAN discriminator: a fully convolutional critic that scores overlapping patches.

pix2pix's "70 x 70 PatchGAN" (Isola et al. 2017, appendix 6.1.2; Johnson/Zhu's ``NLayerDiscriminator``):
``C64 - C128 - C256 - C512`` 4 x 4 convolutions, the first three of stride 2 and the fourth of
stride 1, each followed by LeakyReLU 0.2, then a 4 x 4 stride-1 convolution to one logit per
position. ``layers`` is the number of stride-2 stages (3 gives pix2pix's 70 px receptive
field); ``width`` the first stage's channels (doubling per stage up to ``8 * width``).
Here every convolution carries spectral normalisation (Miyato et al. 2018) instead of
BatchNorm/InstanceNorm: the critic is Lipschitz-bounded, which keeps adversarial fine-tuning
stable with small batches on a CPU.

It is a training-only network: the super-resolution (``loss=perceptual``) and inpainting
(``adversarial>0``) objectives build one, keep it in their checkpoints for exact resume, and
never export it with the model. Input ``(B, C, H, W)`` in [0, 1] (converted to [-1, 1]
inside); output ``(B, 1, h, w)`` logits, one per patch, for any ``H, W >= 3 * 2 ** layers``
(``min_size``: 24 px for 3 layers).

Example
-------
>>> import torch
>>> d = PatchGAN(PatchGANConfig(width=8))
>>> d(torch.rand(2, 3, 64, 64)).shape, d.receptive_field, d.min_size
(torch.Size([2, 1, 6, 6]), 70, 24)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from atelier.models.layers import spectral_norm_, to_signed
from atelier.models.registry import ModelConfig

__all__ = ["PatchGAN", "PatchGANConfig"]


@dataclass
class PatchGANConfig(ModelConfig):
    """channels : 1 or 3.  width : channels of the first stage (1..256).
    layers : stride-2 stages, 1..5 (3 = pix2pix's 70 x 70 patches)."""

    channels: int = 3
    width: int = 64
    layers: int = 3

    def check(self) -> None:
        self._require(self.channels in (1, 3), "channels", "1 (grey) or 3 (RGB)")
        self._require(1 <= self.width <= 256, "width", "an integer from 1 to 256")
        self._require(1 <= self.layers <= 5, "layers", "an integer from 1 to 5")


class PatchGAN(nn.Module):
    """pix2pix's N-layer PatchGAN with spectral norm on every convolution (no other norm)."""

    def __init__(self, config: PatchGANConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or PatchGANConfig()
        widths = [c.width * min(2**i, 8) for i in range(c.layers + 1)]
        layers: list[nn.Module] = []
        cin = c.channels
        for i, cout in enumerate(widths):
            stride = 2 if i < c.layers else 1
            layers += [nn.Conv2d(cin, cout, 4, stride, 1), nn.LeakyReLU(0.2)]
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 4, 1, 1))
        self.net = spectral_norm_(nn.Sequential(*layers))

    @property
    def receptive_field(self) -> int:
        """Side in input pixels of the patch one logit sees (70 for ``layers=3``)."""
        field = 4  # the last convolution
        field += 3  # the stride-1 stage
        for _ in range(self.config.layers):
            field = field * 2 + 2  # a 4 x 4 stride-2 convolution: 2 r + (4 - 2)
        return field

    @property
    def min_size(self) -> int:
        """The smallest input side with at least one logit: ``layers`` halvings, then two
        4 x 4 stride-1 convolutions that take one pixel each."""
        return 3 * 2**self.config.layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [0, 1] -> ``(B, 1, h, w)`` patch logits."""
        return self.net(to_signed(x))
