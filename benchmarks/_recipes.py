"""Hand-written recipes the ops benchmark compares atelier with, where no library has one call.

* ``raw_*`` and ``cv_ssim``: the shortest OpenCV (+ numpy) recipe a user would write for an
  op that OpenCV has no single call for (the "raw OpenCV" column of such rows);
* ``pil_*`` and ``sk_*``: the same for Pillow and scikit-image;
* ``YCC_FWD``, ``YCC_INV``, ``to_float32``, ``to_u8``: conversions the colour-space rows use.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
from PIL import Image
from skimage import color as skcolor
from skimage import exposure
from skimage import metrics as skmetrics


# --------------------------------------------------------------------------- OpenCV


def raw_autocontrast(img: np.ndarray, cutoff: float) -> np.ndarray:
    lut, n = np.empty((256, 1, 3), np.uint8), img.shape[0] * img.shape[1]
    for c in range(3):
        cdf = np.cumsum(cv2.calcHist([img], [c], None, [256], [0, 256]).ravel())
        lo = int(np.searchsorted(cdf, n * cutoff / 100, side="right"))
        hi = int(np.searchsorted(cdf, n * (1 - cutoff / 100)))
        lut[:, 0, c] = np.clip((np.arange(256) - lo) * (255 / max(hi - lo, 1)) + 0.5, 0, 255)
    return cv2.LUT(img, lut)


def raw_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    mean = cv2.mean(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))[0]
    return cv2.addWeighted(img, factor, img, 0.0, (1 - factor) * mean)


def raw_gamma(img: np.ndarray, g: float) -> np.ndarray:
    return cv2.LUT(img, np.rint(255 * (np.arange(256) / 255) ** g).astype(np.uint8))


def raw_hue(img: np.ndarray, shift: float) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)
    hsv[..., 0] += np.uint8(round(shift * 256 / 360) % 256)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


def raw_on_channel(img: np.ndarray, fwd: int, back: int, fn: Callable) -> np.ndarray:
    """Convert, process channel 0 (Y or L), convert back (equalize / CLAHE recipes)."""
    work = cv2.cvtColor(img, fwd)
    work[..., 0] = fn(work[..., 0])
    return cv2.cvtColor(work, back)


def raw_match_histogram(img: np.ndarray, ref: np.ndarray) -> np.ndarray:
    lut = np.empty((256, 1, 3), np.uint8)
    for c in range(3):
        src = cv2.calcHist([img], [c], None, [256], [0, 256]).ravel()
        dst = cv2.calcHist([ref], [c], None, [256], [0, 256]).ravel()
        values = np.flatnonzero(dst)
        lut[:, 0, c] = np.rint(
            np.interp(np.cumsum(src) / src.sum(), np.cumsum(dst[values]) / dst.sum(), values)
        )
    return cv2.LUT(img, lut)


def raw_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(img, factor, grey, 1 - factor, 0)


def raw_gray_world(img: np.ndarray) -> np.ndarray:
    means = np.array(cv2.mean(img)[:3])
    return cv2.transform(img, np.diag(means.mean() / means))


def raw_alpha_blend(img: np.ndarray, other: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weight = mask.astype(np.float32) / 255
    return cv2.blendLinear(img, other, 1 - weight, weight)


def raw_blend3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    acc = cv2.addWeighted(a, 1 / 3, b, 1 / 3, 0, dtype=cv2.CV_32F)
    return cv2.addWeighted(acc, 1, c, 1 / 3, 0, dtype=cv2.CV_8U)


def raw_pyramid_blend(a: np.ndarray, b: np.ndarray, mask: np.ndarray, levels: int):
    """OpenCV tutorial recipe: Laplacian pyramids mixed by the mask's Gaussian pyramid."""
    ga, gb = [a.astype(np.float32)], [b.astype(np.float32)]
    gm = [cv2.cvtColor(mask, cv2.COLOR_GRAY2RGB).astype(np.float32) / 255]
    for _ in range(levels - 1):
        for g in (ga, gb, gm):
            g.append(cv2.pyrDown(g[-1]))
    out = ga[-1] * (1 - gm[-1]) + gb[-1] * gm[-1]
    for k in range(levels - 2, -1, -1):
        size = ga[k].shape[1::-1]
        la = ga[k] - cv2.pyrUp(ga[k + 1], dstsize=size)
        lb = gb[k] - cv2.pyrUp(gb[k + 1], dstsize=size)
        out = cv2.pyrUp(out, dstsize=size) + la * (1 - gm[k]) + lb * gm[k]
    return cv2.convertScaleAbs(out)  # round and saturate (values are >= 0 up to ringing)


def raw_rotate(img: np.ndarray, angle: float) -> np.ndarray:
    """The usual "rotate_bound" recipe: rotation matrix, grown canvas, warpAffine."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
    m[0, 2] += (nw - w) / 2
    m[1, 2] += (nh - h) / 2
    return cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def cv_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM as in OpenCV's tutorial (getMSSISM): float32, 11x11 Gaussian sigma 1.5."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    a, b = a.astype(np.float32), b.astype(np.float32)

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu1, mu2 = blur(a), blur(b)
    mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s11, s22, s12 = blur(a * a) - mu11, blur(b * b) - mu22, blur(a * b) - mu12
    ssim_map = ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu11 + mu22 + c1) * (s11 + s22 + c2))
    return float(np.mean(cv2.mean(ssim_map)[:3]))


_YCC = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])
YCC_FWD = np.hstack([_YCC / 255, [[16], [128], [128]]]).astype(np.float32)
YCC_INV = np.hstack(
    [np.linalg.inv(_YCC), -np.linalg.inv(_YCC) @ [[16], [128], [128]]]
).astype(np.float32)


def to_float32(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) / 255


def to_u8(x: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounded and saturated in one OpenCV pass."""
    return cv2.convertScaleAbs(x, alpha=255)


# --------------------------------------------------------------------------- Pillow / skimage


def pil_table(fn: Callable[[int], float]) -> list[int]:
    return [max(0, min(255, round(fn(i)))) for i in range(256)] * 3


def pil_hue(im: Image.Image, shift: float) -> Image.Image:
    h, s, v = im.convert("HSV").split()
    k = round(shift * 256 / 360)
    h = h.point([(i + k) % 256 for i in range(256)])
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def sk_hue(img: np.ndarray, shift: float) -> np.ndarray:
    hsv = skcolor.rgb2hsv(img)
    hsv[..., 0] = (hsv[..., 0] + shift / 360) % 1.0
    return skcolor.hsv2rgb(hsv)


def sk_autocontrast(img: np.ndarray, cutoff: float) -> np.ndarray:
    """scikit-image's gallery recipe: rescale between two percentiles (joint, not per channel)."""
    lo, hi = np.percentile(img, (cutoff, 100 - cutoff))
    return exposure.rescale_intensity(img, in_range=(lo, hi))


def sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return skmetrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
        channel_axis=-1,
    )
