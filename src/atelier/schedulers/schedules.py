"""Noise schedules (betas) and the spacing of sampling timesteps.

Pure functions of the config fields, in float64 NumPy (the samplers turn the tables into
per-step Python floats, so the arithmetic on images keeps the images' dtype). The formulas
are diffusers' (``schedulers/scheduling_ddpm.py``, ``scheduling_ddim.py``,
``scheduling_dpmsolver_multistep.py``), re-derived here; diffusers is not a dependency.

Example
-------
>>> from atelier.schedulers.schedules import make_betas, make_timesteps
>>> betas = make_betas("linear", 1000, 1e-4, 0.02)
>>> betas.shape, float(betas[0]), float(betas[-1])
((1000,), 0.0001, 0.02)
>>> make_timesteps("trailing", 4, 1000).tolist()
[999, 749, 499, 249]

References
----------
Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020 (linear schedule).
Nichol, Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021 (cosine).
Rombach et al., "High-Resolution Image Synthesis with Latent Diffusion Models", CVPR 2022
(scaled_linear). Lin et al., "Common Diffusion Noise Schedules and Sample Steps are Flawed",
WACV 2024 (leading / linspace / trailing spacing, Table 2).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BETA_SCHEDULES", "SPACINGS", "COSINE_MAX_BETA", "cosine_alpha_bar", "make_betas", "make_timesteps"]

BETA_SCHEDULES = ("linear", "scaled_linear", "cosine")
SPACINGS = ("leading", "trailing", "linspace")
#: The clip of the cosine schedule's betas (Nichol & Dhariwal 2021, section 3.2): without it
#: the last beta is 1 and the reverse process divides by zero.
COSINE_MAX_BETA = 0.999


def cosine_alpha_bar(u: float, s: float = 0.008) -> float:
    """The cosine schedule's cumulative signal ``alpha_bar(u) = cos((u + s) / (1 + s) * pi / 2)^2``
    for ``u`` in [0, 1] (Nichol & Dhariwal 2021, eq. 17, unnormalised as in diffusers).

    >>> round(cosine_alpha_bar(0.0), 6), cosine_alpha_bar(1.0) < 1e-30
    (0.999845, True)
    """
    return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2


def make_betas(schedule: str, num_train_timesteps: int, beta_start: float, beta_end: float) -> np.ndarray:
    """The ``(num_train_timesteps,)`` float64 betas of a named schedule.

    Parameters
    ----------
    schedule : {"linear", "scaled_linear", "cosine"}
        ``linear``: evenly from ``beta_start`` to ``beta_end`` (DDPM). ``scaled_linear``: evenly
        in sqrt(beta), then squared (Stable Diffusion, with 0.00085 / 0.012). ``cosine``:
        ``beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), 0.999)`` (diffusers'
        ``squaredcos_cap_v2``); ``beta_start`` / ``beta_end`` are not used.
    num_train_timesteps : int
        ``T``, the number of training timesteps.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` float64, each in (0, 1).

    Example
    -------
    >>> betas = make_betas("cosine", 1000, 1e-4, 0.02)
    >>> float(betas[-1])  # the last beta sits at the clip
    0.999
    >>> round(float(make_betas("scaled_linear", 3, 0.0001, 0.0081)[1]), 12)  # ((0.01 + 0.09) / 2) ** 2
    0.0025
    """
    n = num_train_timesteps
    if schedule == "linear":
        return np.linspace(beta_start, beta_end, n, dtype=np.float64)
    if schedule == "scaled_linear":
        return np.linspace(beta_start**0.5, beta_end**0.5, n, dtype=np.float64) ** 2
    if schedule == "cosine":
        return np.array(
            [min(1 - cosine_alpha_bar((i + 1) / n) / cosine_alpha_bar(i / n), COSINE_MAX_BETA) for i in range(n)],
            dtype=np.float64,
        )
    raise ValueError(f"unknown beta schedule {schedule!r}")  # configs are checked before: a bug


def make_timesteps(spacing: str, num_inference_steps: int, num_train_timesteps: int) -> np.ndarray:
    """The ``(n,)`` int64 sampling timesteps, descending, as DDPM and DDIM space them in diffusers.

    With ``n`` steps of ``T``:

    - ``leading``: ``arange(n) * (T // n)``, reversed (diffusers' default: ends at 0, starts
      at ``T - T // n``, i.e. not at the noisiest timestep);
    - ``trailing``: ``round(arange(T, 0, -T / n)) - 1`` (starts at ``T - 1``; Lin et al. 2023);
    - ``linspace``: ``round(linspace(0, T - 1, n))``, reversed.

    Example
    -------
    >>> make_timesteps("leading", 10, 1000).tolist()
    [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    >>> make_timesteps("trailing", 10, 1000).tolist()
    [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    >>> make_timesteps("linspace", 10, 1000).tolist()
    [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    """
    n, T = num_inference_steps, num_train_timesteps
    if spacing == "leading":
        steps = (np.arange(0, n) * (T // n)).round()[::-1]
    elif spacing == "trailing":
        # diffusers' np.arange(T, 0, -T / n) yields n + 1 values for some n (61, 103, ... of
        # 1000), the last one rounding to -1: keep its first n.
        steps = np.round(np.arange(T, 0, -T / n))[:n] - 1
    elif spacing == "linspace":
        steps = np.linspace(0, T - 1, n).round()[::-1]
    else:
        raise ValueError(f"unknown timestep spacing {spacing!r}")  # configs are checked before: a bug
    return np.ascontiguousarray(steps).astype(np.int64)
