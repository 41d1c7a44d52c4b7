"""Benchmark protocols of super-resolution and denoising, each with its classic baseline.

``evaluate_sr`` (the protocol of the super-resolution literature, ``../shared/data/README.md``):
each high-resolution image is cropped to a multiple of ``scale`` (top-left kept), downscaled
with Pillow's antialiased bicubic (:func:`atelier.ops.resize`, ``antialias=True``), restored,
quantised to uint8 like a saved image, and compared with the original on the Y channel of
BT.601 YCbCr (MATLAB ``rgb2ycbcr``, float64, not rounded) with ``scale`` pixels cropped from
every border: PSNR and SSIM. Bicubic upsampling (Pillow's, the same kernel) is measured in the
same run. On CSet5 it gives 33.67 / 30.40 / 28.43 dB at x2 / x3 / x4 (published 33.66 / 30.39
/ 28.42).

``evaluate_denoise``: Gaussian noise of standard deviation ``sigma / 255`` is drawn from
``numpy.random.default_rng(seed)`` (one generator, images in file-name order, one draw of the
image's shape each), added to the image as float64 in [0, 1], clipped to [0, 1] and quantised
to uint8 (rounded) -- the noisy photo as it would be saved. The noisy image, OpenCV non-local
means (``fastNlMeansDenoisingColored`` at ``h = best_nlm_h(sigma)``) and the model are
measured by RGB PSNR and SSIM against the clean image. A noise-map model is given the true
sigma (as FFDNet is evaluated); ``estimate=True`` lets it estimate sigma instead.

Both return a :class:`RestorationScores`: one row per image, the mean of each method, JSON
with ``as_dict()``.

Example
-------
>>> import numpy as np, tempfile, os
>>> from atelier.image import save_image
>>> folder = tempfile.mkdtemp()
>>> save_image(os.path.join(folder, "a.png"), np.full((40, 40, 3), 128, np.uint8))
>>> scores = evaluate_sr("bicubic", folder, scale=2)
>>> scores.methods, scores.mean["bicubic"]["ssim"]
(['bicubic'], 1.0)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from atelier.errors import InvalidArgument

__all__ = ["RestorationScores", "evaluate_sr", "evaluate_denoise", "add_noise", "list_images"]


@dataclass
class RestorationScores:
    """Per-image and mean PSNR/SSIM of several methods under one protocol.

    ``rows``: ``[{"image": name, method: {"psnr": dB, "ssim": value}, ...}, ...]``;
    ``mean``: ``{method: {"psnr": ..., "ssim": ...}}``; ``setting``: the protocol's knobs.
    """

    task: str
    data: str
    setting: dict[str, Any]
    methods: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    mean: dict[str, dict[str, float]] = field(default_factory=dict)
    protocol: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "data": self.data,
            **self.setting,
            "protocol": self.protocol,
            "methods": self.methods,
            "mean": self.mean,
            "rows": self.rows,
        }

    def _finish(self) -> "RestorationScores":
        self.mean = {
            m: {k: float(np.mean([r[m][k] for r in self.rows])) for k in ("psnr", "ssim")}
            for m in self.methods
        }
        return self


def list_images(data_dir: str | os.PathLike) -> list[Path]:
    """The image files directly in ``data_dir``, sorted by name; ``InvalidArgument`` if none."""
    from atelier.image import FORMATS, is_image_path

    folder = Path(data_dir).expanduser()
    if folder.is_file():
        raise InvalidArgument(
            f"data {data_dir} is a file; it takes a folder of images (the benchmark's test set)"
        )
    if not folder.is_dir():
        raise InvalidArgument(f"data {data_dir}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p))
    if not files:
        raise InvalidArgument(f"data {data_dir}: no images ({', '.join(sorted(FORMATS))})")
    return files


def _x8(self_ensemble: bool) -> str:
    return " x8" if self_ensemble else ""


def _label(model: Any, default: str) -> str:
    import torch

    if model is None:
        return default
    if isinstance(model, torch.nn.Module):
        return str(getattr(model, "model_name", type(model).__name__))
    return str(model)


def _scores(ref: np.ndarray, out: np.ndarray, **kw: Any) -> dict[str, float]:
    from atelier.metrics import psnr, ssim

    return {"psnr": psnr(ref, out, **kw), "ssim": ssim(ref, out, **kw)}


def evaluate_sr(
    model: Any,
    data_dir: str | os.PathLike,
    scale: int,
    *,
    tile: int | str | None = "auto",
    device: str = "cpu",
    on_image: Callable[[str], None] | None = None,
    self_ensemble: bool = False,
) -> RestorationScores:
    """PSNR and SSIM (Y channel, ``scale`` px cropped) of ``model`` and of bicubic on a folder.

    Parameters
    ----------
    model : None, "bicubic", str, path or nn.Module
        As for :func:`atelier.tasks.restore.upscale` (None: the shipped ``sr-x{scale}``).
        ``"bicubic"`` measures the baseline alone.
    data_dir : path
        A folder of high-resolution images (e.g. ``../shared/data/bench/CSet5``).
    scale : {2, 3, 4}
    on_image : callable
        Called with each image's name when it is done (progress).
    self_ensemble : bool
        Run the model with x8 self-ensemble (its label gets `` x8``).

    Returns
    -------
    RestorationScores with methods ``["bicubic", <model>]``, uint8 results measured.
    """
    from atelier.image import load_image
    from atelier.ops.geometry import resize
    from atelier.devices import resolve_device
    from atelier.tasks.restore import check_ensemble, load_sr_model, upscale

    device = str(resolve_device(device))
    net = load_sr_model(model, scale, device=device)
    files = list_images(data_dir)
    check_ensemble(net, self_ensemble)
    methods = ["bicubic"] if net == "bicubic" else ["bicubic", _label(model, f"sr-x{scale}") + _x8(self_ensemble)]
    result = RestorationScores(
        "sr", str(data_dir), {"scale": scale, "self_ensemble": self_ensemble}, methods,
        protocol="HR cropped to a multiple of scale; LR = Pillow antialiased bicubic; "
        "PSNR/SSIM on BT.601 Y (MATLAB rgb2ycbcr), scale px border cropped, uint8 outputs",
    )
    for path in files:
        hr = load_image(path, mode="rgb")
        h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
        if min(h, w) < 2 * scale + 11:
            raise InvalidArgument(f"{path.name} is too small ({hr.shape[1]}x{hr.shape[0]}) for x{scale} evaluation")
        hr = np.ascontiguousarray(hr[:h, :w])
        lr = resize(hr, width=w // scale, height=h // scale, method="bicubic", antialias=True)
        outputs = {"bicubic": resize(lr, width=w, height=h, method="bicubic", antialias=True)}
        if net != "bicubic":
            outputs[methods[1]] = upscale(lr, scale, net, tile=tile, device=device, self_ensemble=self_ensemble)
        row: dict[str, Any] = {"image": path.stem}
        for m in methods:
            row[m] = _scores(hr, outputs[m], channel="y", crop=scale)
        result.rows.append(row)
        if on_image is not None:
            on_image(path.stem)
    return result._finish()


def add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``image`` + N(0, (sigma/255)^2) in float64, clipped to [0, 1], quantised to uint8.

    Example
    -------
    >>> import numpy as np
    >>> noisy = add_noise(np.full((64, 64), 128, np.uint8), 10, np.random.default_rng(0))
    >>> noisy.dtype, bool(abs(noisy.astype(float).std() - 10) < 0.5)
    (dtype('uint8'), True)
    """
    f = image.astype(np.float64) / 255.0 + rng.normal(0.0, sigma / 255.0, image.shape)
    return np.rint(np.clip(f, 0.0, 1.0) * 255.0).astype(np.uint8)


def evaluate_denoise(
    model: Any,
    data_dir: str | os.PathLike,
    sigma: float,
    seed: int = 0,
    *,
    estimate: bool = False,
    tile: int | str | None = "auto",
    device: str = "cpu",
    on_image: Callable[[str], None] | None = None,
    self_ensemble: bool = False,
) -> RestorationScores:
    """RGB PSNR and SSIM of the noisy image, OpenCV NLM and ``model`` at noise level ``sigma``.

    Parameters
    ----------
    model : None, "nlm", str, path or nn.Module
        As for :func:`atelier.tasks.restore.denoise` (None: the shipped ``denoise``).
        ``"nlm"`` measures the baseline alone.
    data_dir : path
        A folder of clean images.
    sigma : float
        Noise standard deviation in 0..255 units.
    seed : int
        Seed of ``numpy.random.default_rng`` for the noise.
    estimate : bool
        Give the model ``sigma="auto"`` (estimated per image) instead of the true level.
    self_ensemble : bool
        Run the model with x8 self-ensemble (its label gets `` x8``).

    Returns
    -------
    RestorationScores with methods ``["noisy", "nlm", <model>]``.
    """
    from atelier.image import load_image
    from atelier.tasks.restore import best_nlm_h, check_ensemble, denoise, load_denoiser, nlm_denoise

    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma <= 255:
        raise InvalidArgument(f"sigma must be a number in (0, 255], got {sigma!r}")
    from atelier.devices import resolve_device

    device = str(resolve_device(device))
    net = load_denoiser(model, device=device)
    check_ensemble(net, self_ensemble)
    blind = net != "nlm" and net.blind
    files = list_images(data_dir)
    methods = ["noisy", "nlm"] + ([] if net == "nlm" else [_label(model, "denoise") + _x8(self_ensemble)])
    h = best_nlm_h(sigma)
    result = RestorationScores(
        "denoise", str(data_dir), {"sigma": float(sigma), "seed": seed, "nlm_h": h, "self_ensemble": self_ensemble},
        methods,
        protocol="uint8 clean + Gaussian noise (numpy default_rng(seed)), clipped, quantised to "
        "uint8; RGB PSNR/SSIM",
    )
    rng = np.random.default_rng(seed)
    level = "auto" if (estimate or blind) else float(sigma)
    for path in files:
        clean = load_image(path, mode="rgb")
        noisy = add_noise(clean, float(sigma), rng)
        outputs = {"noisy": noisy, "nlm": nlm_denoise(noisy, sigma, h=h)}
        if net != "nlm":
            outputs[methods[2]] = denoise(noisy, level, net, tile=tile, device=device, self_ensemble=self_ensemble)
        row: dict[str, Any] = {"image": path.stem}
        for m in methods:
            row[m] = _scores(clean, outputs[m])
        result.rows.append(row)
        if on_image is not None:
            on_image(path.stem)
    return result._finish()
