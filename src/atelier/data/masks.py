"""Random inpainting masks: free-form brush strokes and boxes (DeepFill v2's recipe, Yu et al. 2019).

:func:`random_mask` draws strokes (a random walk of 4-12 vertices with a round brush whose
width and step length scale with the image) and boxes until the hole covers at least a
target fraction of the image. Training draws the fraction uniformly from a range; the
inpainting benchmark uses :data:`MASK_SIZES` (``small``, ``medium``, ``large``) with a fixed
seed per image, so every method fills exactly the same holes.

Masks are ``H x W`` bool, True where pixels are missing. Everything is a pure function of
the ``numpy`` generator passed in.

Example
-------
>>> import numpy as np
>>> m = random_mask(64, 96, np.random.default_rng(0), coverage=0.2)
>>> m.shape, m.dtype, bool(0.2 <= m.mean() < 0.5)
((64, 96), dtype('bool'), True)
>>> bool((benchmark_mask(64, 64, "large", seed=3) == benchmark_mask(64, 64, "large", seed=3)).all())
True
"""

from __future__ import annotations

import math

import numpy as np

from atelier.errors import InvalidArgument

__all__ = ["MASK_SIZES", "random_mask", "benchmark_mask", "stroke", "box"]

#: Hole coverage (fraction of the image) of the benchmark's three mask sizes.
MASK_SIZES = {"small": 0.05, "medium": 0.15, "large": 0.30}


def stroke(mask: np.ndarray, rng: np.random.Generator) -> None:
    """Draw one free-form brush stroke into the uint8 ``mask`` (in place)."""
    import cv2

    h, w = mask.shape
    side = min(h, w)
    width = max(2, int(round(side * rng.uniform(0.03, 0.10))))
    x, y = rng.uniform(0, w), rng.uniform(0, h)
    angle = rng.uniform(0, 2 * math.pi)
    for _ in range(int(rng.integers(4, 13))):
        angle += rng.uniform(-math.pi / 3, math.pi / 3) + (math.pi if rng.random() < 0.15 else 0)
        length = side * rng.uniform(0.05, 0.25)
        nx = float(np.clip(x + length * math.cos(angle), 0, w - 1))
        ny = float(np.clip(y + length * math.sin(angle), 0, h - 1))
        cv2.line(mask, (int(x), int(y)), (int(nx), int(ny)), 1, width)
        cv2.circle(mask, (int(nx), int(ny)), width // 2, 1, -1)
        x, y = nx, ny


def box(mask: np.ndarray, rng: np.random.Generator) -> None:
    """Draw one filled rectangle, 10-40 % of each side, into ``mask`` (in place)."""
    h, w = mask.shape
    bh = max(1, int(h * rng.uniform(0.1, 0.4)))
    bw = max(1, int(w * rng.uniform(0.1, 0.4)))
    top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    mask[top : top + bh, left : left + bw] = 1


def random_mask(
    height: int, width: int, rng: np.random.Generator, *, coverage: float = 0.2, box_chance: float = 0.3
) -> np.ndarray:
    """Strokes (and, with probability ``box_chance`` each time, a box instead) until at least
    ``coverage`` of the ``height x width`` image is masked. Returns ``H x W`` bool."""
    if height < 4 or width < 4:
        raise InvalidArgument(f"a mask needs at least 4 x 4 pixels, got {width} x {height}")
    if not 0 < coverage < 0.9:
        raise InvalidArgument(f"coverage must be in (0, 0.9), got {coverage}")
    mask = np.zeros((height, width), np.uint8)
    for _ in range(200):  # a stroke adds about 1-10 %; the cap only guards odd shapes
        (box if rng.random() < box_chance else stroke)(mask, rng)
        if mask.mean() >= coverage:
            break
    if mask.all():  # keep some context (possible on tiny images)
        mask[: max(1, height // 8)] = 0
    return mask.astype(bool)


def benchmark_mask(height: int, width: int, size: str, *, seed: int) -> np.ndarray:
    """The benchmark's mask of ``size`` (``small``, ``medium``, ``large``) for an image, fixed by ``seed``."""
    if size not in MASK_SIZES:
        raise InvalidArgument(f"mask size must be one of {', '.join(MASK_SIZES)}, got {size!r}")
    rng = np.random.default_rng([seed, list(MASK_SIZES).index(size)])
    return random_mask(height, width, rng, coverage=MASK_SIZES[size])
