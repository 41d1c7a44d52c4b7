"""Sampling from trained generative models: sample grids, latent interpolations, PNG files.

A RUN is a training run folder (``model.safetensors`` + ``model.json`` at its top, beside
``config.json``, ``checkpoints/``, ...) or any folder holding those two files;
:func:`load_generator` rebuilds the model from it. Images are ``(n, C, H, W)`` float32
tensors in [0, 1] (DESIGN.md convention 1) until :func:`make_grid` turns them into one
``H x W x C`` uint8 numpy image.

How a family maps a latent to an image (for interpolation) is registered per model name with
:func:`register_latent_decoder` — a registry, not an if-chain.

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> gan = build_model("dcgan", {"resolution": 16, "width": 8, "latent_dim": 4})
>>> images = sample_images(gan, 6, seed=1)
>>> tuple(images.shape), bool(torch.equal(images, sample_images(gan, 6, seed=1)))
((6, 1, 16, 16), True)
>>> make_grid(images, nrow=3).shape
(38, 56, 1)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from atelier.devices import resolve_device
from atelier.errors import AtelierError, InvalidArgument
from atelier.image import save_image
from atelier.models.layers import default_labels

__all__ = [
    "Labels",
    "LatentDecoder",
    "expand_labels",
    "interpolate",
    "is_conditional",
    "load_generator",
    "make_grid",
    "register_latent_decoder",
    "resolve_run",
    "sample_images",
    "save_each",
    "save_grid",
    "slerp",
]

#: One label for every sample, a list of labels (cycled to the sample count), or None.
Labels = int | Sequence[int] | None


@dataclass(frozen=True)
class LatentDecoder:
    """How a family turns latents ``(B, latent_dim)`` (and labels ``(B,)``) into images."""

    decode: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor | None], torch.Tensor]
    conditional: bool


_DECODERS: dict[str, LatentDecoder] = {}


def register_latent_decoder(name: str, *, conditional: bool) -> Callable:
    """Decorator: register ``decode(model, z, y) -> images in [0, 1]`` for model family ``name``."""

    def deco(fn: Callable) -> Callable:
        _DECODERS[name] = LatentDecoder(fn, conditional)
        return fn

    return deco


register_latent_decoder("dcgan", conditional=False)(lambda m, z, y: m.generator(z))
register_latent_decoder("cgan", conditional=True)(lambda m, z, y: m.generator(z, y))
register_latent_decoder("vae", conditional=False)(lambda m, z, y: m.decode(z))
register_latent_decoder("cvae", conditional=True)(lambda m, z, y: m.decode(z, y))
register_latent_decoder("vaegan", conditional=False)(lambda m, z, y: m.decode(z))


def _family(model: torch.nn.Module) -> str:
    return getattr(type(model), "model_name", type(model).__name__)


def _decoder(model: torch.nn.Module) -> LatentDecoder:
    name = _family(model)
    dec = _DECODERS.get(name)
    if dec is None or not hasattr(model, "sample"):
        raise InvalidArgument(
            f"model {name!r} is not a generator atelier can sample from "
            f"(generators: {', '.join(sorted(_DECODERS))})"
        )
    return dec


def is_conditional(model: torch.nn.Module) -> bool:
    """True for class-conditional generators (they take labels)."""
    return _decoder(model).conditional


# ----------------------------------------------------------------------------- runs


def resolve_run(run: str | os.PathLike) -> Path:
    """The folder holding ``model.json`` + ``model.safetensors`` of a RUN (or of a shipped
    generator named like ``cgan-mnist``), or a clear error."""
    from atelier.models.registry import CONFIG_FILE, WEIGHTS_FILE

    path = Path(run).expanduser()
    if not path.exists() and _shipped_generator(str(run)):
        return _shipped_folder(str(run))
    if not path.exists():
        raise AtelierError(f"{path}: no such run folder; give a training run folder or a "
                           f"folder with {WEIGHTS_FILE} and {CONFIG_FILE}")
    if not path.is_dir():
        raise AtelierError(f"{path} is a file; give its run folder (holding {WEIGHTS_FILE} "
                           f"and {CONFIG_FILE})")
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE) if not (path / f).is_file()]
    if missing:
        hint = (" (the run has checkpoints but no exported model yet: let training finish "
                "or export it)") if (path / "checkpoints").is_dir() else ""
        raise AtelierError(f"{path} has no {' or '.join(missing)}{hint}; a RUN must hold "
                           f"{WEIGHTS_FILE} and {CONFIG_FILE}")
    return path


def _shipped_generator(name: str) -> bool:
    from atelier.pretrained import PRETRAINED

    return name in PRETRAINED and PRETRAINED[name].task == "sample"


def _shipped_folder(name: str) -> Path:
    """The folder of a shipped generator (``dcgan-mnist``...), or how to train it when missing."""
    from atelier.pretrained import PRETRAINED, is_installed, pretrained_dir

    if not is_installed(name):
        raise AtelierError(f"the shipped model {name!r} is not in this install; train it with "
                           f"`{PRETRAINED[name].train_command}` and pass the run folder")
    return pretrained_dir(name)


def load_generator(run: str | os.PathLike, *, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Load the exported model of a RUN on ``device`` (eval mode); refuse non-generators."""
    from atelier.models import load_model

    device = resolve_device(device)  # an unknown or missing device before any file is read
    model = load_model(resolve_run(run), device=str(device))
    _decoder(model)
    return model


# ----------------------------------------------------------------------------- sampling


def expand_labels(model: torch.nn.Module, labels: Labels, n: int) -> torch.Tensor | None:
    """``(n,)`` int64 labels for a conditional model (None: ``default_labels``, cycling
    0..K-1 or following the model's ``label_prior``), None otherwise.

    An unconditional model given labels raises ``InvalidArgument``; a list is cycled to ``n``
    (``[3]`` is all threes, ``[0, 1]`` alternates); labels outside ``0..K-1`` are refused.
    """
    if not is_conditional(model):
        if labels is not None:
            raise InvalidArgument(
                f"{_family(model)} is unconditional: it takes no labels "
                "(train a conditional model such as cgan or cvae)"
            )
        return None
    k = int(model.config.num_classes)
    if labels is None:
        y = default_labels(n, k, getattr(model.config, "label_prior", ()))
    elif isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
        y = torch.full((n,), int(labels), dtype=torch.long)
    else:
        values = list(labels)
        if not values or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values
        ):
            raise InvalidArgument(f"labels must be one integer or a non-empty list of integers, "
                                  f"got {labels!r}")
        y = torch.tensor(values, dtype=torch.long).repeat(math.ceil(n / len(values)))[:n]
    if int(y.min()) < 0 or int(y.max()) >= k:
        raise InvalidArgument(f"labels must be in 0..{k - 1} for this {_family(model)} model, "
                              f"got {int(y.min())}..{int(y.max())}")
    return y


def _check_count(n: object, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidArgument(f"{what} must be a positive integer, got {n!r}")
    return int(n)


def sample_images(
    model: torch.nn.Module,
    n: int,
    *,
    seed: int = 0,
    labels: Labels = None,
    device: str | torch.device | None = None,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """``n`` samples ``(n, C, H, W)`` float32 in [0, 1] on the CPU, deterministic per seed.

    Parameters
    ----------
    model : a generator from ``atelier.models`` (dcgan, cgan, vae, cvae, vaegan)
        VAE families decode draws from their N(0, I) prior.
    n : int
    seed : int
        Seeds one CPU ``torch.Generator`` for all the noise: the same seed gives the same
        images on the same device (DESIGN.md convention 6).
    labels : int, list of int or None
        For conditional models: one class for all, a list cycled to ``n``, or None to cycle
        0..K-1. Unconditional models raise ``InvalidArgument`` when given labels.
    device : "auto", "cpu", "cuda", ... or None (the model's own device)
    batch_size : int
        Images per forward pass.
    progress : callable, optional
        Called with the number of images finished after each batch.
    """
    n = _check_count(n)
    batch_size = _check_count(batch_size, "batch_size")
    y = expand_labels(model, labels, n)
    dev = resolve_device(device, model)
    model = model.to(dev)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    out = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        kw = {} if y is None else {"labels": y[start:start + b]}
        out.append(model.sample(b, generator=gen, device=dev, **kw).float().cpu())
        if progress is not None:
            progress(b)
    return torch.cat(out)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows ``z0``, ``z1`` ``(B, D)`` at fractions ``t`` ``(T,)``.

    Returns ``(B, T, D)``. For Gaussian latents it keeps the norm typical of the prior where a
    straight line passes near the origin (White 2016, "Sampling Generative Networks", after
    Shoemake 1985); nearly parallel endpoints fall back to linear interpolation.

    Example
    -------
    >>> z = slerp(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([0.5]))
    >>> [round(v, 4) for v in z[0, 0].tolist()]
    [0.7071, 0.7071]
    """
    a = z0 / z0.norm(dim=1, keepdim=True).clamp_min(1e-12)
    b = z1 / z1.norm(dim=1, keepdim=True).clamp_min(1e-12)
    omega = torch.acos((a * b).sum(dim=1).clamp(-1.0, 1.0))[:, None, None]  # (B, 1, 1)
    t = t.to(z0.dtype)[None, :, None]  # (1, T, 1)
    so = torch.sin(omega)
    lerp = (1 - t) * z0[:, None] + t * z1[:, None]
    safe = so.abs() > 1e-6
    so = torch.where(safe, so, torch.ones_like(so))
    sph = (torch.sin((1 - t) * omega) / so) * z0[:, None] + (torch.sin(t * omega) / so) * z1[:, None]
    return torch.where(safe, sph, lerp)


def interpolate(
    model: torch.nn.Module,
    steps: int = 8,
    *,
    seed: int = 0,
    rows: int = 8,
    labels: Labels = None,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Latent interpolations: ``rows`` rows of ``steps`` images ``(rows * steps, C, H, W)``.

    Each row slerps (:func:`slerp`) between two random latents drawn from N(0, I) with
    ``seed``; a conditional model keeps one label per row (``labels`` as in
    :func:`sample_images`, cycled over the rows; None cycles the classes). Lay it out with
    ``make_grid(images, nrow=steps)``.
    """
    steps = _check_count(steps, "steps")
    rows = _check_count(rows, "rows")
    dec = _decoder(model)
    y = expand_labels(model, labels, rows)
    dev = resolve_device(device, model)
    model = model.to(dev)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    dim = int(model.config.latent_dim)
    draw = getattr(model, "draw_prior", None)  # a VAE's fitted latent mixture, else N(0, I)
    ends = draw(2 * rows, generator=gen, device="cpu") if draw else torch.randn(2 * rows, dim, generator=gen)
    ends = ends.cpu().reshape(2, rows, dim)
    t = torch.linspace(0.0, 1.0, steps) if steps > 1 else torch.zeros(1)
    z = slerp(ends[0], ends[1], t).reshape(rows * steps, dim).to(dev)
    if y is not None:
        y = y.repeat_interleave(steps).to(dev)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return dec.decode(model, z, y).float().cpu()
    finally:
        model.train(was_training)


# ----------------------------------------------------------------------------- grids and files


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """``(n, C, H, W)`` in [0, 1] -> ``(n, H, W, C)`` uint8 (rounded)."""
    if not torch.is_tensor(images) or images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise InvalidArgument(f"expected images (n, C, H, W) with C in 1, 3, 4, got {shape}")
    x = images.detach().float().cpu().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def make_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile ``(n, C, H, W)`` images in [0, 1] into one ``H' x W' x C`` uint8 image.

    ``nrow`` images per row (fewer when ``n`` is smaller), ``padding`` pixels of ``pad_value``
    between and around the tiles: ``H' = rows * (H + p) + p``, ``W' = cols * (W + p) + p``
    (torchvision's ``make_grid`` layout, written by hand here since torchvision is not a
    dependency).

    Example
    -------
    >>> make_grid(torch.ones(5, 3, 4, 4), nrow=2, padding=1).shape
    (16, 11, 3)
    """
    nrow = _check_count(nrow, "nrow")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise InvalidArgument(f"padding must be an integer >= 0, got {padding!r}")
    tiles = _to_uint8(images)
    n, h, w, c = tiles.shape
    if n == 0:
        raise InvalidArgument("make_grid needs at least one image")
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    p = padding
    grid = np.full((rows * (h + p) + p, cols * (w + p) + p, c), pad_value, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        y0, x0 = p + r * (h + p), p + col * (w + p)
        grid[y0:y0 + h, x0:x0 + w] = tiles[i]
    return grid


def save_grid(path: str | os.PathLike, grid: np.ndarray, *, overwrite: bool = False) -> None:
    """Write a grid image atomically; an existing file is kept unless ``overwrite``."""
    grid = np.asarray(grid)
    if grid.ndim == 3 and grid.shape[2] == 1:
        grid = grid[..., 0]
    save_image(path, grid, overwrite=overwrite)


def save_each(
    folder: str | os.PathLike, images: torch.Tensor, *, overwrite: bool = False,
    prefix: str = "sample_",
) -> list[Path]:
    """Write each image as ``folder/{prefix}{i:05d}.png`` (atomically); return the paths.

    Every target is checked first, so nothing is written when one exists without
    ``overwrite``.
    """
    tiles = _to_uint8(images)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidArgument(f"{folder} is a file; the images need a folder")
    paths = [folder / f"{prefix}{i:05d}.png" for i in range(len(tiles))]
    if not overwrite:
        taken = [p for p in paths if p.exists()]
        if taken:
            from atelier.errors import OutputExists

            raise OutputExists(f"{taken[0]} exists ({len(taken)} of the files do); pass "
                               "overwrite=True to replace them or choose another folder")
    for p, tile in zip(paths, tiles):
        save_image(p, tile[..., 0] if tile.shape[2] == 1 else tile, overwrite=True)
    return paths
