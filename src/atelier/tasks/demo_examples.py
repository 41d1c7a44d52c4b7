"""The example files: small inputs for every README command, made from bundled photos.

``write_examples(folder)`` writes them (``atelier demo`` puts them in ``DIR/examples/``), so
the README's commands run as written from inside that folder on a fresh install: nothing is
downloaded; every file comes from an image that ships inside scikit-image, reduced to a few
hundred pixels so that each command takes seconds on a laptop CPU.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> files = write_examples(folder)
>>> sorted(p for p in files if "/" not in p)[:4]
['a.jpg', 'b.jpg', 'face.png', 'mask.png']
>>> (folder / "photos" / "grey" / "moon.png").is_file()
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from atelier.errors import OutputExists
from atelier.image import load_image, save_image
from atelier.ops import resize
from atelier.ops.pipeline import Pipeline

__all__ = ["EXAMPLES", "NOISE_SIGMA", "SMALL_PIPELINE", "bundled_photo", "write_examples"]

#: The Gaussian noise (8-bit units) of ``noisy.png`` and ``scans/``.
NOISE_SIGMA = 25
#: How ``small.png`` is made from ``photo.jpg`` (the super-resolution benchmark's reduction).
SMALL_PIPELINE = "resize scale=0.25 method=bicubic antialias=true"


def bundled_photo(name: str) -> np.ndarray:
    """A sample image that ships inside scikit-image (``skimage.data.NAME()``; no download)."""
    from skimage import data

    return np.ascontiguousarray(getattr(data, name)())


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    """Reduce so that the longer side is ``side`` pixels (area averaging)."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    return resize(image, width=round(w * scale), height=round(h * scale), method="area")


def _noisy(image: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, NOISE_SIGMA, image.shape), 0, 255).round().astype(np.uint8)


def _scratches(h: int, w: int) -> np.ndarray:
    """A mask of thin strokes and one blot: white where to fill."""
    import cv2

    mask = np.zeros((h, w), np.uint8)
    for (x0, y0, x1, y1, width) in ((0.08, 0.12, 0.9, 0.78, 5), (0.15, 0.9, 0.75, 0.2, 3), (0.55, 0.05, 0.62, 0.95, 4)):
        cv2.line(mask, (round(x0 * w), round(y0 * h)), (round(x1 * w), round(y1 * h)), 255, width)
    cv2.ellipse(mask, (round(0.3 * w), round(0.55 * h)), (round(0.06 * w), round(0.04 * h)), 20, 0, 360, 255, -1)
    return mask


def _face_and_mask() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face (for ``seamless_clone source=face.png mask=mask.png``)."""
    import cv2

    face = _fit(bundled_photo("astronaut")[40:200, 150:310], 96)
    mask = np.zeros(face.shape[:2], np.uint8)
    cv2.ellipse(mask, (48, 48), (34, 42), 0, 0, 360, 255, -1)
    return face, mask


#: Relative path -> (maker(folder) -> image, description), written in this order. Derived files
#: load their source back from disk, so they start from exactly the pixels a command reads.
EXAMPLES: dict[str, tuple[Callable[[Path], np.ndarray], str]] = {
    "photo.jpg": (lambda f: _fit(bundled_photo("astronaut"), 256), "scikit-image's astronaut, 256 x 256"),
    "small.png": (
        lambda f: Pipeline.parse(SMALL_PIPELINE).apply(load_image(f / "photo.jpg")),
        f'photo.jpg reduced 4x to 64 x 64: atelier edit photo.jpg -o small.png "{SMALL_PIPELINE}"',
    ),
    "noisy.png": (
        lambda f: _noisy(load_image(f / "photo.jpg"), 0),
        f"photo.jpg with Gaussian noise of sigma {NOISE_SIGMA} (8-bit units, seed 0)",
    ),
    "scratches.png": (lambda f: _scratches(256, 256), "a mask for photo.jpg: white where to fill"),
    "photos/coffee.jpg": (lambda f: _fit(bundled_photo("coffee"), 384), "scikit-image's coffee"),
    "photos/chelsea.jpg": (lambda f: _fit(bundled_photo("chelsea"), 384), "scikit-image's chelsea (a cat)"),
    "photos/rocket.jpg": (lambda f: _fit(bundled_photo("rocket"), 384), "scikit-image's rocket"),
    "photos/grey/moon.png": (lambda f: _fit(bundled_photo("moon"), 384), "scikit-image's moon (grey)"),
    "scans/page.png": (lambda f: _noisy(bundled_photo("page"), 1), "a noisy scanned page (grey)"),
    "scans/text.png": (lambda f: _noisy(_fit(bundled_photo("text"), 384), 2), "noisy text (grey)"),
    "hr/astronaut.png": (lambda f: load_image(f / "photo.jpg"), "photo.jpg as PNG (high-resolution reference)"),
    "hr/coffee.png": (lambda f: _fit(bundled_photo("coffee"), 256)[:168], "coffee, 256 x 168 (sides multiples of 4)"),
    "lr/astronaut.png": (
        lambda f: Pipeline.parse(SMALL_PIPELINE).apply(load_image(f / "hr/astronaut.png")), "hr/ reduced 4x",
    ),
    "lr/coffee.png": (lambda f: Pipeline.parse(SMALL_PIPELINE).apply(load_image(f / "hr/coffee.png")), "hr/ reduced 4x"),
    "painting.jpg": (lambda f: _fit(bundled_photo("immunohistochemistry"), 256), "a style image: scikit-image's immunohistochemistry"),
    "a.jpg": (lambda f: _fit(bundled_photo("hubble_deep_field"), 256), "a style image: the Hubble deep field"),
    "b.jpg": (lambda f: _fit(bundled_photo("retina"), 256), "a style image: scikit-image's retina"),
    "face.png": (lambda f: _face_and_mask()[0], "the astronaut's face, for seamless_clone"),
    "mask.png": (lambda f: _face_and_mask()[1], "an ellipse over face.png, for seamless_clone"),
}


def write_examples(folder: str | Path, *, overwrite: bool = False) -> list[str]:
    """Write the example files into ``folder``; return their relative paths.

    An existing example file is kept (``OutputExists``, before anything is written) unless
    ``overwrite``. JPEGs are written at quality 90.
    """
    root = Path(folder)
    if not overwrite:
        taken = [name for name in EXAMPLES if (root / name).exists()]
        if taken:
            raise OutputExists(f"{root / taken[0]} exists; pass overwrite=True to replace the example files")
    for name, (make, _) in EXAMPLES.items():
        save_image(root / name, make(root), quality=90, overwrite=True)
    return list(EXAMPLES)
