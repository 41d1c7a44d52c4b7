"""The fixed inputs of the texture and compositing benchmark: texture samples cut from the
paintings of ``../shared/data/styles`` and the held-out photos of ``photos80``.

Texture samples (:data:`SAMPLES`): a square ``(x, y, side)`` of a painting at its own
resolution, resized to :data:`SAMPLE_SIDE` (Pillow's Lanczos) so that every sample is
128 x 128 and holds a few strokes of the painting's texture:

- ``starry-sky``: the large swirl of the sky of Starry Night (1024 x 640; 192 px square);
- ``scream-sky``: the red and orange bands of the sky of The Scream (1200 x 1528; 256 px);
- ``monet-water``: the lit water under Charing Cross Bridge (567 x 362; 128 px, native).

Held-out photos: the last :data:`HELD_OUT` files of the sorted ``photos80`` (the default
validation split of atelier's photo data sets, ``min(10, n // 10)``), never seen in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_SIDE = 128
SAMPLES = (
    ("starry-sky", "starry_night.jpg", (420, 60, 192)),
    ("scream-sky", "the_scream.jpg", (300, 40, 256)),
    ("monet-water", "monet-charing_cross_bridge.jpg", (170, 225, 128)),
)
HELD_OUT = 8


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` (uint8) resized to ``width x height`` (Pillow's Lanczos, antialiased)."""
    from PIL import Image

    if image.shape[1] == width and image.shape[0] == height:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS))


def fit_long_side(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` resized so that its longer side is ``side`` (aspect kept)."""
    h, w = image.shape[:2]
    k = side / max(h, w)
    return resize(image, max(1, round(w * k)), max(1, round(h * k)))


def load_painting(styles: Path, name: str) -> np.ndarray:
    from atelier.image import load_image

    return load_image(styles / name, mode="rgb")


def texture_samples(styles: Path) -> dict[str, dict[str, Any]]:
    """name -> {"image": 128 x 128 x 3 uint8, "source": file, "crop": (x, y, side)}."""
    out = {}
    for name, file, (x, y, side) in SAMPLES:
        painting = load_painting(styles, file)
        crop = painting[y : y + side, x : x + side]
        if crop.shape[:2] != (side, side):
            raise ValueError(f"{file} is {painting.shape[1]}x{painting.shape[0]}: the crop {(x, y, side)} does not fit")
        out[name] = {"image": resize(crop, SAMPLE_SIDE, SAMPLE_SIDE), "source": file, "crop": [x, y, side]}
    return out


def photo_files(photos: Path) -> list[Path]:
    from atelier.data.folder import list_images

    return sorted(list_images(photos))


def held_out(photos: Path, count: int) -> list[Path]:
    """The last ``count`` of the held-out photos (the last :data:`HELD_OUT` of the sorted folder)."""
    return photo_files(photos)[-HELD_OUT:][-count:]
