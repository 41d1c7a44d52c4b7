"""An image classifier: a small CNN (the judge of classifier-based metrics) or a pretrained backbone.

``backbone="none"`` (default): three conv blocks (two 3x3 conv + BatchNorm + ReLU, then 2x2
max-pool), adaptive average pooling to 2x2, a linear layer to ``feature_dim`` with ReLU
(``features(x)``, the penultimate layer used for FID/KID/precision-recall) and a linear layer
to ``num_classes`` logits (``forward(x)``, used for the Inception Score and label accuracy).

``backbone="efficientnet-lite0"``: the ImageNet EfficientNet-Lite0 trunk
(:class:`~atelier.nets.efficientnet_backbone.EfficientNetLite0Backbone`, ``pretrained=False``
for a random init), global average pooling (``features(x)``, 1280-d), dropout and a new
linear layer to ``num_classes`` -- the head a class-activation map reads (Zhou et al. 2016).
A backbone stage whose parameters are all frozen stays in eval mode when the model trains
(its BatchNorm statistics stay ImageNet's, as a frozen layer should).

``feature_map(x)`` is the last convolutional feature map and ``logits_from_map(f)`` the rest
of the network, so ``forward(x) == logits_from_map(feature_map(x))``; ``gap_linear`` says
whether the head is global-average-pooling + linear (a CAM is exact) or not (use Grad-CAM).
``class_names`` (filled from the training data's sub-folder names) name the logits.

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> clf = build_model("classifier", {"resolution": 16, "width": 8, "num_classes": 10})
>>> x = torch.rand(5, 1, 16, 16)
>>> clf(x).shape, clf.features(x).shape
(torch.Size([5, 10]), torch.Size([5, 128]))
>>> tl = build_model("classifier", {"backbone": "efficientnet-lite0", "pretrained": False,
...                                 "resolution": 64, "channels": 3, "num_classes": 3})
>>> tl(torch.rand(2, 3, 64, 64)).shape, tl.feature_map(torch.rand(2, 3, 64, 64)).shape
(torch.Size([2, 3]), torch.Size([2, 1280, 2, 2]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from atelier.models.layers import to_signed
from atelier.models.registry import RESOLUTIONS, ModelConfig, register_model

__all__ = ["BACKBONES", "BACKBONE_RESOLUTIONS", "Classifier", "ClassifierConfig", "backbone_stage_names"]

#: Pretrained backbones a classifier can be built on (``none``: the small CNN).
BACKBONES = ("none", "efficientnet-lite0")
#: Input sides a backbone classifier takes: multiples of its stride 32.
BACKBONE_RESOLUTIONS = (32, 64, 96, 128, 160, 192, 224, 256)


@dataclass
class ClassifierConfig(ModelConfig):
    """Classifier hyper-parameters.

    resolution : 16, 32, 64 or 128.  channels : 1 or 3.
    num_classes : number of output classes.
    width : channels of the first block (then 2x, 4x).
    feature_dim : size of the penultimate (feature) layer.
    dropout : dropout before the last layer (training only).
    backbone : ``none`` (the small CNN above) or ``efficientnet-lite0`` (ImageNet trunk + a
        new linear head; ``width`` and ``feature_dim`` do not apply; resolution a multiple of
        32 from 32 to 256, ``BACKBONE_RESOLUTIONS``).
    pretrained : start the backbone from its ImageNet weights (False: random init).
    class_names : one name per class (a training run takes them from its data); empty: the
        classes are named by their index.
    """

    #: Every size some backbone takes (what a run's dataset may be built at).
    data_sizes = tuple(sorted(set(RESOLUTIONS) | set(BACKBONE_RESOLUTIONS)))

    resolution: int = 32
    channels: int = 1
    num_classes: int = 10
    width: int = 32
    feature_dim: int = 128
    dropout: float = 0.3
    backbone: Literal["none", "efficientnet-lite0"] = "none"
    pretrained: bool = True
    class_names: tuple[str, ...] = ()

    def check(self) -> None:
        if self.backbone == "none":
            self._check_image_fields()
        else:
            self._require(
                self.resolution in BACKBONE_RESOLUTIONS, "resolution",
                f"a multiple of 32 from 32 to 256 for the {self.backbone} backbone "
                f"({', '.join(map(str, BACKBONE_RESOLUTIONS))})",
            )
            self._require(self.channels in (1, 3), "channels", "1 (grey, repeated to RGB) or 3 (RGB)")
        self._require(self.num_classes >= 2, "num_classes", "an integer >= 2")
        names = self.class_names
        self._require(
            not names or (len(names) == self.num_classes and len(set(names)) == len(names) and all(names)),
            "class_names", f"empty or {self.num_classes} distinct non-empty names (one per class)",
        )
        self._require(1 <= self.width <= 1024, "width", "an integer from 1 to 1024")
        self._require(self.feature_dim >= 1, "feature_dim", "a positive integer")
        self._require(0.0 <= self.dropout < 1.0, "dropout", "a number in [0, 1)")


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        nn.MaxPool2d(2),
    )  # fmt: skip


def backbone_stage_names(backbone: str) -> tuple[str, ...]:
    """Parameter-name prefixes of a backbone's stages, image side first (``backbone.stem``,
    ``backbone.blocks.0``, ..., ``backbone.head`` for EfficientNet-Lite0): what freezing
    "all but the last N blocks" freezes the first of."""
    if backbone == "efficientnet-lite0":
        from atelier.nets.efficientnet_backbone import STAGE_NAMES

        return tuple(f"backbone.{name}" for name in STAGE_NAMES)
    return ()


@register_model("classifier", ClassifierConfig)
class Classifier(nn.Module):
    """Image classifier (small CNN or pretrained backbone): ``features(x)`` and ``forward(x)`` (logits)."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        c, w = config, config.width
        if c.backbone == "none":
            self.body = nn.Sequential(
                _block(c.channels, w), _block(w, 2 * w), _block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(2), nn.Flatten()
            )
            self.fc = nn.Sequential(nn.Linear(4 * w * 4, c.feature_dim), nn.ReLU())
            self.feature_dim = c.feature_dim
        else:
            from atelier.nets.efficientnet_backbone import (
                FEATURE_CHANNELS,
                EfficientNetLite0Backbone,
            )

            self.backbone = EfficientNetLite0Backbone(pretrained=c.pretrained, image_size=c.resolution)
            self.feature_dim = FEATURE_CHANNELS
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(self.feature_dim, c.num_classes)

    @property
    def gap_linear(self) -> bool:
        """True when the logits are a linear map of the spatial mean of ``feature_map`` (CAM applies)."""
        return self.config.backbone != "none"

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional features ``(B, K, h, w)`` of images ``(B, C, R, R)`` in [0, 1]:
        the backbone's output, or the small CNN's last conv block before its max-pool."""
        if self.gap_linear:
            return self.backbone(x)
        last = self.body[2]
        return last[:-1](self.body[1](self.body[0](to_signed(x))))

    def logits_from_map(self, fmap: torch.Tensor) -> torch.Tensor:
        """``(B, num_classes)`` logits from ``feature_map``'s output."""
        return self.head(self.dropout(self._pool(fmap)))

    def _pool(self, fmap: torch.Tensor) -> torch.Tensor:
        if self.gap_linear:
            return fmap.mean(dim=(2, 3))
        return self.fc(self.body[4](self.body[3](self.body[2][-1](fmap))))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, feature_dim)`` penultimate activations for images ``(B, C, R, R)`` in [0, 1]
        (1280 pooled backbone features with a backbone)."""
        if self.gap_linear:
            return self._pool(self.feature_map(x))
        return self.fc(self.body(to_signed(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, num_classes)`` logits for images ``(B, C, R, R)`` in [0, 1]."""
        return self.head(self.dropout(self.features(x)))

    def train(self, mode: bool = True) -> Classifier:
        """Train mode, except backbone stages whose parameters are all frozen: they stay in
        eval mode (BatchNorm keeps its statistics, drop-connect is off)."""
        super().train(mode)
        if mode and self.gap_linear:
            for stage in self.backbone.stages():
                if not any(p.requires_grad for p in stage.parameters()):
                    stage.eval()
        return self
