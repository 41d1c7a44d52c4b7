"""Measures of a pasted region: how well its style matches the background, how visible its seam is.

- :func:`style_distance`: the Gram-matrix distance (Gatys et al. 2016's style loss) between
  the pasted region's bounding box in the composite and the whole background, summed over
  VGG19's ``relu1_1 .. relu5_1``: ``sum_l mean((G_l(box) - G_l(background))^2)`` with
  atelier's ``G = F F^T / (C H W)`` (:func:`~atelier.nets.feature_losses.gram_matrix`), images
  in [0, 1] (VGG19 sees them in its own 0-255 units). Lower is closer in style. The box is
  grown to at least 16 px a side (VGG19 pools four times before ``relu5_1``); a background
  longer than 1024 px is resized to 1024 first, as :func:`~atelier.tasks.deep_blend.deep_blend`
  does.
- :func:`boundary_gradient_error`: the seam, in grey levels (0-255): the mean over the
  pixels outside the region within ``width`` pixels of it (a ring made by dilating the region
  with a 3 x 3 square ``width`` times) and over the colour channels of
  ``|grad C - grad B|`` (the Euclidean norm of the difference of the central-difference
  gradients ``(d/dx, d/dy)``, ``np.gradient``). A central difference at a ring pixel next to
  the region reaches into it, so a colour jump across the seam shows; where the composite
  continues the background smoothly the error is 0. A naive paste scores high, a Poisson clone
  low.

Both take the foreground-sized ``mask`` and ``at`` of the paste (the centre of the mask's
bounding box, :func:`~atelier.tasks.deep_blend.place_mask`), so every method is measured on
the same pixels.

Example
-------
>>> import numpy as np
>>> bg = np.zeros((32, 32, 3), np.uint8)
>>> fg = np.full((10, 10, 3), 255, np.uint8); mask = np.full((10, 10), 255, np.uint8)
>>> naive = bg.copy(); naive[12:20, 12:20] = 255          # the 8 x 8 inside the ignored border
>>> boundary_gradient_error(naive, bg, mask, at=(16, 16)) > 50, boundary_gradient_error(bg, bg, mask, at=(16, 16))
(True, 0.0)
"""

from __future__ import annotations

import cv2
import numpy as np

from atelier.arrays import check_image, to_float
from atelier.errors import InvalidArgument
from atelier.tasks.deep_blend import MAX_STYLE_SIDE, grow_span, place_mask

__all__ = ["style_distance", "boundary_gradient_error", "MEASURE_TAPS"]

#: Gatys et al.'s style layers.
MEASURE_TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_MIN_SIDE = 16


def _rgb(image: np.ndarray) -> np.ndarray:
    f = to_float(check_image(image))
    if f.ndim == 2:
        f = f[..., None]
    f = f[..., :3] if f.shape[2] == 4 else f
    return np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f


def _same_size(composite: np.ndarray, background: np.ndarray) -> None:
    if composite.shape[:2] != background.shape[:2]:
        raise InvalidArgument(f"composite is {composite.shape[1]}x{composite.shape[0]} but the background is "
                              f"{background.shape[1]}x{background.shape[0]}; measure a composite on its own background")


def style_distance(composite: np.ndarray, background: np.ndarray, mask: np.ndarray,
                   at: tuple[int, int] | None = None, *, foreground_shape: tuple[int, ...] | None = None,
                   vgg=None, device: str = "cpu") -> float:
    """VGG19 Gram distance (``relu1_1 .. relu5_1``, summed) of the region's box in ``composite``
    to the whole ``background`` (see the module docstring).

    ``mask`` is the foreground's mask (its size is the foreground's unless ``foreground_shape``
    says otherwise); ``vgg`` may share a :class:`~atelier.nets.vgg19.VGG19` reaching ``relu5_1``.
    Returns a float >= 0 (0: the same Gram statistics).
    """
    import torch
    import torch.nn.functional as F

    from atelier.nets.feature_losses import gram_matrix
    from atelier.nets.vgg19 import VGG19

    _same_size(composite, background)
    place = place_mask(mask, foreground_shape or mask.shape, background.shape, at)
    height, width = background.shape[:2]
    if min(height, width) < _MIN_SIDE:
        raise InvalidArgument(f"the background needs at least {_MIN_SIDE}x{_MIN_SIDE} pixels for VGG19's relu5_1")
    y0, y1 = grow_span(place.y0, place.h, _MIN_SIDE, height)
    x0, x1 = grow_span(place.x0, place.w, _MIN_SIDE, width)
    net = vgg if vgg is not None else VGG19(taps=MEASURE_TAPS).to(device)
    where = next(net.parameters()).device

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None].to(where)

    bg = tensor(_rgb(background))
    if max(height, width) > MAX_STYLE_SIDE:
        k = MAX_STYLE_SIDE / max(height, width)
        bg = F.interpolate(bg, size=(max(_MIN_SIDE, round(height * k)), max(_MIN_SIDE, round(width * k))),
                           mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        target = net(bg, taps=MEASURE_TAPS)
        mine = net(tensor(_rgb(composite)[y0:y1, x0:x1]), taps=MEASURE_TAPS)
        total = sum(F.mse_loss(gram_matrix(mine[t]), gram_matrix(target[t])) for t in MEASURE_TAPS)
    return float(total)


def boundary_gradient_error(composite: np.ndarray, background: np.ndarray, mask: np.ndarray,
                            at: tuple[int, int] | None = None, *, width: int = 2,
                            foreground_shape: tuple[int, ...] | None = None) -> float:
    """Mean ``|grad composite - grad background|`` (grey levels) on the ``width``-pixel ring
    just outside the pasted region (see the module docstring)."""
    _same_size(composite, background)
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise InvalidArgument(f"width must be an integer >= 1, got {width!r}")
    place = place_mask(mask, foreground_shape or mask.shape, background.shape, at)
    region = place.canvas(*background.shape[:2])
    ring = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=int(width)).astype(bool) & ~region
    if not ring.any():  # the region fills the background
        return 0.0
    c, b = _rgb(composite) * 255.0, _rgb(background) * 255.0
    gy_c, gx_c = np.gradient(c, axis=(0, 1))
    gy_b, gx_b = np.gradient(b, axis=(0, 1))
    diff = np.sqrt((gx_c - gx_b) ** 2 + (gy_c - gy_b) ** 2)  # H x W x 3
    return float(diff[ring].mean())
