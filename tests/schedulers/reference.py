"""An independent scalar re-derivation of the three samplers, for the pinned-value tests.

Pure Python floats (float64), one number at a time, written from the papers rather than from
atelier's code or diffusers' (see each function). The tests run a few steps of each sampler
on a fixed toy model with both this and atelier.schedulers, compare them, and pin the values.
"""

from __future__ import annotations

import math


def linear_alphas_cumprod(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> list[float]:
    """``a_t = prod_{i <= t} (1 - beta_i)`` with ``beta_i`` evenly from ``beta_start`` to
    ``beta_end`` (Ho et al. 2020, section 4)."""
    out, prod = [], 1.0
    for i in range(T):
        prod *= 1.0 - (beta_start + (beta_end - beta_start) * i / (T - 1))
        out.append(prod)
    return out


def toy_model(x: float, t: int) -> float:
    """A fixed, smooth, made-up network output."""
    return 0.5 * math.sin(x) + 0.1 * t / 1000.0 - 0.2


def split(out: float, x: float, a: float, kind: str) -> tuple[float, float]:
    """``(x0, eps)`` with ``x = sqrt(a) x0 + sqrt(1 - a) eps`` and the model output ``out``.

    For v = sqrt(a) eps - sqrt(1 - a) x0 (Salimans & Ho 2022), (x, v) is a rotation of
    (x0, eps) by the angle phi with cos(phi) = sqrt(a): invert by the transposed rotation."""
    c, s = math.sqrt(a), math.sqrt(1.0 - a)
    if kind == "epsilon":
        return (x - s * out) / c, out
    if kind == "sample":
        return out, (x - c * out) / s
    return c * x - s * out, s * x + c * out  # v_prediction


def ddpm_step(x0: float, x: float, a_t: float, a_prev: float, z: float) -> float:
    """The posterior q(x_prev | x_t, x0) as a product of two Gaussians (Bishop, PRML eq. 2.116):
    x_t | x_prev ~ N(sqrt(alpha) x_prev, beta) with alpha = a_t / a_prev, beta = 1 - alpha, and
    x_prev | x0 ~ N(sqrt(a_prev) x0, 1 - a_prev); precision-weighted mean, summed precisions."""
    alpha = a_t / a_prev
    beta = 1.0 - alpha
    if a_prev == 1.0:  # the last step: x_prev is x0 itself
        return x0
    precision = alpha / beta + 1.0 / (1.0 - a_prev)
    mean = (math.sqrt(alpha) * x / beta + math.sqrt(a_prev) * x0 / (1.0 - a_prev)) / precision
    return mean + math.sqrt(1.0 / precision) * z


def ddim_step(x0: float, eps: float, a_t: float, a_prev: float, eta: float, z: float) -> float:
    """Song et al. 2021, eq. 12 with sigma from eq. 16."""
    sigma = eta * math.sqrt((1 - a_prev) / (1 - a_t)) * math.sqrt(1 - a_t / a_prev)
    return math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev - sigma**2) * eps + sigma * z


def dpmpp_2m(xT: float, ts: list[int], ac: list[float], kind: str) -> list[float]:
    """DPM-Solver++(2M), Lu et al. 2022, Algorithm 2, ending on the clean image (sigma 0)
    with a first-order last step; lambda = log(alpha / sigma)."""
    al = [math.sqrt(ac[t]) for t in ts] + [1.0]
    sg = [math.sqrt(1 - ac[t]) for t in ts] + [0.0]
    lam = [math.log(a / s) for a, s in zip(al[:-1], sg[:-1])] + [math.inf]
    x, prev_x0, out = xT, None, []
    for i, t in enumerate(ts):
        x0, _ = split(toy_model(x, t), x, ac[t], kind)
        h = lam[i + 1] - lam[i]
        if prev_x0 is None or i == len(ts) - 1:
            D = x0
        else:
            r = (lam[i] - lam[i - 1]) / h
            D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * prev_x0
        x = (sg[i + 1] / sg[i]) * x - al[i + 1] * (math.exp(-h) - 1) * D
        prev_x0 = x0
        out.append(x)
    return out
