"""Inpainting quality: classic methods and the learned model on held-out photos, three mask sizes.

Images: the five CSet5 images and the last 15 photos of ``photos80`` (sorted by name: the
ones the shipped model was not trained on, ``--set data.holdout=15``), each centre-cropped to
at most 256 x 256. Masks: :func:`atelier.data.masks.benchmark_mask` (free-form strokes and
boxes) at ``small`` (>= 5 % of the image), ``medium`` (>= 15 %) and ``large`` (>= 30 %),
seeded by the image's index, so every method fills the same holes.

Measures per method and size, averaged over the images:

- PSNR inside the mask (8-bit, all channels of the masked pixels);
- SSIM inside the mask: the SSIM map of Wang et al. (Gaussian window 11 / 1.5, channels
  averaged, scikit-image) averaged over the masked pixels;
- VGG distance: LPIPS's formula without its learned weights ("lin" off) on atelier's VGG19,
  at the last ReLU of each block (``relu1_2``, ``relu2_2``, ``relu3_4``, ``relu4_4``,
  ``relu5_4``): channel-normalised features, squared difference, spatial mean, summed over
  layers; on the whole image (the unmasked pixels are identical, so it measures the fill in
  its context). Lower is better.
- seconds per image.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES = ("small", "medium", "large")
VGG_TAPS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")
CROP = 256
HELD_OUT = 15


def images(cset5: Path, photos: Path, crop: int = CROP) -> list[tuple[str, np.ndarray]]:
    """(name, centre crop) of CSet5 and of the last ``HELD_OUT`` photos80 photos."""
    from atelier.data.folder import list_images
    from atelier.image import load_image

    files = list(list_images(cset5)) + list(list_images(photos))[-HELD_OUT:]
    out = []
    for f in files:
        im = load_image(f, mode="rgb")
        h, w = im.shape[:2]
        ch, cw = min(h, crop), min(w, crop)
        top, left = (h - ch) // 2, (w - cw) // 2
        out.append((Path(f).name, np.ascontiguousarray(im[top : top + ch, left : left + cw])))
    return out


class VGGDistance:
    """The unweighted LPIPS-style distance above, for ``H x W x 3`` uint8 pairs
    (:class:`atelier.nets.feature_losses.FeatureDistance` at ``VGG_TAPS``)."""

    def __init__(self) -> None:
        from atelier.nets.feature_losses import FeatureDistance

        self.distance = FeatureDistance(VGG_TAPS)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        import torch

        from atelier.image import to_tensor

        with torch.no_grad():
            return float(self.distance(to_tensor(a), to_tensor(b))[0])


def masked_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    _, full = structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True,
                                    sigma=1.5, use_sample_covariance=False, full=True)
    return float(full.mean(axis=2)[mask].mean())


def inpaint_part(methods: dict[str, Any], cset5: Path, photos: Path, quick: bool = False) -> dict[str, Any]:
    """Per size and method: mean PSNR, SSIM (inside the masks), VGG distance, seconds."""
    from atelier.data.masks import MASK_SIZES, benchmark_mask
    from atelier.tasks.inpaint import inpaint
    from atelier.train.objectives.inpaint import hole_psnr

    pictures = images(cset5, photos, 64 if quick else CROP)
    if quick:
        pictures = pictures[:3]
    distance = VGGDistance()
    out: dict[str, Any] = {"images": [n for n, _ in pictures], "coverage": dict(MASK_SIZES), "sizes": {}}
    for size in SIZES:
        per: dict[str, dict[str, list[float]]] = {m: {"psnr": [], "ssim": [], "vgg": [], "seconds": []} for m in methods}
        covered = []
        for k, (_, image) in enumerate(pictures):
            mask = benchmark_mask(*image.shape[:2], size, seed=k)
            covered.append(float(mask.mean()))
            for name, method in methods.items():
                start = time.perf_counter()
                filled = inpaint(image, mask, method)
                per[name]["seconds"].append(time.perf_counter() - start)
                per[name]["psnr"].append(hole_psnr(filled, image, mask))
                per[name]["ssim"].append(masked_ssim(filled, image, mask))
                per[name]["vgg"].append(distance(filled, image))
        out["sizes"][size] = {
            "mean_coverage": float(np.mean(covered)),
            "methods": {m: {k: float(np.mean(v)) for k, v in d.items()} | {"per_image_psnr": d["psnr"]}
                        for m, d in per.items()},
        }
    return out
