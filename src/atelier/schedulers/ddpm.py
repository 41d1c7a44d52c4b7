"""DDPM: the ancestral sampler of Ho et al. 2020, as diffusers' ``scheduling_ddpm.py``.

Each step draws ``x_prev ~ q(x_prev | x_t, x0 = pred_x0)``, the Gaussian posterior of the
forward process (eq. 6-7 of the paper), generalised to skipped timesteps: with ``a`` the
cumulative alphas, ``beta = 1 - a_t / a_prev``,

    mean = sqrt(a_prev) beta / (1 - a_t) * x0 + sqrt(1 - beta) (1 - a_prev) / (1 - a_t) * x_t
    var  = (1 - a_prev) / (1 - a_t) * beta          ("fixed_small", clamped at 1e-20)
           beta                                       ("fixed_large")

and noise is added on every step but the last, the one to the clean image (Ho et al.,
Algorithm 2: ``z = 0`` at ``t = 1``). diffusers adds it while ``t > 0``, the same when a run
ends at timestep 0; a ``trailing`` run ends at ``T / n - 1``, where diffusers would add
``fixed_large``'s noise of std ``sqrt(1 - a_t)`` to the final image. ``pred_x0`` is clipped to
``[-clip_sample_range, clip_sample_range]`` when ``clip_sample`` is on (the default, for data
in [-1, 1]).

Example
-------
>>> import torch
>>> from atelier.schedulers import get_scheduler
>>> s = get_scheduler("ddpm", {"num_train_timesteps": 50})
>>> s.set_timesteps(50)
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.randn(2, 1, 4, 4, generator=g)
>>> for t in s.timesteps:
...     x = s.step(torch.zeros_like(x), t, x, generator=g).prev_sample
>>> x.shape
torch.Size([2, 1, 4, 4])

Reference
---------
Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020, arXiv:2006.11239.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from atelier.schedulers.base import ClipSample, Scheduler, SchedulerConfig, StepOutput
from atelier.schedulers.registry import register_scheduler

__all__ = ["DDPMConfig", "DDPMScheduler"]


@dataclass
class DDPMConfig(SchedulerConfig, ClipSample):
    """:class:`SchedulerConfig` plus DDPM's settings and :class:`~atelier.schedulers.base.ClipSample`'s.

    Parameters
    ----------
    variance_type : {"fixed_small", "fixed_large"}
        The reverse variance: the posterior's (``fixed_small``, diffusers' default) or beta.
    clip_sample, clip_sample_range : bool, float
        Clipping of ``pred_x0`` (on, to [-1, 1]), see :class:`~atelier.schedulers.base.ClipSample`.

    Example
    -------
    >>> DDPMConfig(variance_type="learned")
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: DDPMConfig.variance_type must be one of 'fixed_small', 'fixed_large', got 'learned'
    """

    variance_type: Literal["fixed_small", "fixed_large"] = "fixed_small"
    clip_sample: bool = True
    clip_sample_range: float = 1.0

    def check(self) -> None:
        super().check()
        self._check_clip()


@register_scheduler("ddpm", DDPMConfig)
class DDPMScheduler(Scheduler):
    """DDPM ancestral sampling (Ho et al. 2020): stochastic, best with many steps (hundreds).

    See the module docstring for the update. ``step`` needs a ``generator`` for reproducible
    noise (``torch.Generator().manual_seed(seed)``); without one it uses torch's global RNG.

    Example
    -------
    >>> s = DDPMScheduler({"timestep_spacing": "leading"})
    >>> s.set_timesteps(1000); s.timesteps[:3].tolist()
    [999, 998, 997]
    """

    config: DDPMConfig

    def _step(self, model_output: Tensor, index: int, sample: Tensor,
              generator: torch.Generator | None) -> StepOutput:
        c = self.config
        prev, a_t, a_prev = self._step_alphas(index)
        beta = 1.0 - a_t / a_prev  # the beta of the (possibly skipped) step t -> prev
        x0, _ = self._predict(model_output, sample, a_t, c.clip_range)

        coef_x0 = math.sqrt(a_prev) * beta / (1.0 - a_t)
        coef_xt = math.sqrt(1.0 - beta) * (1.0 - a_prev) / (1.0 - a_t)
        prev_sample = coef_x0 * x0 + coef_xt * sample
        if prev >= 0:  # no noise on the step to the clean image
            if c.variance_type == "fixed_small":
                var = max((1.0 - a_prev) / (1.0 - a_t) * beta, 1e-20)
            else:
                var = beta
            prev_sample = prev_sample + math.sqrt(var) * self._randn(sample, generator)
        return StepOutput(prev_sample, x0)
