"""Transforms: resize, crop, channels, to_tensor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from atelier.data.transforms import (
    center_crop,
    check_size,
    random_crop,
    resize,
    resize_crop,
    resize_shorter,
    to_channels,
    to_tensor,
)
from atelier.errors import InvalidArgument


def test_resize_shorter_shapes():
    assert resize_shorter(np.zeros((100, 200, 3), np.uint8), 32).shape == (32, 64, 3)
    assert resize_shorter(np.zeros((90, 30), np.uint16), 60).shape == (180, 60)


def test_resize_uses_area_when_shrinking(astronaut):
    """Reference: cv2.resize with INTER_AREA (antialiased) on the same uint8 image."""
    out = resize(astronaut, 32)
    expected = cv2.resize(astronaut, (32, 32), interpolation=cv2.INTER_AREA)
    assert out.dtype == np.uint8 and np.array_equal(out, expected)


def test_resize_keeps_single_channel_axis():
    assert resize(np.zeros((8, 8, 1), np.float32), 16).shape == (16, 16, 1)


def test_center_crop_hand_computed():
    """A 4x6 ramp: the central 4x4 window starts at column (6 - 4) // 2 = 1."""
    img = np.arange(24, dtype=np.uint8).reshape(4, 6)
    assert np.array_equal(center_crop(img, 4), img[:, 1:5])


def test_random_crop_deterministic_and_in_bounds():
    img = np.arange(100 * 50, dtype=np.uint16).reshape(50, 100)
    a = random_crop(img, 50, np.random.default_rng(1))
    b = random_crop(img, 50, np.random.default_rng(1))
    assert a.shape == (50, 50) and np.array_equal(a, b)
    starts = {int(random_crop(img, 50, np.random.default_rng(s))[0, 0]) for s in range(20)}
    assert len(starts) > 1 and all(0 <= v <= 50 for v in starts)


def test_resize_crop_errors():
    with pytest.raises(InvalidArgument, match="rng"):
        resize_crop(np.zeros((10, 20), np.uint8), 8, "random")
    with pytest.raises(InvalidArgument, match="crop"):
        resize_crop(np.zeros((10, 20), np.uint8), 8, "middle")


def test_to_channels():
    """RGB -> grey: BT.601, 0.299 * 255 = 76.2 -> 76 for pure red (hand-computed)."""
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    assert to_channels(red, 1).shape == (2, 2, 1) and to_channels(red, 1)[0, 0, 0] == 76
    grey = np.full((2, 2), 9, np.uint8)
    assert to_channels(grey, 3).shape == (2, 2, 3) and (to_channels(grey, 3) == 9).all()
    assert to_channels(np.zeros((2, 2, 4), np.uint8), 3).shape == (2, 2, 3)


def test_to_tensor_range():
    t = to_tensor(np.array([[0, 65535]], np.uint16))
    assert tuple(t.shape) == (1, 1, 2) and t.tolist() == [[[0.0, 1.0]]]


@pytest.mark.parametrize("size", [7, 0, 8.5, True, "32"])
def test_check_size(size):
    with pytest.raises(InvalidArgument):
        check_size(size)
