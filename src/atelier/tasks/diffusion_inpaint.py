"""Inpainting with a diffusion model, RePaint-style (Lugmayr et al. 2022).

The model was never trained to inpaint: at every timestep the known pixels are the original
image noised to that timestep's level (``add_noise``) and the masked ones the model's sample,
combined by the mask before the model call, so the fill is denoised in the context of the
image. Each step is redone ``resample`` times — back up one step with fresh noise
(``scheduler.renoise``) and down again — which lets the fill and its border agree (RePaint's
resampling with a jump length of 1). A prompt (text models) or a label (class models)
steers the fill, with classifier-free guidance.

The image may have any size: it is resized to the model's resolution for the diffusion and
the fill resized back, and only the masked pixels take it — at the original size, every
unmasked pixel is returned bit-identical, as every atelier inpainting method does. (A model
of 48 px filling a 640 px photo gives a soft fill: it works at its own resolution.)

Example
-------
>>> import numpy as np
>>> from atelier.models import build_model
>>> from atelier.schedulers import get_scheduler
>>> from atelier.tasks.diffusion_model import DiffusionModel
>>> net = build_model("diffusion", {"resolution": 16, "channels": 3, "width": 16, "channel_mults": [1, 2],
...                                 "attention_resolutions": [8]})
>>> model = DiffusionModel(net.eval(), get_scheduler("ddim", {"num_train_timesteps": 100}))
>>> image = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
>>> mask = np.zeros((20, 24), bool); mask[5:12, 6:15] = True
>>> out = inpaint_diffusion(model, image, mask, steps=4, resample=2)
>>> out.shape, bool((out[~mask] == image[~mask]).all())
((20, 24, 3), True)

Reference
---------
A. Lugmayr, M. Danelljan, A. Romero, F. Yu, R. Timofte, L. Van Gool, "RePaint: Inpainting
using Denoising Diffusion Probabilistic Models", CVPR 2022.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from atelier.arrays import check_image, from_float, merge_alpha
from atelier.errors import InvalidArgument
from atelier.tasks.diffusion_model import guided_output, sampling_mode, start_sampling

__all__ = ["inpaint_diffusion", "DEFAULT_DIFFUSION_MODEL"]

#: The model of ``method="diffusion"`` without a run.
DEFAULT_DIFFUSION_MODEL = "t2i-scenes"


def inpaint_diffusion(
    model_or_run: Any,
    image: np.ndarray,
    mask: np.ndarray,
    *,
    prompt: str | None = None,
    label: int | None = None,
    steps: int = 25,
    resample: int = 5,
    sampler: str = "ddim",
    guidance: float | None = None,
    eta: float = 0.0,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Fill ``mask`` of ``image`` with a diffusion model (RePaint); unmasked pixels kept exactly.

    Parameters
    ----------
    model_or_run : str, path or DiffusionModel
        As :func:`~atelier.tasks.diffusion_sample.generate_images` takes it.
    image : ``H x W`` or ``H x W x 1|3|4``; uint8, uint16 or float32 in [0, 1]
        Any size: resized to the model's resolution for the diffusion; the fill is resized
        back and pasted into the masked pixels only. Alpha is passed through.
    mask : ``H x W`` (or an RGB/RGBA mask image), nonzero where to fill
        As every inpainting method checks it: the image's size, not empty, not everything.
    prompt, label : optional
        What to fill with (text and class-conditional models); None: the unconditional model.
    steps : int
        Timesteps of the sampler.
    resample : int
        Times each step runs (RePaint's r; 1: no resampling). Model calls: ``steps * resample``.
    sampler, guidance, eta, seed, device
        As in :func:`~atelier.tasks.diffusion_sample.generate_images`.
    progress : callable, optional
        ``progress(done, total)`` after every model step (``steps * resample`` in all).

    Returns
    -------
    numpy.ndarray
        ``image``'s shape and dtype.
    """
    from atelier.tasks.diffusion_sample import _planes, _resize, from_model_space, to_model_space
    from atelier.ops.inpaint import check_mask

    img = check_image(image)
    holes = check_mask(mask, img.shape)
    if isinstance(resample, bool) or not isinstance(resample, (int, np.integer)) or resample < 1:
        raise InvalidArgument(f"resample must be an integer >= 1 (1: no resampling), got {resample!r}")
    dev, model, steps, scheduler, condition, guidance = start_sampling(
        model_or_run, device=device, steps=steps, sampler=sampler, eta=eta, prompts=prompt, labels=label, n=1,
        guidance=guidance,
    )
    planes, alpha = _planes(img)
    colour = planes.shape[2] == 3
    if colour and model.channels == 1:
        raise InvalidArgument(f"{model.name} makes grey images and cannot fill a colour image; give a grey image")
    work = np.repeat(planes, 3, axis=2) if model.channels == 3 and not colour else planes
    r, (h, w) = model.resolution, holes.shape
    small = _resize(work, (r, r)) if (h, w) != (r, r) else work
    small_holes = holes
    if (h, w) != (r, r):
        import cv2

        area = cv2.resize(holes.astype(np.float32), (r, r), interpolation=cv2.INTER_AREA)
        small_holes = area > 0  # a pixel that covers any of the hole is filled
    known = to_model_space(torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)[None]).to(dev)
    fill = torch.from_numpy(small_holes)[None, None].to(dev)

    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    scheduler.set_timesteps(steps, device=dev)
    timesteps = [int(t) for t in scheduler.timesteps]
    x = torch.randn(known.shape, generator=gen).to(dev)
    total, done = len(timesteps) * int(resample), 0
    net = model.net
    with sampling_mode(net):
        kwargs = condition.rows(0, 1, model, dev)
        for i, t in enumerate(timesteps):
            after = timesteps[i + 1] if i + 1 < len(timesteps) else -1
            t_tensor = scheduler.timesteps[i]
            for u in range(int(resample)):
                noised = scheduler.add_noise(known, torch.randn(known.shape, generator=gen).to(dev), t)
                x = torch.where(fill, x, noised)
                out = guided_output(net, x, t_tensor, kwargs, guidance=guidance, null=condition.null)
                x = scheduler.step(out, t_tensor, x, generator=gen).prev_sample
                if u + 1 < resample:
                    x = scheduler.renoise(x, after, t, generator=gen)
                done += 1
                if progress is not None:
                    progress(done, total)
    result = from_model_space(torch.where(fill, x, known))[0].permute(1, 2, 0).numpy()
    if (h, w) != (r, r):
        result = _resize(np.ascontiguousarray(result), (h, w))
    if work.shape[2] != planes.shape[2]:  # grey image through an RGB model
        result = result.mean(axis=2, keepdims=True)
    full = from_float(merge_alpha(np.clip(result, 0, 1).astype(np.float32), alpha), img.dtype).reshape(img.shape)
    out = img.copy()
    out[holes] = full[holes]
    return out
