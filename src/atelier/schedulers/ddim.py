"""DDIM: the implicit sampler of Song et al. 2021, as diffusers' ``scheduling_ddim.py``.

From ``pred_x0`` and ``pred_eps`` at ``t`` (eq. 12 of the paper, with sigma from eq. 16):

    sigma     = eta * sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
    x_prev    = sqrt(a_prev) * x0 + sqrt(1 - a_prev - sigma^2) * eps + sigma * z

``eta = 0`` is deterministic (no noise is drawn); ``eta = 1`` is DDPM's posterior variance.
After the last timestep ``a_prev`` is 1 when ``set_alpha_to_one`` (the default) — the run ends
on the clean image — and ``alphas_cumprod[0]`` otherwise, as in diffusers.

One difference from diffusers: the next timestep is the next one of the run. diffusers' DDIM
uses ``t - T // n``, which is the same for ``leading`` and ``trailing`` spacing when ``n``
divides ``T``, but lands between the run's timesteps for ``linspace`` spacing.

Example
-------
>>> import torch
>>> from atelier.schedulers import get_scheduler
>>> s = get_scheduler("ddim", {"eta": 0.0})
>>> s.set_timesteps(10)
>>> x = torch.randn(1, 3, 8, 8)
>>> for t in s.timesteps:
...     x = s.step(torch.zeros_like(x), t, x).prev_sample  # no generator needed at eta 0
>>> x.shape
torch.Size([1, 3, 8, 8])

Reference
---------
Song, Meng, Ermon, "Denoising Diffusion Implicit Models", ICLR 2021, arXiv:2010.02502.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from atelier.schedulers.base import ClipSample, Scheduler, SchedulerConfig, StepOutput
from atelier.schedulers.registry import register_scheduler

__all__ = ["DDIMConfig", "DDIMScheduler"]


@dataclass
class DDIMConfig(SchedulerConfig, ClipSample):
    """:class:`SchedulerConfig` plus DDIM's settings and :class:`~atelier.schedulers.base.ClipSample`'s.

    Parameters
    ----------
    eta : float
        In [0, 1]: the share of DDPM's noise added back at each step (0: deterministic).
    set_alpha_to_one : bool
        After the last timestep, step to ``a = 1`` (the clean image) rather than to
        ``alphas_cumprod[0]``.
    clip_sample, clip_sample_range : bool, float
        Clipping of ``pred_x0`` (on, to [-1, 1]), see :class:`~atelier.schedulers.base.ClipSample`.

    Example
    -------
    >>> DDIMConfig(eta=2)
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: DDIMConfig.eta must be in [0, 1], got 2.0
    """

    eta: float = 0.0
    set_alpha_to_one: bool = True
    clip_sample: bool = True
    clip_sample_range: float = 1.0

    def check(self) -> None:
        super().check()
        self._require(0 <= self.eta <= 1, "eta", "in [0, 1]")
        self._check_clip()


@register_scheduler("ddim", DDIMConfig)
class DDIMScheduler(Scheduler):
    """DDIM sampling (Song et al. 2021): deterministic at ``eta = 0``, good in 25-50 steps.

    See the module docstring for the update.

    Example
    -------
    >>> s = DDIMScheduler({"timestep_spacing": "linspace"})
    >>> s.set_timesteps(4); s.timesteps.tolist()
    [999, 666, 333, 0]
    """

    config: DDIMConfig

    def _alpha_bar(self, t: int) -> float:
        if t < 0:
            return 1.0 if self.config.set_alpha_to_one else self._ac[0]
        return self._ac[t]

    def _step(self, model_output: Tensor, index: int, sample: Tensor,
              generator: torch.Generator | None) -> StepOutput:
        c = self.config
        _, a_t, a_prev = self._step_alphas(index)
        x0, eps = self._predict(model_output, sample, a_t, c.clip_range)

        variance = (1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev)
        sigma = c.eta * math.sqrt(max(variance, 0.0))
        prev_sample = math.sqrt(a_prev) * x0 + math.sqrt(max(1.0 - a_prev - sigma**2, 0.0)) * eps
        if c.eta > 0:
            prev_sample = prev_sample + sigma * self._randn(sample, generator)
        return StepOutput(prev_sample, x0)
