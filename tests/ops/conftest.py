"""Shared images for the colour tests (test_color, test_color_spaces, test_histogram).

A small real photo (scikit-image's astronaut, 48 x 64) and the same image in every layout and
dtype the colour ops accept. Session-scoped: tests must not modify these arrays.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

VARIANT_NAMES = (
    "grey_u8",
    "grey1_u8",
    "rgb_u8",
    "rgba_u8",
    "grey_u16",
    "rgb_u16",
    "rgba_u16",
    "grey_f32",
    "rgb_f32",
    "rgba_f64",
)


@pytest.fixture(scope="session")
def astro() -> np.ndarray:
    """scikit-image's astronaut reduced to 48 x 64 x 3 uint8."""
    return cv2.resize(data.astronaut(), (64, 48), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def astro_f(astro: np.ndarray) -> np.ndarray:
    """``astro`` as float32 in [0, 1]."""
    return astro.astype(np.float32) / 255


@pytest.fixture(scope="session")
def astro_grey(astro: np.ndarray) -> np.ndarray:
    """``astro`` as 48 x 64 grey uint8 (OpenCV RGB2GRAY)."""
    return cv2.cvtColor(astro, cv2.COLOR_RGB2GRAY)


@pytest.fixture(scope="session")
def color_variants(
    astro: np.ndarray, astro_f: np.ndarray, astro_grey: np.ndarray
) -> dict[str, np.ndarray]:
    """The astronaut as grey, grey H x W x 1, RGB and RGBA (random alpha) in uint8, uint16
    and float, keyed by ``VARIANT_NAMES``."""
    alpha = np.random.default_rng(1234).integers(0, 256, astro.shape[:2], dtype=np.uint8)
    rgba = np.dstack([astro, alpha])
    variants = {
        "grey_u8": astro_grey,
        "grey1_u8": astro_grey[..., None],
        "rgb_u8": astro,
        "rgba_u8": rgba,
        "grey_u16": astro_grey.astype(np.uint16) * 257,
        "rgb_u16": astro.astype(np.uint16) * 257,
        "rgba_u16": rgba.astype(np.uint16) * 257,
        "grey_f32": astro_grey.astype(np.float32) / 255,
        "rgb_f32": astro_f,
        "rgba_f64": rgba.astype(np.float64) / 255,
    }
    assert tuple(variants) == VARIANT_NAMES
    return variants


@pytest.fixture(params=VARIANT_NAMES)
def variant_image(request: pytest.FixtureRequest, color_variants: dict) -> np.ndarray:
    """Each of ``color_variants`` in turn (the test id names the variant)."""
    return color_variants[request.param]
