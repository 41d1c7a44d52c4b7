"""Latent blending for the VAE families: encode images, mix their codes, decode.

:func:`latent_blend` encodes each image to its posterior mean ``mu`` (the encoder's mean, no
sampling, so the result is deterministic), mixes the codes and decodes:

- ``weights`` ``(w_1 .. w_n)``, each >= 0, not all 0, normalised to sum to 1: one image, the
  decode of ``sum_i w_i mu_i`` (default: equal weights);
- ``steps`` ``T >= 2`` with two images: a strip of ``T`` decodes of ``(1 - t) mu_a + t mu_b``
  at ``t = 0, 1/(T-1), ..., 1``. The endpoints are the two reconstructions.

Linear interpolation (lerp), not slerp, on purpose: ``atelier sample --interpolate`` slerps
because its endpoints are draws from the N(0, I) prior, whose norms concentrate on a shell
that a straight line would cut through; posterior means have no such shell (their norms
differ image to image), and lerp keeps the strip at ``t`` equal to the blend with weights
``(1 - t, t)``.

Images of any size and layout are brought to the model's input as its training data was:
grey <-> RGB (BT.601 luma), the shorter side resized to the model's resolution (``INTER_AREA``
when shrinking) and the centre square cropped (:func:`atelier.data.transforms.resize_crop`).
A conditional VAE (``cvae``) encodes and decodes with one class, ``label``, which it requires:
blending the codes of two classes under one label would be a guess. The families that can
blend register an encoder and a decoder with :func:`register_latent_codec` (``vae``,
``vaegan``, ``cvae``).

Example
-------
>>> import numpy as np, torch
>>> from atelier.models import build_model
>>> torch.manual_seed(0) and None
>>> vae = build_model("vae", {"resolution": 16, "width": 8, "latent_dim": 4, "prior_components": 0})
>>> a, b = np.zeros((20, 20), np.uint8), np.full((20, 20), 255, np.uint8)
>>> latent_blend([a, b], vae, weights=(0.3, 0.7)).shape
(16, 16)
>>> latent_blend([a, b], vae, steps=5).shape
(5, 16, 16)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from atelier.arrays import check_image, from_float
from atelier.errors import InvalidArgument

__all__ = ["latent_blend", "strip_image", "encode_means", "decode_codes", "register_latent_codec", "LatentCodec", "load_vae"]


@dataclass(frozen=True)
class LatentCodec:
    """How a family maps images ``(B, C, R, R)`` (and labels ``(B,)``) to posterior means
    ``(B, latent_dim)`` and codes back to images in [0, 1]."""

    encode: Callable[[nn.Module, torch.Tensor, torch.Tensor | None], torch.Tensor]
    decode: Callable[[nn.Module, torch.Tensor, torch.Tensor | None], torch.Tensor]
    conditional: bool


_CODECS: dict[str, LatentCodec] = {}


def register_latent_codec(name: str, *, encode: Callable, decode: Callable, conditional: bool) -> None:
    """Register the posterior-mean encoder and the decoder of model family ``name``."""
    _CODECS[name] = LatentCodec(encode, decode, conditional)


register_latent_codec("vae", encode=lambda m, x, y: m.encode(x)[0], decode=lambda m, z, y: m.decode(z),
                      conditional=False)
register_latent_codec("vaegan", encode=lambda m, x, y: m.encode(x)[0], decode=lambda m, z, y: m.decode(z),
                      conditional=False)
register_latent_codec("cvae", encode=lambda m, x, y: m.encode(x, y)[0], decode=lambda m, z, y: m.decode(z, y),
                      conditional=True)


def _family(model: nn.Module) -> str:
    return getattr(type(model), "model_name", type(model).__name__)


def _codec(model: nn.Module) -> LatentCodec:
    codec = _CODECS.get(_family(model))
    if codec is None:
        raise InvalidArgument(f"model {_family(model)!r} has no encoder: latent blending needs a VAE "
                              f"({', '.join(sorted(_CODECS))})")
    return codec


def load_vae(source: str | os.PathLike | nn.Module, *, device: str | torch.device = "cpu") -> nn.Module:
    """A VAE-family model: a module as is, or a run folder / shipped name (``vae-mnist``,
    ``cvae-mnist``) loaded in eval mode; anything else is one ``InvalidArgument`` line."""
    if isinstance(source, nn.Module):
        model = source
    else:
        from atelier.devices import resolve_device
        from atelier.models import load_model
        from atelier.tasks.generate import resolve_run

        device = resolve_device(device)  # an unknown device before any file is read
        model = load_model(resolve_run(source), device=str(device))
    _codec(model)
    return model


def _labels(model: nn.Module, label: int | None, n: int) -> torch.Tensor | None:
    codec = _codec(model)
    if not codec.conditional:
        if label is not None:
            raise InvalidArgument(f"{_family(model)} is unconditional: it takes no label")
        return None
    if label is None:
        raise InvalidArgument(f"{_family(model)} is a conditional VAE: give the class of the images "
                              f"(label, 0..{model.config.num_classes - 1}); its codes are only meaningful under one class")
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < model.config.num_classes:
        raise InvalidArgument(f"label must be an integer in 0..{model.config.num_classes - 1}, got {label!r}")
    return torch.full((n,), int(label), dtype=torch.long)


def _model_input(images: Sequence[np.ndarray], model: nn.Module) -> torch.Tensor:
    """Images -> ``(n, C, R, R)`` float32 in [0, 1] at the model's channels and resolution."""
    from atelier.data.transforms import resize_crop, to_channels, to_tensor

    c = model.config
    batch = []
    for i, image in enumerate(images):
        check_image(image, f"images[{i}]")
        batch.append(to_tensor(resize_crop(to_channels(image, c.channels), c.resolution)))
    return torch.stack(batch)


def encode_means(images: Sequence[np.ndarray], model: nn.Module, *, label: int | None = None) -> torch.Tensor:
    """Posterior means ``(n, latent_dim)`` of ``images`` (brought to the model's input), on the CPU."""
    from atelier.models.layers import model_device, sampling_mode

    codec = _codec(model)
    y = _labels(model, label, len(images))
    device = model_device(model)
    with sampling_mode(model):
        return codec.encode(model, _model_input(images, model).to(device), None if y is None else y.to(device)).float().cpu()


def decode_codes(codes: torch.Tensor, model: nn.Module, *, label: int | None = None) -> torch.Tensor:
    """Images ``(n, C, R, R)`` in [0, 1] on the CPU for codes ``(n, latent_dim)``."""
    from atelier.models.layers import model_device, sampling_mode

    codec = _codec(model)
    y = _labels(model, label, len(codes))
    device = model_device(model)
    with sampling_mode(model):
        return codec.decode(model, codes.to(device), None if y is None else y.to(device)).float().cpu()


def _to_numpy(images: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """``(n, C, R, R)`` -> ``(n, R, R)`` (grey) or ``(n, R, R, C)`` of ``dtype``."""
    a = images.clamp(0, 1).permute(0, 2, 3, 1).numpy().astype(np.float32)
    return from_float(a[..., 0] if a.shape[-1] == 1 else a, dtype)


def latent_blend(
    images: Sequence[np.ndarray],
    model: nn.Module | str | os.PathLike,
    *,
    weights: Sequence[float] | None = None,
    steps: int | None = None,
    label: int | None = None,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Blend images through a VAE's latent space: mix their posterior means, decode.

    Parameters
    ----------
    images : two or more ``H x W [x C]`` images (grey, RGB, RGBA; uint8, uint16, float32).
    model : a VAE-family module (``vae``, ``vaegan``, ``cvae``), a run folder or a shipped
        name (``vae-mnist``, ``cvae-mnist``).
    weights : one weight >= 0 per image (normalised to sum 1); default equal. Not with ``steps``.
    steps : with exactly two images: the number of images of the interpolation strip (>= 2).
    label : the class of a conditional VAE (required there; refused by unconditional ones).
    device : where a model given by name is loaded (a module stays where it is).

    Returns
    -------
    One image ``R x R`` (grey models) or ``R x R x C``, or with ``steps`` a stack
    ``(steps, R, R[, C])``; the first image's dtype; ``R`` is the model's resolution.
    """
    images = list(images)
    if len(images) < 2:
        raise InvalidArgument(f"latent blending mixes two or more images, got {len(images)}")
    if weights is not None and steps is not None:
        raise InvalidArgument("give weights (one blend) or steps (an interpolation strip), not both")
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
            raise InvalidArgument(f"steps must be an integer >= 2 (the strip's images, both ends included), got {steps!r}")
        if len(images) != 2:
            raise InvalidArgument(f"an interpolation strip runs between two images, got {len(images)}; "
                                  "give weights to blend more")
    else:
        w = [1.0] * len(images) if weights is None else [float(v) for v in weights]
        if len(w) != len(images):
            raise InvalidArgument(f"give one weight per image ({len(images)} images), got {len(w)} weights")
        if any(not v >= 0 for v in w) or sum(w) <= 0:
            raise InvalidArgument(f"weights must be >= 0 and not all 0, got {list(weights or w)}")
    dtype = check_image(images[0], "images[0]").dtype
    net = load_vae(model, device=device)
    mu = encode_means(images, net, label=label)
    if steps is not None:
        t = torch.linspace(0.0, 1.0, int(steps))[:, None]
        codes = (1 - t) * mu[0] + t * mu[1]
        return _to_numpy(decode_codes(codes, net, label=label), dtype)
    mix = torch.tensor(w, dtype=mu.dtype)[:, None] / sum(w)
    return _to_numpy(decode_codes((mix * mu).sum(0, keepdim=True), net, label=label), dtype)[0]


def strip_image(stack: np.ndarray) -> np.ndarray:
    """A stack ``(n, R, R[, C])`` (as ``latent_blend(..., steps=n)`` returns) laid out in one
    row, 2-pixel black gaps (:func:`atelier.tasks.generate.make_grid`): a uint8 image
    ``(R + 4) x (n (R + 2) + 2) [x C]``."""
    from atelier.arrays import to_float
    from atelier.tasks.generate import make_grid

    floats = to_float(stack if stack.ndim == 4 else stack[..., None])
    grid = make_grid(torch.from_numpy(np.ascontiguousarray(floats)).permute(0, 3, 1, 2), nrow=len(floats))
    return grid[..., 0] if grid.shape[2] == 1 else grid
