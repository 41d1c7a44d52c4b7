"""The test pictures of the ops benchmark, at any size, built lazily outside the timed calls.

``make_inputs(2048)`` resizes three of scikit-image's bundled photos (astronaut, coffee,
rocket) with ``cv2.INTER_CUBIC``; ``make_inputs(side, full)`` cuts central crops of them.
Each ``Inputs`` also carries what the cases derive from the photos (masks, PIL images,
colour-space arrays), each computed once on first use.
"""

from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np
from PIL import Image, ImageCms
from skimage import color as skcolor
from skimage import data as skdata

from atelier import ops as at_ops


def _centre(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    y, x = (h - side) // 2, (w - side) // 2
    return np.ascontiguousarray(image[y : y + side, x : x + side])


def _ellipse_mask(h: int, w: int, soft: bool) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (w * 3 // 8, h * 3 // 8), 0, 0, 360, 255, -1)
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, w / 64)) if soft else mask


# sRGB <-> CIELAB transforms of Pillow's ImageCms (built once, not timed).
_SRGB, _LAB = ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB")
PIL_TO_LAB = ImageCms.buildTransform(_SRGB, _LAB, "RGB", "LAB")
PIL_FROM_LAB = ImageCms.buildTransform(_LAB, _SRGB, "LAB", "RGB")


class Inputs:
    """Everything the cases need at one size, built lazily and never inside a timed call.

    ``img`` is the RGB uint8 photo; ``other`` and ``third`` are two more photos of the same
    size (coffee, rocket); ``mask`` a soft white ellipse; the ``pil_*`` attributes are the
    same pictures as PIL images.
    """

    def __init__(self, img: np.ndarray, other: np.ndarray, third: np.ndarray) -> None:
        self.img, self.other, self.third = img, other, third
        self.h, self.w = img.shape[:2]

    mask = cached_property(lambda d: _ellipse_mask(d.h, d.w, soft=True))
    clone_src = cached_property(
        lambda d: cv2.resize(d.other, (d.w // 4, d.h // 4), interpolation=cv2.INTER_AREA)
    )
    clone_mask = cached_property(lambda d: _ellipse_mask(d.h // 4, d.w // 4, soft=False))
    ref = cached_property(lambda d: skdata.coffee())  # histogram reference, its own size
    blurred = cached_property(lambda d: cv2.GaussianBlur(d.img, (0, 0), 1.5))
    pil = cached_property(lambda d: Image.fromarray(d.img))
    pil_other = cached_property(lambda d: Image.fromarray(d.other))
    pil_third = cached_property(lambda d: Image.fromarray(d.third))
    pil_mask = cached_property(lambda d: Image.fromarray(d.mask))
    # colour-space arrays, each in its library's own convention
    hsv = cached_property(lambda d: at_ops.rgb_to_hsv(d.img))
    lab = cached_property(lambda d: at_ops.rgb_to_lab(d.img))
    ycc = cached_property(lambda d: at_ops.rgb_to_ycbcr(d.img))
    sk_hsv = cached_property(lambda d: skcolor.rgb2hsv(d.img))
    pil_hsv = cached_property(lambda d: d.pil.convert("HSV"))
    pil_lab = cached_property(lambda d: ImageCms.applyTransform(d.pil, PIL_TO_LAB))
    pil_ycc = cached_property(lambda d: d.pil.convert("YCbCr"))


def make_inputs(side: int, full: Inputs | None = None) -> Inputs:
    """The full-size inputs, or central crops of them."""
    if full is not None:
        return Inputs(*(_centre(a, side) for a in (full.img, full.other, full.third)))
    photos = [skdata.astronaut(), skdata.coffee(), skdata.rocket()]
    return Inputs(*(cv2.resize(p, (side, side), interpolation=cv2.INTER_CUBIC) for p in photos))
