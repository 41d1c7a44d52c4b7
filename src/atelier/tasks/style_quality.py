"""Two checks a stylised photo must pass: the scene's layout survives, and the border carries
no artefact of the network's padding. The shipped style networks are held to them
(``tests/tasks/test_shipped_styles.py``, ``benchmarks/texture_compositing.py``).

- :func:`layout_similarity`: SSIM of the luminance (BT.601) of the output and the photo, both
  reduced (Pillow's antialiased bicubic) so their longer side is 128 px: the arrangement of
  the scene, not the brush strokes, which a style replaces by design. The shipped styles are
  held to >= 0.5 (:data:`LAYOUT_BOUND`).
- :func:`border_step`: the mean over the four sides of |mean luminance of the outermost
  8 px band - that of the band just inside it|. A dark or bright frame from zero padding
  makes the output's step jump; the shipped styles are held to the photo's own step plus
  :data:`BORDER_MARGIN` grey levels.

Example
-------
>>> import numpy as np
>>> photo = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
>>> round(layout_similarity(photo, photo), 3), border_step(np.zeros((64, 80, 3), np.uint8))
(1.0, 0.0)
"""

from __future__ import annotations

import numpy as np

from atelier.errors import InvalidArgument

__all__ = ["layout_similarity", "border_step", "LAYOUT_BOUND", "BORDER_MARGIN"]

#: The lowest layout similarity a shipped style may have on a held-out photo.
LAYOUT_BOUND = 0.5
#: How many grey levels a shipped style's border step may exceed the photo's.
BORDER_MARGIN = 2.0


def _luma(image: np.ndarray) -> np.ndarray:
    from atelier.arrays import check_image, to_float

    f = to_float(check_image(image))
    if f.ndim == 2:
        return f * 255.0
    return f[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32) * 255.0 if f.shape[2] >= 3 else f[..., 0] * 255.0


def layout_similarity(output: np.ndarray, photo: np.ndarray, side: int = 128) -> float:
    """SSIM of the two images' luminance at ``side`` px on the longer side (same aspect ratio
    required: the output of a style network for the photo)."""
    from atelier.metrics import ssim
    from atelier.ops.geometry import resize

    if output.shape[:2] != photo.shape[:2]:
        raise InvalidArgument(f"the output is {output.shape[1]}x{output.shape[0]} but the photo "
                              f"{photo.shape[1]}x{photo.shape[0]}; compare an output with its own photo")
    k = side / max(photo.shape[:2])
    w, h = max(8, round(photo.shape[1] * k)), max(8, round(photo.shape[0] * k))
    small = [resize(np.clip(_luma(x), 0, 255).round().astype(np.uint8), width=w, height=h, method="bicubic",
                    antialias=True) for x in (output, photo)]
    return float(ssim(small[0], small[1]))


def border_step(image: np.ndarray, width: int = 8) -> float:
    """Mean over the four sides of |mean luminance of the outer ``width`` px band - the next
    band's| (grey levels, 0-255)."""
    y = _luma(image).astype(np.float64)
    if min(y.shape[:2]) < 4 * width:
        raise InvalidArgument(f"the image must be at least {4 * width} px a side for {width} px bands")
    w = width
    pairs = ((y[:w], y[w : 2 * w]), (y[-w:], y[-2 * w : -w]), (y[:, :w], y[:, w : 2 * w]), (y[:, -w:], y[:, -2 * w : -w]))
    return float(np.mean([abs(a.mean() - b.mean()) for a, b in pairs]))
