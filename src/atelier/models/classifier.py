"""A small CNN image classifier, the feature extractor of classifier-based metrics.

Three conv blocks (two 3x3 conv + BatchNorm + ReLU, then 2x2 max-pool), adaptive average
pooling to 2x2, a linear layer to ``feature_dim`` with ReLU (``features(x)``, the penultimate
layer used for FID/KID/precision-recall) and a linear layer to ``num_classes`` logits
(``forward(x)``, used for the Inception Score and label accuracy).

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> clf = build_model("classifier", {"resolution": 16, "width": 8, "num_classes": 10})
>>> x = torch.rand(5, 1, 16, 16)
>>> clf(x).shape, clf.features(x).shape
(torch.Size([5, 10]), torch.Size([5, 128]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from atelier.models.layers import to_signed
from atelier.models.registry import ModelConfig, register_model

__all__ = ["ClassifierConfig", "Classifier"]


@dataclass
class ClassifierConfig(ModelConfig):
    """Classifier hyper-parameters.

    resolution : 16, 32, 64 or 128.  channels : 1 or 3.
    num_classes : number of output classes.
    width : channels of the first block (then 2x, 4x).
    feature_dim : size of the penultimate (feature) layer.
    dropout : dropout before the last layer (training only).
    """

    resolution: int = 32
    channels: int = 1
    num_classes: int = 10
    width: int = 32
    feature_dim: int = 128
    dropout: float = 0.3

    def check(self) -> None:
        self._check_image_fields()
        self._require(self.num_classes >= 2, "num_classes", "an integer >= 2")
        self._require(1 <= self.width <= 1024, "width", "an integer from 1 to 1024")
        self._require(self.feature_dim >= 1, "feature_dim", "a positive integer")
        self._require(0.0 <= self.dropout < 1.0, "dropout", "a number in [0, 1)")


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        nn.MaxPool2d(2),
    )  # fmt: skip


@register_model("classifier", ClassifierConfig)
class Classifier(nn.Module):
    """Small CNN classifier: ``features(x)`` (penultimate layer) and ``forward(x)`` (logits)."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        c, w = config, config.width
        self.body = nn.Sequential(
            _block(c.channels, w), _block(w, 2 * w), _block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(2), nn.Flatten()
        )
        self.fc = nn.Sequential(nn.Linear(4 * w * 4, c.feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.feature_dim, c.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, feature_dim)`` penultimate activations for images ``(B, C, R, R)`` in [0, 1]."""
        return self.fc(self.body(to_signed(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, num_classes)`` logits for images ``(B, C, R, R)`` in [0, 1]."""
        return self.head(self.dropout(self.features(x)))
