"""Sampling a diffusion model: text-to-image, class-conditional and unconditional, and SDEdit.

The loop is spelled out as diffusers' pipelines do (``set_timesteps``; for each timestep:
model -> ``scheduler.step``), with classifier-free guidance in the model call
(:func:`~atelier.tasks.diffusion_model.guided_output`) and the progress reported once per
timestep. The model works in [-1, 1]; images come back ``(N, H, W, C)`` uint8 (or float32 in
[0, 1]) at the model's resolution.

Editing by description (SDEdit, Meng et al. 2022): ``init`` images are noised to the level
``strength`` selects and denoised from there under the prompt — of ``steps`` timesteps the last
``int(steps * strength)`` run, as diffusers' img2img ``get_timesteps`` does. ``strength`` 1
starts from the noisiest timestep (little of the image is left), a small strength changes
little.

Randomness: one CPU ``torch.Generator`` seeded with ``seed`` draws the starting noise of all
``n`` images first, then the noise the stochastic samplers add: the same seed gives the same
images on the same device, and with a deterministic sampler (``ddim`` at ``eta`` 0, ``dpm``)
the same images whatever the ``batch_size`` (up to the float rounding of batched convolutions).

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> from atelier.schedulers import get_scheduler
>>> from atelier.tasks.diffusion_model import DiffusionModel
>>> net = build_model("diffusion", {"resolution": 16, "channels": 3, "width": 16, "channel_mults": [1, 2],
...                                 "attention_resolutions": [8], "cond": "label", "num_classes": 3})
>>> model = DiffusionModel(net.eval(), get_scheduler("ddpm", {"num_train_timesteps": 100}))
>>> images = generate_images(model, labels=[0, 2], n=4, steps=5, seed=1)
>>> images.shape, images.dtype.name
((4, 16, 16, 3), 'uint8')
>>> bool((images == generate_images(model, labels=[0, 2], n=4, steps=5, seed=1)).all())
True

Reference
---------
J. Ho, T. Salimans, "Classifier-Free Diffusion Guidance", 2022. C. Meng et al., "SDEdit:
Guided Image Synthesis and Editing with Stochastic Differential Equations", ICLR 2022.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np
import torch

from atelier.arrays import check_image, from_float, split_alpha, to_float
from atelier.errors import InvalidArgument
from atelier.tasks.diffusion_model import (
    DiffusionModel,
    DiffusionWarning,
    guided_output,
    sampling_mode,
    start_sampling,
)

__all__ = ["generate_images", "interpolate_noise", "prepare_images", "to_model_space", "from_model_space"]

Progress = Callable[[int, int], None]


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgument(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``H x W x C`` float32 resized to ``size`` (h, w): area when shrinking, bicubic when growing."""
    import cv2

    h, w = size
    shrink = image.shape[0] >= h and image.shape[1] >= w
    out = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out.reshape(h, w, image.shape[2]), 0.0, 1.0)


def _channels(planes: np.ndarray, channels: int, what: str) -> np.ndarray:
    """``H x W x 1|3`` float planes as the model's ``channels`` (grey -> RGB repeats; RGB ->
    grey is the Rec. 601 luma)."""
    if planes.shape[2] == channels:
        return planes
    if channels == 3:
        return np.repeat(planes, 3, axis=2)
    luma = planes @ np.array([0.299, 0.587, 0.114], np.float32)
    return luma[..., None].astype(np.float32)


def _planes(img: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A checked image as ``H x W x 1|3`` contiguous float32 planes in [0, 1], and its alpha
    ``H x W`` (None without one)."""
    planes, alpha = split_alpha(to_float(img) if img.ndim == 3 else to_float(img)[..., None])
    return np.ascontiguousarray(planes, dtype=np.float32), alpha


def prepare_images(images: Any, model: DiffusionModel, n: int, what: str = "init") -> torch.Tensor:
    """``n`` images for the model: ``(n, C, R, R)`` float32 in [0, 1] (R its resolution).

    ``images``: one image (``H x W`` or ``H x W x C``, uint8, uint16 or float in [0, 1]),
    an ``(N, H, W, C)`` array or a list of images; one is used for every image, else there
    must be ``n``. Alpha is dropped; grey and colour are converted to the model's channels;
    another size is resized to the model's (a :class:`DiffusionWarning` says so).
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        batch = list(images)
    elif isinstance(images, (list, tuple)):
        batch = list(images)
    else:
        batch = [images]
    if len(batch) not in (1, n):
        raise InvalidArgument(f"give one {what} image or one per image ({n}), got {len(batch)}")
    r, out, resized = model.resolution, [], set()
    for i, image in enumerate(batch):
        img = check_image(image, f"{what} image" if len(batch) == 1 else f"{what} image {i}")
        planes = _channels(_planes(img)[0], model.channels, what)
        if planes.shape[:2] != (r, r):
            resized.add((planes.shape[1], planes.shape[0]))
            planes = _resize(planes, (r, r))
        out.append(torch.from_numpy(np.ascontiguousarray(planes)).permute(2, 0, 1))
    if resized:
        sizes = ", ".join(f"{w}x{h}" for w, h in sorted(resized))
        aspect = " (its aspect ratio changes)" if any(w != h for w, h in resized) else ""
        warnings.warn(
            f"the {what} image is {sizes}; resized to the model's {r}x{r}{aspect}", DiffusionWarning, stacklevel=3
        )
    x = torch.stack(out)
    return x.expand(n, *x.shape[1:]).contiguous() if len(out) == 1 else x


def to_model_space(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> the diffusion space [-1, 1]."""
    from atelier.models.layers import to_signed

    return to_signed(images)


def from_model_space(x: torch.Tensor) -> torch.Tensor:
    """The diffusion space -> [0, 1] (clipped), float32 on the CPU."""
    from atelier.models.layers import to_unit

    return to_unit(x.float()).clamp(0.0, 1.0).cpu()


def _output(images: torch.Tensor, dtype: Any) -> np.ndarray:
    """``(n, C, H, W)`` in [0, 1] -> ``(n, H, W, C)`` of ``dtype`` (uint8 or float32)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
        raise InvalidArgument(f"dtype must be uint8 or float32, got {dtype}")
    array = np.ascontiguousarray(images.permute(0, 2, 3, 1).numpy(), dtype=np.float32)
    return array if dtype == np.float32 else from_float(array, np.uint8)


def generate_images(
    model_or_run: Any,
    *,
    prompts: str | Sequence[str] | None = None,
    labels: int | Sequence[int] | None = None,
    n: int = 1,
    steps: int = 25,
    sampler: str = "ddim",
    guidance: float | None = None,
    eta: float = 0.0,
    seed: int = 0,
    init: Any = None,
    strength: float | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: Progress | None = None,
    dtype: Any = np.uint8,
    noise: torch.Tensor | None = None,
) -> np.ndarray:
    """Generate ``n`` images with a diffusion model: from a prompt, a label or nothing.

    Parameters
    ----------
    model_or_run : str, path or DiffusionModel
        A run folder of ``atelier train diffusion``, a shipped name (``t2i-scenes``,
        ``t2i-emoji``, ``diffusion-mnist``) or a :class:`DiffusionModel`.
    prompts : str or list of str, optional
        Text models: one prompt for all images or a list cycled to ``n``; None samples the
        unconditional model (the null text).
    labels : int or list of int, optional
        Class-conditional models: one class, a list cycled to ``n``, None cycles the classes.
    n : int
        Images to make.
    steps : int
        Sampling timesteps (1 to the model's training timesteps).
    sampler : {"ddim", "ddpm", "dpm"}
        DDIM (Song et al. 2021), DDPM ancestral (Ho et al. 2020) or DPM-Solver++ 2M (Lu et
        al. 2022), on the model's saved noise schedule.
    guidance : float or None
        Classifier-free guidance scale, >= 0: 1 is the conditional model alone (one model
        call per step), larger follows the condition more closely; unconditional models
        ignore it. None: the model's default (``model.guidance``: its ``recipe.json``
        "guidance", else 3).
    eta : float
        DDIM's noise, in [0, 1] (0: deterministic); the other samplers take 0 only.
    seed : int
        Seeds all the noise (module docstring).
    init : array or list of arrays, optional
        SDEdit: images to edit, one for all or one per image, any size (resized to the
        model's, with a warning).
    strength : float, optional
        In (0, 1], with ``init`` only (default 0.6): how much noise is added to it — the
        share of the ``steps`` that run.
    batch_size : int
        Images per model call (guidance doubles the rows).
    device : "auto", "cpu", "cuda", ... or None (where the model is)
    progress : callable, optional
        ``progress(done, total)`` after every timestep of every batch.
    dtype : numpy.uint8 or numpy.float32
        Of the result (float32 in [0, 1]).
    noise : tensor, optional
        ``(n, C, R, R)``: the starting noise (diffusers' ``latents``) instead of the seed's;
        ``seed`` still draws a stochastic sampler's later noise. :func:`interpolate_noise`
        passes slerped noise here.

    Returns
    -------
    numpy.ndarray
        ``(n, R, R, C)`` at the model's resolution ``R`` and channels ``C``.

    Raises
    ------
    InvalidArgument
        Bad ``n``, ``steps``, ``guidance``, ``eta``, ``strength`` or sampler; an empty prompt
        or one of only words the model never saw; a prompt for a label model or a label for
        a text model; a model that cannot be loaded.
    """
    n = _positive(n, "n")
    batch_size = _positive(batch_size, "batch_size")
    if init is None and strength is not None:
        raise InvalidArgument("strength sets how much of an init image is kept; give an init image with it")
    if init is not None:
        strength = 0.6 if strength is None else strength
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 1:
            raise InvalidArgument(f"strength must be in (0, 1] (1: start from noise), got {strength!r}")
    dev, model, steps, scheduler, condition, guidance = start_sampling(
        model_or_run, device=device, steps=steps, sampler=sampler, eta=eta, prompts=prompts, labels=labels, n=n,
        guidance=guidance,
    )
    scheduler.set_timesteps(steps, device=dev)
    timesteps = scheduler.timesteps
    if init is not None:
        _, timesteps = scheduler.img2img_timesteps(strength)
        start_images = to_model_space(prepare_images(init, model, n))
    shape = (n, model.channels, model.resolution, model.resolution)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    drawn = torch.randn(shape, generator=gen)
    if noise is None:
        noise = drawn
    elif not isinstance(noise, torch.Tensor) or tuple(noise.shape) != shape or not noise.is_floating_point():
        got = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        raise InvalidArgument(f"noise must be a float tensor of shape {shape} (n, C, R, R), got {got}")
    batches = range(0, n, batch_size)
    total, done = len(batches) * len(timesteps), 0
    net, results = model.net, []
    with sampling_mode(net):
        for start in batches:
            stop = min(start + batch_size, n)
            scheduler.set_timesteps(steps, device=dev)  # a fresh run (a multistep solver's history)
            kwargs = condition.rows(start, stop, model, dev)
            z = noise[start:stop].to(dev)
            if init is None:
                x = z * scheduler.init_noise_sigma
            else:
                x = scheduler.add_noise(start_images[start:stop].to(dev), z, timesteps[:1])
            for t in timesteps:
                out = guided_output(net, x, t, kwargs, guidance=guidance, null=condition.null)
                x = scheduler.step(out, t, x, generator=gen).prev_sample
                done += 1
                if progress is not None:
                    progress(done, total)
            results.append(from_model_space(x))
    return _output(torch.cat(results), dtype)


def interpolate_noise(model_or_run: Any, rows: int = 1, steps: int = 8, *, seed: int = 0,
                      channels: int | None = None, resolution: int | None = None) -> torch.Tensor:
    """Starting noise for latent interpolations: ``rows`` rows of ``steps`` tensors
    ``(rows * steps, C, R, R)``, each row slerping between two draws of N(0, I) from ``seed``
    (:func:`atelier.tasks.generate.slerp`, which keeps the norm typical of the prior).

    Pass it as ``noise`` to :func:`generate_images` with a deterministic sampler (``ddim`` at
    eta 0, or ``dpm``): the sampler is then a fixed map from noise to image, so neighbouring
    noise gives neighbouring images (DDIM's interpolation, Song et al. 2021, section 5.3).
    ``channels`` and ``resolution`` default to the model's.

    >>> interpolate_noise(None, rows=2, steps=5, channels=1, resolution=8).shape
    torch.Size([10, 1, 8, 8])
    """
    from atelier.tasks.diffusion_model import load_diffusion
    from atelier.tasks.generate import slerp

    rows, steps = _positive(rows, "rows"), _positive(steps, "steps")
    if channels is None or resolution is None:
        model = model_or_run if isinstance(model_or_run, DiffusionModel) else load_diffusion(model_or_run)
        channels, resolution = channels or model.channels, resolution or model.resolution
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    ends = torch.randn(2, rows, channels * resolution * resolution, generator=gen)
    t = torch.linspace(0.0, 1.0, steps) if steps > 1 else torch.zeros(1)
    return slerp(ends[0], ends[1], t).reshape(rows * steps, channels, resolution, resolution)
