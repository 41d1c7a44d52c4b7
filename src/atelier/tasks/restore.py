"""Neural restoration of photos: ``upscale`` (super-resolution) and ``denoise``.

Both are public editing functions (DESIGN.md convention 1): numpy in, numpy out, ``H x W``
grey, ``H x W x 3`` RGB or ``H x W x 4`` RGBA, uint8, uint16 or float32 in [0, 1], and the
result has the input's dtype and layout. They convert to tensors at their boundary and run
the network over overlapping tiles (:func:`atelier.tasks.tiling.tiled`, overlap = the
model's receptive radius), so memory stays bounded and the result equals an untiled run.
``tile="auto"`` (the default) is 256 pixels, or larger for a network whose overlap would
otherwise fill most of each tile (:func:`auto_tile`).

- Grey images go through a colour model as three equal channels and come back grey (the
  mean of the three output channels); a grey (1-channel) model takes each colour channel
  of an RGB image on its own.
- Alpha is not restored: ``upscale`` resizes it with Pillow's antialiased bicubic
  (:func:`atelier.ops.resize`) and reattaches it; ``denoise`` passes it through unchanged.
- The baselines stay one argument away: ``upscale(..., model="bicubic")`` (Pillow's
  antialiased bicubic, the benchmark's own interpolation) and ``denoise(..., model="nlm")``
  (OpenCV's ``fastNlMeansDenoisingColored``).

``model=None`` uses the weights shipped in the package (:mod:`atelier.pretrained`); a shipped
name, a run folder, a ``model.safetensors`` path or a loaded module are also accepted.

Example
-------
>>> import numpy as np
>>> img = np.zeros((8, 6, 3), np.uint8)
>>> upscale(img, scale=3, model="bicubic").shape
(24, 18, 3)
>>> from atelier.models import build_model
>>> net = build_model("dncnn", {"width": 4, "depth": 3})
>>> denoise(np.zeros((8, 6), np.float32), sigma=10, model=net).dtype
dtype('float32')
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from atelier.arrays import check_image, from_float, merge_alpha, split_alpha, to_float, to_uint8
from atelier.devices import resolve_device
from atelier.errors import ImageTooLarge, InvalidArgument
from atelier.image import DEFAULT_MAX_PIXELS
from atelier.tasks.tiling import DEFAULT_TILE
from atelier.models.sr import SCALES

__all__ = [
    "upscale",
    "denoise",
    "load_sr_model",
    "load_denoiser",
    "estimate_noise_sigma",
    "nlm_denoise",
    "best_nlm_h",
    "min_tile",
    "auto_tile",
    "resolve_tile",
    "size_multiple",
    "check_model_tile",
    "check_denoiser_sigma",
    "check_ensemble",
    "NLM_H",
]

#: OpenCV NLM filter strength ``h`` that maximises the mean RGB PSNR on CSet5 for each noise
#: level (Gaussian noise from ``default_rng(0)``, clipped and quantised to uint8 as in
#: ``evaluate_denoise``; templateWindowSize 7, searchWindowSize 21; h swept from 0.45 sigma to
#: 0.9 sigma in steps of 0.05 sigma). Measured mean PSNR at these h: 35.21, 30.99, 28.72,
#: 26.56, 25.43, 23.94 dB; the curves are flat near the top (+-0.05 sigma costs < 0.1 dB).
#: The model families ``denoise`` takes (same interface: ``forward(x, sigma)``, ``blind``,
#: ``receptive_radius``).
DENOISER_FAMILIES = ("dncnn", "drunet")

NLM_H = {5: 2.5, 10: 6.0, 15: 9.0, 25: 20.0, 35: 24.5, 50: 30.0}


# ----------------------------------------------------------------------------- checks


def _check_tile(tile: object) -> int | str | None:
    if tile is None or (isinstance(tile, str) and tile == "auto"):
        return tile
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1:
        raise InvalidArgument(
            f"tile must be a positive integer (pixels), 'auto', or None for no tiling; got {tile!r}"
        )
    return int(tile)


def _check_pixels(h: int, w: int, max_pixels: int, what: str) -> None:
    if h * w > max_pixels:
        raise ImageTooLarge(
            f"{what} {w}x{h} = {h * w / 1e6:.6g} megapixels, over the limit of "
            f"{max_pixels / 1e6:.6g}; give a smaller image or raise max_pixels"
        )


def _check_scale(scale: object) -> int:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale not in SCALES:
        raise InvalidArgument(f"scale must be 2, 3 or 4, got {scale!r}")
    return int(scale)


# ----------------------------------------------------------------------------- models


def load_sr_model(model: Any, scale: int, *, device: str = "cpu") -> Any:
    """The super-resolution model ``upscale`` would use: ``"bicubic"`` or a module.

    ``None`` loads the shipped ``sr-x{scale}``; a model whose scale is not ``scale`` raises
    ``InvalidArgument`` naming both; so does a model that is not a super-resolution model.
    """
    from atelier.pretrained import load_restoration_model

    scale = _check_scale(scale)
    if isinstance(model, str) and model == "bicubic":
        return "bicubic"
    net = load_restoration_model(f"sr-x{scale}" if model is None else model, device=device)
    own = getattr(net, "scale", None)
    if not isinstance(own, int) or not hasattr(net, "receptive_radius"):
        raise InvalidArgument(
            f"{_label(model, net)} is a {getattr(net, 'model_name', type(net).__name__)} model, "
            "not a super-resolution model (espcn or edsr)"
        )
    if own != scale:
        raise InvalidArgument(
            f"{_label(model, net)} upscales x{own} but scale {scale} was asked for; "
            f"use scale {own} or a x{scale} model"
        )
    return net


def load_denoiser(model: Any, *, device: str = "cpu") -> Any:
    """The denoiser ``denoise`` would use: ``"nlm"`` or a module (``None`` = shipped)."""
    from atelier.pretrained import load_restoration_model

    if isinstance(model, str) and model == "nlm":
        return "nlm"
    net = load_restoration_model("denoise" if model is None else model, device=device)
    if getattr(net, "model_name", None) not in DENOISER_FAMILIES:
        raise InvalidArgument(
            f"{_label(model, net)} is a {getattr(net, 'model_name', type(net).__name__)} model, "
            f"not a denoiser ({' or '.join(DENOISER_FAMILIES)})"
        )
    return net


def size_multiple(net: Any) -> int:
    """The size ``net`` works in without padding (tiles start on multiples of it): a U-Net's
    ``size_multiple``, FFDNet's ``downscale``, else 1."""
    own = getattr(net, "size_multiple", None)
    return int(own) if own is not None else int(getattr(net.config, "downscale", 1))


def min_tile(net: Any) -> int:
    """The smallest ``tile`` that leaves a core inside the overlap of ``net`` (1 for a baseline)."""
    if isinstance(net, str):
        return 1
    multiple = size_multiple(net)
    return 2 * (-(-int(net.receptive_radius) // multiple) * multiple) + multiple


def auto_tile(net: Any) -> int:
    """The tile ``tile="auto"`` gives ``net``: ``DEFAULT_TILE``, or at least six times its
    overlap (rounded up to 64) so that a tile's core, the part kept, is most of the tile.

    Peak memory grows with the tile's area: the shipped DRUNet (overlap 104) gets 640 px tiles,
    about 0.4 GiB above the model; an EDSR or DnCNN keeps 256.

    Example
    -------
    >>> from atelier.models import build_model
    >>> auto_tile(build_model("espcn", {"scale": 2, "width": 8}))
    256
    """
    if isinstance(net, str):
        return DEFAULT_TILE
    multiple = size_multiple(net)
    overlap = -(-int(net.receptive_radius) // multiple) * multiple
    return max(DEFAULT_TILE, -(-6 * overlap // 64) * 64)


def resolve_tile(net: Any, tile: int | str | None) -> int | None:
    """``tile`` with ``"auto"`` replaced by :func:`auto_tile` of ``net``."""
    return auto_tile(net) if isinstance(tile, str) and tile == "auto" else tile


def check_model_tile(net: Any, tile: int | str | None) -> None:
    """``InvalidArgument`` when ``tile`` leaves no core inside the overlap ``net`` needs: the
    up-front check of a batch, before any image is read (None: no tiling; a baseline: any).

    Example
    -------
    >>> from atelier.models import build_model
    >>> check_model_tile(build_model("espcn", {"scale": 2, "width": 8}), 4)
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: tile 4 is too small for this model (it sees 4 pixels on each side); use tile 9 or more
    """
    tile = resolve_tile(net, tile)
    if tile is None or isinstance(net, str):
        return
    if tile < min_tile(net):
        raise InvalidArgument(
            f"tile {tile} is too small for this model (it sees {net.receptive_radius} pixels on "
            f"each side); use tile {min_tile(net)} or more"
        )


def check_denoiser_sigma(net: Any, sigma: Any, model: Any = None) -> None:
    """``InvalidArgument`` when a blind denoiser (one without a noise-level map) is given a
    ``sigma`` other than ``"auto"``; ``model`` is what the user named, for the message."""
    if net != "nlm" and net.blind and sigma != "auto":
        raise InvalidArgument(
            f"{_label(model, net)} is a blind denoiser: it takes no sigma; use sigma auto "
            "or a model trained with a noise-level map"
        )


def _label(model: Any, net: Any) -> str:
    if model is None or isinstance(model, torch.nn.Module):
        return f"the model {getattr(net, 'model_name', type(net).__name__)}"
    return f"model {str(model)!r}"


def check_ensemble(net: Any, self_ensemble: object) -> None:
    """``InvalidArgument`` unless ``self_ensemble`` is a bool, and False for a baseline."""
    if not isinstance(self_ensemble, bool):
        raise InvalidArgument(f"self_ensemble must be True or False, got {self_ensemble!r}")
    if self_ensemble and isinstance(net, str):
        raise InvalidArgument(f"self-ensemble averages a network over flips and rotations; {net} is not a network")


def _ensembled(net: Any, fn):
    from atelier.tasks.ensemble import self_ensemble

    return self_ensemble(fn, size_multiple(net))


def _run(net: torch.nn.Module, planes: np.ndarray, fn, scale: int, tile: int | None, dtype: np.dtype) -> np.ndarray:
    """Run ``fn`` (a call of ``net``) tiled on ``planes`` (H x W x C float32); ``H s x W s x C``
    of ``dtype`` out, the network output clamped to [0, 1]. Each tile's output is converted
    straight into the preallocated result (a uint8 result takes a quarter of a float one).

    A 1-channel net takes the channels one at a time; a 3-channel net takes a single-channel
    image as three equal channels and gives back their mean."""
    from atelier.tasks.tiling import tiled

    want = int(net.config.channels)
    h, w, c = planes.shape
    if want == 1:
        groups = [(planes[..., k : k + 1], slice(k, k + 1)) for k in range(c)]
    else:
        groups = [(np.repeat(planes, 3, axis=2) if c == 1 else planes, slice(0, c))]
    out = np.empty((h * scale, w * scale, c), dtype)
    device = resolve_device(None, net)
    multiple = size_multiple(net)
    side = resolve_tile(net, tile) if tile is not None else max(h, w)
    was_training = net.training
    net.eval()
    try:
        for g, chans in groups:
            x = torch.from_numpy(np.ascontiguousarray(g.transpose(2, 0, 1))).unsqueeze(0).to(device)

            def write(rows: slice, cols: slice, piece: torch.Tensor, chans: slice = chans) -> None:
                p = piece[0].clamp(0.0, 1.0)
                if want == 3 and c == 1:
                    p = p.mean(dim=0, keepdim=True)
                out[rows, cols, chans] = from_float(p.permute(1, 2, 0).contiguous().cpu().numpy(), dtype)

            tiled(fn, x, scale, side, int(net.receptive_radius), multiple=multiple, write=write)
    finally:
        net.train(was_training)
    return out


def _planes(rgb: np.ndarray) -> np.ndarray:
    """Float32 ``H x W x C`` (grey gets a channel axis)."""
    f = to_float(rgb)
    return f[..., None] if f.ndim == 2 else f


def _restore_layout(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``H x W x C`` back to the layout of ``like`` (grey ``H x W`` stays 2-D)."""
    return out[..., 0] if like.ndim == 2 else out


# ----------------------------------------------------------------------------- upscale


def upscale(
    image: np.ndarray,
    scale: int = 4,
    model: Any = None,
    tile: int | str | None = "auto",
    device: str = "cpu",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    self_ensemble: bool = False,
) -> np.ndarray:
    """Upscale an image ``scale`` times with a super-resolution network (or bicubic).

    Parameters
    ----------
    image : ndarray, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        uint8, uint16 or float32 in [0, 1].
    scale : {2, 3, 4}
    model : None, "bicubic", str, path or nn.Module
        None: the shipped ``sr-x{scale}`` weights; ``"bicubic"``: Pillow's antialiased bicubic
        (the baseline); a shipped name, a run folder or a ``model.safetensors`` path; or a
        loaded espcn/edsr model.
    tile : int, "auto" or None
        Largest tile side in input pixels ("auto": :func:`auto_tile`; None: one piece). Tiles
        overlap by the model's receptive radius, so the result does not depend on it.
    device : str
        Where a loaded network runs ("cpu", "cuda"; a module passed in runs where it is).
    max_pixels : int
        Limit on the output's width x height.
    self_ensemble : bool
        Average the network over the 8 flips and rotations of each tile (EDSR+'s x8
        self-ensemble, :mod:`atelier.tasks.ensemble`): 8 times the time, about +0.1-0.2 dB.

    Returns
    -------
    ndarray, shape (H * scale, W * scale[, C]), the input's dtype; network output clamped to
    [0, 1] before conversion; alpha resized with antialiased bicubic.

    Raises
    ------
    InvalidArgument
        Bad scale or tile; a model of another scale (naming both); missing or corrupt weights.
    ImageTooLarge
        The input or the output is over ``max_pixels``.

    Example
    -------
    >>> import numpy as np
    >>> from atelier.models import build_model
    >>> net = build_model("espcn", {"scale": 2, "width": 8})
    >>> upscale(np.zeros((5, 7, 4), np.uint16), scale=2, model=net).shape
    (10, 14, 4)
    """
    from atelier.ops.geometry import resize

    image = check_image(image)
    scale = _check_scale(scale)
    tile = _check_tile(tile)
    h, w = image.shape[:2]
    _check_pixels(h, w, max_pixels, "the input is")
    _check_pixels(h * scale, w * scale, max_pixels, f"upscaling {w}x{h} by {scale} would give")
    device = str(resolve_device(device))  # checked even where a baseline ignores it
    net = load_sr_model(model, scale, device=device)

    def bicubic(a: np.ndarray) -> np.ndarray:
        return resize(a, width=w * scale, height=h * scale, method="bicubic", antialias=True)

    check_ensemble(net, self_ensemble)
    if net == "bicubic":
        return bicubic(image)
    rgb, alpha = split_alpha(image)
    fn = _ensembled(net, net) if self_ensemble else net
    result = _restore_layout(_run(net, _planes(rgb), fn, scale, tile, image.dtype), rgb)
    return merge_alpha(result, None if alpha is None else bicubic(alpha))


# ----------------------------------------------------------------------------- denoise


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Gaussian noise level of an image in 0..255 units (of its full range).

    ``skimage.restoration.estimate_sigma`` (the wavelet median-absolute-deviation estimator
    of Donoho & Johnstone 1994) per colour channel, averaged (as ``average_sigmas=True`` with
    ``channel_axis=-1`` does, except that a perfectly flat channel counts as 0 instead of
    making the mean NaN); alpha is ignored.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> noisy = np.clip(0.5 + rng.normal(0, 20 / 255, (64, 64, 3)), 0, 1).astype(np.float32)
    >>> abs(estimate_noise_sigma(noisy) - 20) < 1.5
    True
    """
    from skimage.restoration import estimate_sigma

    rgb, _ = split_alpha(check_image(image))
    f = to_float(rgb)
    if f.ndim == 3 and f.shape[2] == 1:
        f = f[..., 0]
    axis = -1 if f.ndim == 3 else None
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        # a perfectly flat channel has no non-zero detail coefficient: numpy warns, skimage
        # returns NaN; that channel has no noise
        warnings.simplefilter("ignore", RuntimeWarning)
        sigmas = [estimate_sigma(f[..., c] if axis else f, channel_axis=None) for c in range(f.shape[-1] if axis else 1)]
    return float(np.mean(np.nan_to_num(sigmas, nan=0.0))) * 255.0


def best_nlm_h(sigma: float) -> float:
    """OpenCV NLM ``h`` for noise of ``sigma`` (0..255 units): the measured ``NLM_H``.

    The best ``h`` on CSet5 is not a fixed multiple of sigma (0.5 sigma at 5, 0.6 at 10-15,
    0.8 at 25, 0.6 at 50), so the table is interpolated linearly between the measured levels;
    below 5 and above 50, ``h`` keeps the ratio of the nearest level.

    Example
    -------
    >>> best_nlm_h(25), best_nlm_h(20), best_nlm_h(100)
    (20.0, 14.5, 60.0)
    """
    levels = sorted(NLM_H)
    if sigma >= levels[-1]:
        return NLM_H[levels[-1]] * float(sigma) / levels[-1]
    if sigma <= levels[0]:
        return NLM_H[levels[0]] * float(sigma) / levels[0]
    return float(np.interp(sigma, levels, [NLM_H[s] for s in levels]))


def nlm_denoise(image: np.ndarray, sigma: float, h: float | None = None) -> np.ndarray:
    """OpenCV non-local means: ``fastNlMeansDenoisingColored`` (grey: ``fastNlMeansDenoising``).

    ``h`` (and ``hColor``) default to :func:`best_nlm_h` of ``sigma``; templateWindowSize 7,
    searchWindowSize 21 (OpenCV's defaults). OpenCV's colour NLM works on 8 bits, so other
    dtypes go through uint8 and back. Alpha passes through unchanged.
    """
    import cv2

    image = check_image(image)
    rgb, alpha = split_alpha(image)
    strength = best_nlm_h(sigma) if h is None else float(h)
    u8 = to_uint8(rgb)
    if u8.ndim == 3 and u8.shape[2] == 3:
        bgr = cv2.cvtColor(u8, cv2.COLOR_RGB2BGR)  # BGR only for this call (convention 1)
        out = cv2.cvtColor(cv2.fastNlMeansDenoisingColored(bgr, None, strength, strength, 7, 21), cv2.COLOR_BGR2RGB)
    else:
        out = cv2.fastNlMeansDenoising(u8, None, strength, 7, 21).reshape(u8.shape)
    if rgb.dtype != np.uint8:
        out = from_float(to_float(out), rgb.dtype)
    return merge_alpha(out, alpha)


def _check_sigma(sigma: object) -> float | str:
    if isinstance(sigma, str):
        if sigma == "auto":
            return sigma
        raise InvalidArgument(f"sigma must be a number in [0, 255] or 'auto', got {sigma!r}")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)):
        raise InvalidArgument(f"sigma must be a number in [0, 255] or 'auto', got {sigma!r}")
    if not (math.isfinite(sigma) and 0 <= sigma <= 255):
        raise InvalidArgument(f"sigma must be in [0, 255] (8-bit units), got {sigma!r}")
    return float(sigma)


def denoise(
    image: np.ndarray,
    sigma: float | str = "auto",
    model: Any = None,
    tile: int | str | None = "auto",
    device: str = "cpu",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    return_sigma: bool = False,
    self_ensemble: bool = False,
) -> np.ndarray | tuple[np.ndarray, float]:
    """Remove Gaussian-like noise with a learned denoiser, DRUNet or DnCNN (or OpenCV non-local means).

    Parameters
    ----------
    image : ndarray, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        uint8, uint16 or float32 in [0, 1].
    sigma : float or "auto"
        Noise standard deviation in 0..255 units (of the full range); ``"auto"`` estimates it
        per image (:func:`estimate_noise_sigma`). A blind model takes no number.
    model : None, "nlm", str, path or nn.Module
        None: the shipped ``denoise`` weights; ``"nlm"``: OpenCV's
        ``fastNlMeansDenoisingColored`` with ``h = best_nlm_h(sigma)``; a shipped name, a run
        folder, a ``model.safetensors`` path, or a loaded drunet or dncnn model.
    tile : int, "auto" or None
        Largest tile side in pixels ("auto": :func:`auto_tile`; None: one piece); the result
        does not depend on it.
    device : str
        Where a loaded network runs (a module passed in runs where it is).
    max_pixels : int
        Limit on width x height.
    return_sigma : bool
        Also return the noise level: the estimate with ``sigma="auto"`` (also for a blind
        model, which does not use it), else ``sigma`` itself.

    Returns
    -------
    ndarray of the input's shape and dtype; network output clamped to [0, 1]; alpha unchanged.
    With ``return_sigma``: ``(image, sigma)``, sigma in 0..255 units.

    Raises
    ------
    InvalidArgument
        A bad sigma or tile, a number given to a blind model, missing or corrupt weights.
    ImageTooLarge
        The image is over ``max_pixels``.

    Example
    -------
    >>> import numpy as np
    >>> img = np.full((16, 16, 3), 128, np.uint8)
    >>> denoise(img, sigma=10, model="nlm").shape
    (16, 16, 3)
    """
    image = check_image(image)
    sigma = _check_sigma(sigma)
    tile = _check_tile(tile)
    _check_pixels(image.shape[0], image.shape[1], max_pixels, "the input is")
    device = str(resolve_device(device))  # checked even where a baseline ignores it
    net = load_denoiser(model, device=device)
    check_denoiser_sigma(net, sigma, model)
    check_ensemble(net, self_ensemble)
    blind = net != "nlm" and net.blind
    known = None if sigma == "auto" and (blind and not return_sigma) else (
        estimate_noise_sigma(image) if sigma == "auto" else sigma
    )
    if net == "nlm":
        out = nlm_denoise(image, known)
    else:
        level = None if blind else known
        rgb, alpha = split_alpha(image)

        def call(t: torch.Tensor) -> torch.Tensor:
            return net(t, level)

        fn = _ensembled(net, call) if self_ensemble else call
        planes = _run(net, _planes(rgb), fn, 1, tile, image.dtype)
        out = merge_alpha(_restore_layout(planes, rgb), alpha)
    return (out, float(known)) if return_sigma else out
