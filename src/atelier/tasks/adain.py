"""Arbitrary style transfer with a trained AdaIN model (Huang & Belongie 2017), in one pass.

:func:`adain_stylize` encodes the content once and each style once (VGG19 to ``relu4_1``),
gives the content features each style's channel statistics (:func:`~atelier.models.adain.adain`)
and decodes. The paper's controls (section 7.2):

- **Style interpolation**: several styles with ``style_weights`` (normalised to sum 1): the
  AdaIN'd feature maps are mixed, ``t = sum_k w_k AdaIN(f(c), f(s_k))``.
- **Content-style trade-off**: ``t = alpha * t + (1 - alpha) * f(c)``; ``alpha = 0`` decodes
  the content's own features (the decoder's reconstruction).
- **Spatial control**: one mask per style (``H x W``, the content's size, weights in [0, 1]).
  The masks are resized to the feature map (area average), the content's statistics are
  taken inside each mask (:func:`~atelier.models.adain.masked_adain`) and each region gets
  its style: ``t = sum_k M_k AdaIN_{M_k}(f(c), f(s_k)) + (1 - sum_k M_k) f(c)`` (where masks
  overlap to more than 1 they are scaled down to sum 1; where none covers, the content stays).
- **Colour preservation**: each style's colours are first matched to the content's by the
  linear mean-covariance transform (Gatys et al. 2017, "Controlling Perceptual Factors in
  Neural Style Transfer", section 5.1, colour histogram matching; what Huang's code does
  with ``--preserve_color``): ``s' = C_c^{1/2} C_s^{-1/2} (s - mu_s) + mu_c`` per pixel, with
  the RGB means ``mu`` and covariances ``C`` (symmetric square roots). The transfer then
  keeps the content's palette while taking the style's strokes and texture.

Sizes: the result's longer side is ``size`` (None: the content's); the styles are resized so
that their shorter side is ``style_size`` (None: the result's shorter side, as the paper
resizes both to 512). The content is reflect-padded to a multiple of 8 and the result
cropped back, so any size works (sides >= 16); alpha is kept (resized with the image).

Example
-------
>>> import numpy as np
>>> from atelier.models import build_model
>>> rng = np.random.default_rng(0)
>>> content = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
>>> style = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
>>> net = build_model("adain", {"width": 0.125})  # untrained: shapes only
>>> adain_stylize(content, [style], alpha=0.5, model=net).shape
(20, 30, 3)
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from atelier.arrays import check_image, from_float, merge_alpha, split_alpha, to_float
from atelier.errors import InvalidArgument

__all__ = ["adain_stylize", "is_adain_source", "load_adain_model", "match_color"]


def is_adain_source(source: Any) -> bool:
    """True when ``source`` names an AdaIN model: a loaded one, a shipped name of that kind
    (installed or not), or a run folder / ``model.safetensors`` whose ``model.json`` says
    ``adain``. Anything unreadable is False (its loader then says what is wrong)."""
    from atelier.models.adain import AdaIN
    from atelier.pretrained import PRETRAINED

    if isinstance(source, AdaIN):
        return True
    if not isinstance(source, (str, os.PathLike)):
        return False
    if isinstance(source, str) and source in PRETRAINED and not Path(source).exists():
        return PRETRAINED[source].task == "adain"
    path = Path(source).expanduser()
    folder = path.parent if path.is_file() else path
    try:
        return json.loads((folder / "model.json").read_text("utf-8")).get("model") == "adain"
    except (OSError, ValueError, AttributeError):
        return False


def load_adain_model(source: Any, device: str = "cpu"):
    """An AdaIN model from a shipped name, a run folder, its ``model.safetensors`` or a module;
    another model or anything unreadable is one ``InvalidArgument`` line."""
    from atelier.models.adain import AdaIN
    from atelier.pretrained import load_restoration_model

    net = load_restoration_model(source, device=device)
    if not isinstance(net, AdaIN):
        raise InvalidArgument(
            f"model {source}: holds the model {getattr(net, 'model_name', type(net).__name__)}, not an adain "
            "model (arbitrary style transfer); train one with `atelier train adain` or give --model adain"
        )
    return net


def match_color(style: np.ndarray, content: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """``style`` (``H x W x 3`` float32 in [0, 1]) with the RGB mean and covariance of
    ``content``: ``C_c^{1/2} C_s^{-1/2} (s - mu_s) + mu_c``, clipped to [0, 1] (Gatys et al.
    2017, section 5.1; the matrix square roots by eigendecomposition, ``eps`` on the diagonal).

    >>> rng = np.random.default_rng(0)
    >>> s, c = rng.random((32, 32, 3), np.float32), 0.5 + 0.1 * rng.random((32, 32, 3), np.float32)
    >>> bool(np.abs(match_color(s, c).reshape(-1, 3).mean(0) - c.reshape(-1, 3).mean(0)).max() < 1e-3)
    True
    """

    def stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = image.reshape(-1, 3).astype(np.float64)
        return flat.mean(0), np.cov(flat, rowvar=False) + eps * np.eye(3)

    def power(matrix: np.ndarray, p: float) -> np.ndarray:
        values, vectors = np.linalg.eigh(matrix)
        return (vectors * np.clip(values, eps, None) ** p) @ vectors.T

    mu_s, cov_s = stats(style)
    mu_c, cov_c = stats(content)
    transform = power(cov_c, 0.5) @ power(cov_s, -0.5)
    out = (style.reshape(-1, 3) - mu_s) @ transform.T + mu_c
    return np.clip(out, 0, 1).reshape(style.shape).astype(np.float32)


def _rgb(image: np.ndarray) -> np.ndarray:
    """Any image -> ``H x W x 3`` float32 in [0, 1] (grey repeated, alpha dropped)."""
    f = to_float(image)
    f = f[..., None] if f.ndim == 2 else f
    f = f[..., :3] if f.shape[2] == 4 else f
    return np.ascontiguousarray(np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f, dtype=np.float32)


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()


def _resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if tuple(x.shape[-2:]) == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def _mask(mask: Any, index: int, shape: tuple[int, int]) -> np.ndarray:
    """Mask ``index`` as ``H x W`` float32 in [0, 1]; it must be the content's size."""
    if not isinstance(mask, np.ndarray):
        raise InvalidArgument(f"mask {index} must be a numpy array, got {type(mask).__name__}")
    if mask.dtype == bool:
        mask = mask.astype(np.float32)
    m = to_float(check_image(mask, f"mask {index}"))
    if m.ndim == 3:
        m = m[..., :3].mean(axis=2) if m.shape[2] >= 3 else m[..., 0]
    if m.shape != shape:
        raise InvalidArgument(
            f"mask {index} is {m.shape[1]} x {m.shape[0]} but the content is {shape[1]} x {shape[0]}; "
            "give masks of the content's size"
        )
    return np.ascontiguousarray(m, dtype=np.float32)


def _check_weights(style_weights: Sequence[float] | None, count: int) -> list[float]:
    mix = [1.0] * count if style_weights is None else [float(w) for w in style_weights]
    if len(mix) != count or any(not 0 <= w < float("inf") for w in mix) or sum(mix) <= 0:
        raise InvalidArgument(f"give one style weight >= 0 per style ({count} styles), not all zero; got {mix}")
    total = sum(mix)
    return [w / total for w in mix]


def adain_stylize(
    content: np.ndarray,
    styles: Sequence[np.ndarray] | np.ndarray,
    *,
    style_weights: Sequence[float] | None = None,
    alpha: float = 1.0,
    masks: Sequence[np.ndarray] | None = None,
    preserve_color: bool = False,
    size: int | None = None,
    style_size: int | None = None,
    model: Any = "adain",
    device: str = "cpu",
) -> np.ndarray:
    """Paint ``content`` in the style of ``styles`` with an AdaIN model, in one pass.

    Parameters
    ----------
    content : ``H x W [x C]`` (grey, RGB or RGBA; uint8, uint16 or float32 in [0, 1]).
    styles : one style image or a list (any size, any of those layouts).
    style_weights : one weight >= 0 per style (default equal), normalised to sum 1: the
        styles' AdaIN features are mixed with them. Not with ``masks``.
    alpha : content-style trade-off in [0, 1] (1: full style, 0: the content decoded).
    masks : one ``H x W`` mask per style, the content's size (bool, uint8 or float in [0, 1]):
        each region takes its style, with the content's statistics of that region.
    preserve_color : match each style's colours to the content's first (mean-covariance).
    size : longer side of the result (None: the content's size).
    style_size : shorter side the styles are resized to (None: the result's shorter side).
    model : a shipped name (``adain``), a run folder, its ``model.safetensors`` or a loaded
        :class:`~atelier.models.adain.AdaIN`.
    device : where to run (``cpu``, ``cuda``, ``auto``); a loaded model runs where it is.

    Returns
    -------
    ``H' x W' x 3`` (``x 4`` with the content's alpha) of the content's dtype.
    """
    from atelier.devices import resolve_device
    from atelier.models.adain import (
        CONTENT_TAP,
        MIN_SIDE,
        MULTIPLE,
        adain,
        masked_adain,
        pad_to_multiple,
    )

    device = resolve_device(device)
    styles = [styles] if isinstance(styles, np.ndarray) else list(styles)
    if not styles:
        raise InvalidArgument("give at least one style image")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= float(alpha) <= 1.0:
        raise InvalidArgument(f"alpha must be a number in [0, 1], got {alpha!r}")
    if masks is not None and style_weights is not None:
        raise InvalidArgument("give style_weights (mix the styles everywhere) or masks (one region per style), not both")
    mix = _check_weights(style_weights, len(styles))
    alpha = float(alpha)
    image = check_image(content, "content")
    dtype = image.dtype
    if masks is not None:
        masks = list(masks)
        if len(masks) != len(styles):
            raise InvalidArgument(f"give one mask per style: {len(masks)} masks for {len(styles)} styles")
        masks = [_mask(m, k, image.shape[:2]) for k, m in enumerate(masks)]
    style_images = [_rgb(check_image(s, f"style {k}")) for k, s in enumerate(styles)]
    alpha_channel = split_alpha(to_float(image))[1] if image.ndim == 3 and image.shape[2] == 4 else None

    net = load_adain_model(model, device=device)
    param = next(net.parameters())
    run_on = param.device  # a loaded module runs where it is
    x = _tensor(_rgb(image))
    h0, w0 = x.shape[-2:]
    k = 1.0 if size is None else size / max(h0, w0)
    h, w = max(1, round(h0 * k)), max(1, round(w0 * k))
    if min(h, w) < MIN_SIDE:
        raise InvalidArgument(f"the result would be {w} x {h}; AdaIN needs at least {MIN_SIDE} px a side")
    if style_size is not None and style_size < MIN_SIDE:
        raise InvalidArgument(f"style_size must be at least {MIN_SIDE} px, got {style_size}")
    x = _resize(x, h, w)
    if preserve_color:
        reference = x[0].permute(1, 2, 0).numpy()
        style_images = [match_color(s, reference) for s in style_images]
    side = style_size or min(h, w)
    style_tensors = []
    for s in style_images:
        t = _tensor(s)
        ks = side / min(t.shape[-2:])
        style_tensors.append(_resize(t, max(side, round(t.shape[-2] * ks)), max(side, round(t.shape[-1] * ks))))

    with torch.no_grad():
        padded = pad_to_multiple(x.to(run_on))
        f_c = net.encode(padded)[CONTENT_TAP]
        f_s = [net.encode(s.to(run_on))[CONTENT_TAP] for s in style_tensors]
        if masks is None:
            t = sum(wk * adain(f_c, fs) for wk, fs in zip(mix, f_s))
        else:
            feature_size = f_c.shape[-2:]
            regions = []
            for m in masks:
                mt = _resize(torch.from_numpy(m)[None, None], h, w).to(run_on)
                regions.append(F.interpolate(pad_to_multiple(mt, MULTIPLE), size=feature_size, mode="area"))
            total = sum(regions)
            scale = 1.0 / total.clamp_min(1.0)  # overlapping masks share their pixels
            regions = [r * scale for r in regions]
            t = (1.0 - total * scale) * f_c
            for r, fs in zip(regions, f_s):
                t = t + r * masked_adain(f_c, fs, r)
        if alpha < 1.0:
            t = alpha * t + (1.0 - alpha) * f_c
        y = net.decode(t)[0, :, :h, :w].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    if alpha_channel is not None:
        a = torch.from_numpy(np.ascontiguousarray(alpha_channel))[None, None]
        y = merge_alpha(y, _resize(a, h, w)[0, 0].numpy())
    return from_float(np.ascontiguousarray(y, dtype=np.float32), dtype)
