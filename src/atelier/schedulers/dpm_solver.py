"""DPM-Solver++ (2M): the multistep data-prediction solver of Lu et al. 2022, as diffusers'
``scheduling_dpmsolver_multistep.py`` (``algorithm_type="dpmsolver++"``, ``solver_type="midpoint"``).

It solves the diffusion ODE in ``lambda = log(alpha / sigma)`` (half the log-SNR), with
``alpha = sqrt(a_t)``, ``sigma = sqrt(1 - a_t)``, from the model's data prediction ``x0``.
From ``s0`` to ``t`` with ``h = lambda_t - lambda_s0``:

    first order:  x_t = (sigma_t / sigma_s0) x - alpha_t (exp(-h) - 1) D0
    second order: x_t = (sigma_t / sigma_s0) x - alpha_t (exp(-h) - 1) (D0 + D1 / 2)

with ``D0 = x0(s0)``, ``D1 = (x0(s0) - x0(s1)) / r``, ``r = (lambda_s0 - lambda_s1) / h``, ``s1`` the
previous step (Algorithm 2 of the paper). The first step of a run is first order (no history
yet), and so is the last when it ends on the clean image (``final_sigmas_type="zero"``: the
second-order term is undefined at sigma 0) or, with ``lower_order_final``, when the run has
fewer than 15 steps (diffusers' rule: stabler for few steps).

The history (the previous ``x0``) is kept on the scheduler and cleared by ``set_timesteps``. It
is used only when the step follows the previous one of the run; a step that starts elsewhere
(an img2img start, a RePaint jump back) is first order.

Example
-------
>>> import torch
>>> from atelier.schedulers import get_scheduler
>>> s = get_scheduler("dpm++2m")
>>> s.set_timesteps(15)
>>> x = torch.randn(1, 3, 8, 8)
>>> for t in s.timesteps:
...     x = s.step(torch.zeros_like(x), t, x).prev_sample
>>> x.shape
torch.Size([1, 3, 8, 8])

Reference
---------
Lu, Zhou, Bao, Chen, Li, Zhu, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
Probabilistic Models", arXiv:2211.01095, 2022.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from atelier.schedulers.base import Scheduler, SchedulerConfig, StepOutput
from atelier.schedulers.registry import register_scheduler

__all__ = ["DPMSolverConfig", "DPMSolverScheduler"]


@dataclass
class DPMSolverConfig(SchedulerConfig):
    """:class:`SchedulerConfig` plus DPM-Solver++'s settings.

    Parameters
    ----------
    solver_order : {1, 2}
        2 for DPM-Solver++ 2M; 1 is DPM-Solver++ 1 (the same update as DDIM at eta 0).
    lower_order_final : bool
        First order on the last step of runs under 15 steps (matters with
        ``final_sigmas_type="sigma_min"``; ending on the clean image is first order anyway).
    final_sigmas_type : {"zero", "sigma_min"}
        Where the run ends: the clean image (``zero``, diffusers' default) or the noise level
        of timestep 0.

    Example
    -------
    >>> DPMSolverConfig(solver_order=3)
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: DPMSolverConfig.solver_order must be one of 1, 2, got 3
    """

    solver_order: Literal[1, 2] = 2
    lower_order_final: bool = True
    final_sigmas_type: Literal["zero", "sigma_min"] = "zero"


def _lam(alpha: float, sigma: float) -> float:
    """``log(alpha / sigma)``; +inf at sigma 0 (the clean image)."""
    return math.inf if sigma == 0 else math.log(alpha) - math.log(sigma)


@register_scheduler("dpm++2m", DPMSolverConfig)
class DPMSolverScheduler(Scheduler):
    """DPM-Solver++ 2M (Lu et al. 2022): deterministic, good in 10-25 steps.

    Timesteps are spaced as diffusers' DPM-Solver does: ``leading`` and ``linspace`` pick
    ``n + 1`` timesteps and drop the last (the run then ends on the clean image from there),
    ``trailing`` is the same as DDIM's. See the module docstring for the update.

    Example
    -------
    >>> s = DPMSolverScheduler({"timestep_spacing": "linspace"})
    >>> s.set_timesteps(5); s.timesteps.tolist()
    [999, 799, 599, 400, 200]
    """

    config: DPMSolverConfig

    def _make_timesteps(self, n: int) -> np.ndarray:
        T, spacing = self.config.num_train_timesteps, self.config.timestep_spacing
        if spacing == "linspace":
            steps = np.linspace(0, T - 1, n + 1).round()[::-1][:-1]
        elif spacing == "leading":
            steps = (np.arange(0, n + 1) * (T // (n + 1))).round()[::-1][:-1]
        else:
            return super()._make_timesteps(n)
        return np.ascontiguousarray(steps).astype(np.int64)

    def _reset(self) -> None:
        self._last_index: int | None = None
        self._last_x0: Tensor | None = None

    def _alpha_sigma(self, index: int) -> tuple[float, float]:
        """``(alpha, sigma)`` at position ``index`` of the run; ``index == n`` is the end."""
        if index < len(self._steps):
            a = self._ac[self._steps[index]]
        elif self.config.final_sigmas_type == "zero":
            return 1.0, 0.0
        else:
            a = self._ac[0]
        return math.sqrt(a), math.sqrt(1.0 - a)

    def _step(self, model_output: Tensor, index: int, sample: Tensor,
              generator: torch.Generator | None) -> StepOutput:
        c, n = self.config, len(self._steps)
        alpha_s0, sigma_s0 = self._alpha_sigma(index)
        alpha_t, sigma_t = self._alpha_sigma(index + 1)
        x0, _ = self._predict(model_output, sample, alpha_s0**2)

        history = self._last_x0 if self._last_index == index - 1 else None
        last = index == n - 1
        first_order = (
            c.solver_order == 1
            or history is None
            or (last and (c.final_sigmas_type == "zero" or (c.lower_order_final and n < 15)))
        )
        lam_s0, lam_t = _lam(alpha_s0, sigma_s0), _lam(alpha_t, sigma_t)
        h = lam_t - lam_s0
        coef = -alpha_t * math.expm1(-h)  # -alpha_t (exp(-h) - 1); alpha_t at sigma_t = 0
        prev_sample = (sigma_t / sigma_s0) * sample + coef * x0
        if not first_order:
            alpha_s1, sigma_s1 = self._alpha_sigma(index - 1)
            r = (lam_s0 - _lam(alpha_s1, sigma_s1)) / h
            prev_sample = prev_sample + (0.5 * coef / r) * (x0 - history)
        self._last_index, self._last_x0 = index, x0
        return StepOutput(prev_sample, x0)
