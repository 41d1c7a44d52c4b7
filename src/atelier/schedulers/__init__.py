"""Diffusion noise schedules and samplers, apart from the models (as in diffusers).

A scheduler holds the noise schedule a model was trained with (``add_noise``,
``training_target``, ``min_snr_weight`` on the training side) and one sampler for the reverse
process: ``ddpm`` (ancestral, Ho et al. 2020), ``ddim`` (Song et al. 2021) and ``dpm++2m``
(DPM-Solver++ 2M, Lu et al. 2022). Samplers register by name; ``scheduler.json`` beside
``model.json`` keeps the config, and ``load_scheduler(folder, as_="ddim")`` swaps the sampler
while keeping the schedule.

Example
-------
>>> import torch
>>> from atelier.schedulers import get_scheduler, list_schedulers
>>> [s.name for s in list_schedulers()]
['ddim', 'ddpm', 'dpm++2m']
>>> s = get_scheduler("dpm++2m", {"beta_schedule": "cosine", "prediction_type": "v_prediction"})
>>> s.set_timesteps(20)
>>> x = torch.randn(2, 3, 16, 16)
>>> for t in s.timesteps:
...     v = torch.zeros_like(x)  # model(x, t) in a real loop
...     x = s.step(v, t, x).prev_sample
>>> x.shape
torch.Size([2, 3, 16, 16])
"""

from __future__ import annotations

from atelier.schedulers.base import Scheduler, SchedulerConfig, StepOutput
from atelier.schedulers.registry import (
    SCHEDULER_FILE,
    SchedulerSpec,
    get_scheduler,
    get_scheduler_spec,
    list_schedulers,
    load_scheduler,
    register_scheduler,
    save_scheduler,
)
from atelier.schedulers.ddpm import DDPMConfig, DDPMScheduler
from atelier.schedulers.ddim import DDIMConfig, DDIMScheduler
from atelier.schedulers.dpm_solver import DPMSolverConfig, DPMSolverScheduler

__all__ = [
    "Scheduler",
    "SchedulerConfig",
    "StepOutput",
    "SchedulerSpec",
    "SCHEDULER_FILE",
    "register_scheduler",
    "get_scheduler",
    "get_scheduler_spec",
    "list_schedulers",
    "save_scheduler",
    "load_scheduler",
    "DDPMConfig",
    "DDPMScheduler",
    "DDIMConfig",
    "DDIMScheduler",
    "DPMSolverConfig",
    "DPMSolverScheduler",
]
