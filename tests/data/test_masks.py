"""Random inpainting masks: coverage, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.data.masks import MASK_SIZES, benchmark_mask, random_mask
from atelier.errors import InvalidArgument


@pytest.mark.parametrize("coverage", [0.05, 0.2, 0.45])
def test_random_mask_reaches_its_coverage_and_keeps_context(coverage):
    rng = np.random.default_rng(1)
    for _ in range(10):
        m = random_mask(48, 80, rng, coverage=coverage)
        assert m.shape == (48, 80) and m.dtype == bool
        assert coverage <= m.mean() < 1


def test_benchmark_masks_are_fixed_and_grow_with_size():
    means = {s: np.mean([benchmark_mask(96, 96, s, seed=k).mean() for k in range(8)]) for s in MASK_SIZES}
    assert means["small"] < means["medium"] < means["large"]
    np.testing.assert_array_equal(benchmark_mask(64, 70, "medium", seed=5), benchmark_mask(64, 70, "medium", seed=5))
    assert (benchmark_mask(64, 70, "medium", seed=5) != benchmark_mask(64, 70, "medium", seed=6)).any()


def test_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidArgument, match="at least 4 x 4"):
        random_mask(3, 10, rng)
    with pytest.raises(InvalidArgument, match="coverage"):
        random_mask(10, 10, rng, coverage=0.95)
    with pytest.raises(InvalidArgument, match="mask size"):
        benchmark_mask(10, 10, "huge", seed=0)
