"""Super-resolution networks: ESPCN (sub-pixel convolution) and an EDSR-style residual net.

Both take a low-resolution batch ``(B, C, h, w)`` float32 in [0, 1] and return
``(B, C, h * s, w * s)`` for ``s = model.scale`` in 2, 3, 4. The output is NOT clamped:
training uses the raw output, inference (:func:`atelier.tasks.restore.upscale`) clamps to
[0, 1].

Both networks predict the residual over bicubic interpolation,
``y = bicubic(x) + net(x)``, with ``bicubic = F.interpolate(x, scale_factor=s,
mode="bicubic", align_corners=False)``. This global skip is not in the original papers; it
makes short CPU training converge far faster (the network only has to learn the missing
high frequencies, as in VDSR, Kim et al. 2016), and with the last convolution initialised
to zero an untrained model is exactly bicubic interpolation.

``model.receptive_radius`` is the number of input pixels on each side of an output pixel's
own input pixel (``output // s``) that can change it, computed from the layers (the bicubic
skip reaches 2): tiling (:func:`atelier.tasks.tiling.tiled`) with at least that much
overlap gives the untiled result.

References: Shi et al. (2016), "Real-Time Single Image and Video Super-Resolution Using an
Efficient Sub-Pixel Convolutional Neural Network", CVPR (ESPCN, PixelShuffle); Lim et al.
(2017), "Enhanced Deep Residual Networks for Single Image Super-Resolution", CVPRW (EDSR:
residual blocks without BatchNorm, residual scaling, x4 upsampler as two x2 stages).

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> edsr = build_model("edsr", {"scale": 3, "width": 8, "blocks": 2}).eval()
>>> edsr(torch.rand(1, 3, 10, 7)).shape, edsr.receptive_radius
(torch.Size([1, 3, 30, 21]), 8)
>>> espcn = build_model("espcn", {"scale": 2, "channels": 1, "width": 8})
>>> espcn(torch.rand(2, 1, 5, 5)).shape, espcn.receptive_radius
(torch.Size([2, 1, 10, 10]), 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from atelier.models.registry import ModelConfig, register_model

__all__ = [
    "ESPCNConfig",
    "ESPCN",
    "EDSRConfig",
    "EDSR",
    "ResBlock",
    "bicubic_upsample",
    "radius_of",
    "BICUBIC_RADIUS",
    "SCALES",
]

#: Supported upscaling factors.
SCALES = (2, 3, 4)
#: Input pixels on each side that ``bicubic_upsample`` reads: the cubic kernel has 4 taps
#: and an output sample lies within half an input pixel of its own input pixel's centre.
BICUBIC_RADIUS = 2

# A layer plan for ``radius_of``: ("conv", r) is a convolution reaching r pixels at its
# resolution; ("shuffle", f) is PixelShuffle(f); ("unshuffle", f) is PixelUnshuffle(f).
Step = tuple[str, int]


def radius_of(steps: Sequence[Step], scale: int = 1) -> int:
    """Receptive radius in input pixels of a plan of convolutions and (un)shuffles.

    Walks back from every output sub-pixel phase: a convolution widens the interval by its
    reach, ``PixelShuffle(f)`` maps output pixel ``p`` to ``p // f`` and ``PixelUnshuffle(f)``
    maps pixel ``q`` to ``f q .. f q + f - 1``. ``scale`` is output size / input size. The
    result is the largest distance from an output pixel's own input pixel (``o // scale``)
    to an input pixel that can change it. (Computed by hand: no library offers this.)

    Example
    -------
    >>> radius_of([("conv", 1), ("shuffle", 2), ("conv", 1)], scale=2)
    2
    >>> radius_of([("unshuffle", 2), ("conv", 1), ("shuffle", 2)])
    3
    """
    period = scale
    for kind, f in steps:
        if kind != "conv":
            period *= f
    radius = 0
    for o in range(period):
        lo = hi = o
        for kind, f in reversed(steps):
            if kind == "conv":
                lo, hi = lo - f, hi + f
            elif kind == "shuffle":
                lo, hi = lo // f, hi // f
            elif kind == "unshuffle":
                lo, hi = lo * f, hi * f + f - 1
            else:  # a bug in atelier
                raise ValueError(f"unknown layer kind {kind!r}")
        own = o // scale
        radius = max(radius, own - lo, hi - own)
    return radius


def bicubic_upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """``(B, C, h, w) -> (B, C, h * scale, w * scale)``: PyTorch bicubic, align_corners=False."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


def _check_sr_fields(cfg: ModelConfig) -> None:
    cfg._require(cfg.scale in SCALES, "scale", "2, 3 or 4")  # type: ignore[attr-defined]
    cfg._require(cfg.channels in (1, 3), "channels", "1 (grey) or 3 (RGB)")  # type: ignore[attr-defined]


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class _SRBase(nn.Module):
    """Shared by the SR families: the bicubic skip, ``scale`` and ``receptive_radius``."""

    config: "ESPCNConfig | EDSRConfig"

    @property
    def scale(self) -> int:
        """The upscaling factor (2, 3 or 4)."""
        return self.config.scale

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that can change an output pixel (bicubic skip included)."""
        return max(BICUBIC_RADIUS, radius_of(self._plan(), self.config.scale))

    def _plan(self) -> list[Step]:  # pragma: no cover - overridden
        raise TypeError("abstract")

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The learned part: ``forward(x) - bicubic_upsample(x, scale)``."""
        raise TypeError("abstract")  # pragma: no cover - overridden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` in [0, 1] -> ``(B, C, h s, w s)``, not clamped."""
        return bicubic_upsample(x, self.config.scale) + self.residual(x)


@dataclass
class ESPCNConfig(ModelConfig):
    """ESPCN hyper-parameters.

    scale : 2, 3 or 4.  channels : 1 (grey) or 3 (RGB).
    width : channels of the first convolution (the second has ``width // 2``); >= 2.
    """

    scale: int = 4
    channels: int = 3
    width: int = 64

    def check(self) -> None:
        _check_sr_fields(self)
        self._require(2 <= self.width <= 1024, "width", "an integer from 2 to 1024")


@register_model("espcn", ESPCNConfig)
class ESPCN(_SRBase):
    """ESPCN: three convolutions at low resolution, then a sub-pixel shuffle (Shi et al. 2016).

    conv5x5(width) tanh, conv3x3(width // 2) tanh, conv3x3(channels * scale^2),
    PixelShuffle(scale), added to bicubic upsampling of the input.
    """

    def __init__(self, config: ESPCNConfig) -> None:
        super().__init__()
        self.config = config
        c, w, s = config.channels, config.width, config.scale
        self.body = nn.Sequential(
            _conv(c, w, 5), nn.Tanh(), _conv(w, w // 2), nn.Tanh(), _conv(w // 2, c * s * s)
        )
        self.shuffle = nn.PixelShuffle(s)
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def _plan(self) -> list[Step]:
        return [("conv", 2), ("conv", 1), ("conv", 1), ("shuffle", self.config.scale)]

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.body(x))


@dataclass
class EDSRConfig(ModelConfig):
    """EDSR hyper-parameters.

    scale : 2, 3 or 4.  channels : 1 (grey) or 3 (RGB).
    width : feature channels.  blocks : residual blocks (conv-ReLU-conv).
    res_scale : factor on each block's branch (EDSR uses 0.1 for its widest models).
    """

    scale: int = 4
    channels: int = 3
    width: int = 32
    blocks: int = 8
    res_scale: float = 1.0

    def check(self) -> None:
        _check_sr_fields(self)
        self._require(1 <= self.width <= 1024, "width", "an integer from 1 to 1024")
        self._require(1 <= self.blocks <= 256, "blocks", "an integer from 1 to 256")
        self._require(0 < self.res_scale <= 1, "res_scale", "a number in (0, 1]")


class ResBlock(nn.Module):
    """``x + res_scale * conv(relu(conv(x)))``, no BatchNorm (Lim et al. 2017, figure 2)."""

    def __init__(self, width: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(width, width), nn.ReLU(inplace=True), _conv(width, width))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


def _upsampler(width: int, scale: int) -> nn.Sequential:
    """conv3x3(width * f^2) + PixelShuffle(f) per stage: x4 is two x2 stages, as EDSR does."""
    factors = [2, 2] if scale == 4 else [scale]
    layers: list[nn.Module] = []
    for f in factors:
        layers += [_conv(width, width * f * f), nn.PixelShuffle(f)]
    return nn.Sequential(*layers)


@register_model("edsr", EDSRConfig)
class EDSR(_SRBase):
    """EDSR-style residual network: head, residual blocks, long skip, sub-pixel upsampler, tail.

    head conv3x3, ``blocks`` x :class:`ResBlock`, body conv3x3 + long skip from the head,
    upsampler (conv3x3 + PixelShuffle per x2/x3 stage), tail conv3x3 -> channels; added to
    bicubic upsampling of the input (Lim et al. 2017, without the RGB mean shift, which the
    bicubic skip makes unnecessary).
    """

    def __init__(self, config: EDSRConfig) -> None:
        super().__init__()
        self.config = config
        c, w = config.channels, config.width
        self.head = _conv(c, w)
        self.body = nn.Sequential(
            *[ResBlock(w, config.res_scale) for _ in range(config.blocks)], _conv(w, w)
        )
        self.upsample = _upsampler(w, config.scale)
        self.tail = _conv(w, c)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def _plan(self) -> list[Step]:
        s = self.config.scale
        plan: list[Step] = [("conv", 1)] + [("conv", 1)] * (2 * self.config.blocks + 1)
        for f in [2, 2] if s == 4 else [s]:
            plan += [("conv", 1), ("shuffle", f)]
        return plan + [("conv", 1)]

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.body(h)
        return self.tail(self.upsample(h))
