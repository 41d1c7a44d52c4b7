"""Tolerances for comparing against another library's floating-point results.

A library's rounding is not part of its API: OpenCV picks SIMD kernels by CPU (AVX-512, AVX2,
SSE) and changes them between releases, scikit-image and SciPy change their float paths, so a
value that is exactly x.5 or x.4999... before rounding can land one 8-bit level either way. Tests
that compare atelier with such a result use ``assert_levels_close``; tests of what atelier itself
guarantees (untouched pixels, tiled == untiled, resume, dtype, identities) stay exact.
"""

from __future__ import annotations

import numpy as np


def assert_levels_close(
    actual: np.ndarray,
    desired: np.ndarray,
    *,
    levels: float = 1,
    fraction: float = 0.001,
    scale: float = 1.0,
) -> None:
    """``actual`` equals ``desired`` except on at most ``fraction`` of the values, which may be
    off by at most ``levels`` (in units of ``1 / scale``: pass ``scale=255`` for float images
    in [0, 1] compared in 8-bit levels). Shapes and dtypes must match exactly."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    assert actual.dtype == desired.dtype, (actual.dtype, desired.dtype)
    diff = np.abs(actual.astype(np.float64) - desired.astype(np.float64)) * scale
    off = diff > 1e-9
    worst = float(diff.max(initial=0.0))
    assert worst <= levels + 1e-9, f"a value is {worst:g} levels off (at most {levels} allowed)"
    share = off.mean() if off.size else 0.0
    assert share <= fraction, (
        f"{off.sum()} of {off.size} values differ ({share:.3%}; at most {fraction:.3%} allowed)"
    )
