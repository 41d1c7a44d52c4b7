"""Speed of every registered op against raw OpenCV, Pillow and scikit-image, plus batch scaling.

What it measures
----------------
1. Every op in ``atelier.ops.list_ops()`` (new ops are never skipped: an op without an entry in
   ``OP_CASES`` is listed as "no case") on a 2048 x 2048 RGB uint8 photo (scikit-image's
   astronaut, resized with ``cv2.INTER_CUBIC``), with representative parameters, next to

   * **raw OpenCV**: the call sequence a user would write by hand for the same result
     (``cv2.GaussianBlur(img, (0, 0), 2)``); where OpenCV has no single call the row's note
     says "hand-written" and the reference is the shortest OpenCV/numpy recipe;
   * **Pillow**: the same operation on a PIL image prepared beforehand -- the numpy <-> PIL
     conversions are *not* timed, the most favourable measurement for Pillow;
   * **scikit-image**: the same operation on the same uint8 numpy array; its conversion to
     float inside the call is timed, a conversion of the (float64) result back to uint8 is
     not.

   Where the peers' parameters or conventions cannot match exactly, the note says how.
   Extra rows time the colour-space conversions (``convert_color``) and the fidelity metrics
   (``mse``, ``psnr``, ``ssim`` against ``skimage.metrics`` and ``cv2.PSNR``).
2. ``atelier edit`` through the real command line (a subprocess) over a folder of 200
   photo-like 1024 x 768 JPEGs, with ``-j 1`` and ``-j 2``.

Timing: every candidate is called once to warm up and once to calibrate, then timed in
interleaved rounds (A B C, B C A, C A B, ...) so slow drifts of the machine hit all
candidates alike and none always follows the same one. Calls under 20 ms are repeated back
to back within a run (timeit-style) so each run lasts about 20 ms; the run count is adaptive
(about 1 s per candidate, at least 3 runs, at most 50) and the median time per call is
reported. OpenCV runs with its default thread count (printed in the header; Pillow and most
of scikit-image are single-threaded, which is part of why OpenCV-based code is faster). A
candidate whose single run would take more than 20 s at 2048 x 2048 (estimated from a
256 x 256 probe) is measured, together with atelier's op, on the central 512 x 512 crop
instead: its column shows ``ms@512`` and the ratio uses atelier's time at 512 x 512. The
machine's load average is printed: other work on a small machine skews every figure, so
compare ratios, and re-run when the load is high.

How to run
----------
    .venv/bin/python benchmarks/ops_speed.py [--quick] [--json PATH] [--only NAME,...]
                                              [--skip-batch]

``--quick`` is a smoke run (1-3 repeats, 2 s limit before falling back to 512 x 512, 40
images in the folder, each batch mode once). ``--only gaussian_blur,batch`` runs some rows
(and the folder run) only. JSON goes to ``benchmarks/results/ops_speed.json`` by default,
with every single timing, the machine and the library versions.

How to read the ratios
----------------------
* ``overhead = atelier / raw OpenCV`` at the same size; target <= 1.10 (the wrapper costs at
  most 10 %). ``+us`` is the same difference in microseconds: for ops that take well under a
  millisecond (crop), a fixed few-microsecond Python cost (argument checks) can break
  the 10 % rule while being irrelevant in practice; such misses (raw call under 1 ms, excess
  under 50 us) are marked "tiny".
* ``vs peer = atelier / fastest peer`` among Pillow and scikit-image; target <= 1.00 (no op
  slower than the fastest library that offers it). When peers were measured at different
  sizes, each is compared with atelier at its own size and the worst ratio is shown
  (``max_p atelier_p / peer_p``), which is atelier / fastest peer when sizes agree.
* ``diff`` is the mean absolute difference between atelier's and raw OpenCV's output (in
  output units, 0-255 for uint8): a sanity check that the two rows compute the same thing.
* ``atelier edit`` speedup = time with ``-j 1`` / time with ``-j 2`` (best of two runs each,
  wall clock of the whole command, start-up included); target >= 1.7. Next to it, the
  "machine control" is the same ratio for two CPU-bound pure-Python processes: about 2 on an
  idle 2-core machine; when it is far lower, another load holds a core and the batch figure
  says nothing about atelier.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import PIL
import scipy
import skimage
from PIL import Image, ImageCms, ImageEnhance, ImageFilter, ImageOps
from skimage import color as skcolor
from skimage import data as skdata
from skimage import exposure, filters, restoration, transform, util
from skimage import metrics as skmetrics

import atelier
from atelier import metrics as at_metrics
from atelier import ops as at_ops
from atelier.ops import list_ops

SIZE = 2048  # side of the test photo
SMALL = 512  # side of the crop used for peers too slow at full size
PROBE = 256  # side of the crop used to estimate full-size run times
OVERHEAD_TARGET = 1.10
PEER_TARGET = 1.00
TINY_MS = 1.0  # an overhead miss on an op faster than this (raw OpenCV) ...
TINY_US = 50.0  # ... that costs less than this many microseconds is marked "tiny"
PIPELINE = "autocontrast cutoff=1 | unsharp radius=2 amount=1 | resize scale=0.5"
SPEEDUP_TARGET = 1.7
PEERS = ("pil", "sk")
COLUMNS = {"atelier": "atelier", "cv2": "raw OpenCV", "pil": "Pillow", "sk": "scikit-image"}


# --------------------------------------------------------------------------- inputs


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
_PIL_TO_LAB = ImageCms.buildTransform(_SRGB, _LAB, "RGB", "LAB")
_PIL_FROM_LAB = ImageCms.buildTransform(_LAB, _SRGB, "LAB", "RGB")


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
    pil_lab = cached_property(lambda d: ImageCms.applyTransform(d.pil, _PIL_TO_LAB))
    pil_ycc = cached_property(lambda d: d.pil.convert("YCbCr"))


def make_inputs(side: int, full: Inputs | None = None) -> Inputs:
    """The full-size inputs, or central crops of them."""
    if full is not None:
        return Inputs(*(_centre(a, side) for a in (full.img, full.other, full.third)))
    photos = [skdata.astronaut(), skdata.coffee(), skdata.rocket()]
    return Inputs(*(cv2.resize(p, (side, side), interpolation=cv2.INTER_CUBIC) for p in photos))


# --------------------------------------------------------------------------- hand-written refs
# The shortest OpenCV (+ numpy) recipes for ops that OpenCV has no single call for.


def _raw_autocontrast(img: np.ndarray, cutoff: float) -> np.ndarray:
    lut, n = np.empty((256, 1, 3), np.uint8), img.shape[0] * img.shape[1]
    for c in range(3):
        cdf = np.cumsum(cv2.calcHist([img], [c], None, [256], [0, 256]).ravel())
        lo = int(np.searchsorted(cdf, n * cutoff / 100, side="right"))
        hi = int(np.searchsorted(cdf, n * (1 - cutoff / 100)))
        lut[:, 0, c] = np.clip((np.arange(256) - lo) * (255 / max(hi - lo, 1)) + 0.5, 0, 255)
    return cv2.LUT(img, lut)


def _raw_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    mean = cv2.mean(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))[0]
    return cv2.addWeighted(img, factor, img, 0.0, (1 - factor) * mean)


def _raw_gamma(img: np.ndarray, g: float) -> np.ndarray:
    return cv2.LUT(img, np.rint(255 * (np.arange(256) / 255) ** g).astype(np.uint8))


def _raw_hue(img: np.ndarray, shift: float) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)
    hsv[..., 0] += np.uint8(round(shift * 256 / 360) % 256)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


def _raw_on_channel(img: np.ndarray, fwd: int, back: int, fn: Callable) -> np.ndarray:
    """Convert, process channel 0 (Y or L), convert back (equalize / CLAHE recipes)."""
    work = cv2.cvtColor(img, fwd)
    work[..., 0] = fn(work[..., 0])
    return cv2.cvtColor(work, back)


def _raw_match_histogram(img: np.ndarray, ref: np.ndarray) -> np.ndarray:
    lut = np.empty((256, 1, 3), np.uint8)
    for c in range(3):
        src = cv2.calcHist([img], [c], None, [256], [0, 256]).ravel()
        dst = cv2.calcHist([ref], [c], None, [256], [0, 256]).ravel()
        values = np.flatnonzero(dst)
        lut[:, 0, c] = np.rint(
            np.interp(np.cumsum(src) / src.sum(), np.cumsum(dst[values]) / dst.sum(), values)
        )
    return cv2.LUT(img, lut)


def _raw_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(img, factor, grey, 1 - factor, 0)


def _raw_gray_world(img: np.ndarray) -> np.ndarray:
    means = np.array(cv2.mean(img)[:3])
    return cv2.transform(img, np.diag(means.mean() / means))


def _raw_alpha_blend(img: np.ndarray, other: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weight = mask.astype(np.float32) / 255
    return cv2.blendLinear(img, other, 1 - weight, weight)


def _raw_blend3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    acc = cv2.addWeighted(a, 1 / 3, b, 1 / 3, 0, dtype=cv2.CV_32F)
    return cv2.addWeighted(acc, 1, c, 1 / 3, 0, dtype=cv2.CV_8U)


def _raw_pyramid_blend(a: np.ndarray, b: np.ndarray, mask: np.ndarray, levels: int):
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


def _raw_rotate(img: np.ndarray, angle: float) -> np.ndarray:
    """The usual "rotate_bound" recipe: rotation matrix, grown canvas, warpAffine."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
    m[0, 2] += (nw - w) / 2
    m[1, 2] += (nh - h) / 2
    return cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def _cv_ssim(a: np.ndarray, b: np.ndarray) -> float:
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
_YCC_FWD = np.hstack([_YCC / 255, [[16], [128], [128]]]).astype(np.float32)
_YCC_INV = np.hstack(
    [np.linalg.inv(_YCC), -np.linalg.inv(_YCC) @ [[16], [128], [128]]]
).astype(np.float32)


def _to_float32(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) / 255


def _to_u8(x: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounded and saturated in one OpenCV pass."""
    return cv2.convertScaleAbs(x, alpha=255)


# --------------------------------------------------------------------------- Pillow / skimage


def _pil_table(fn: Callable[[int], float]) -> list[int]:
    return [max(0, min(255, round(fn(i)))) for i in range(256)] * 3


def _pil_hue(im: Image.Image, shift: float) -> Image.Image:
    h, s, v = im.convert("HSV").split()
    k = round(shift * 256 / 360)
    h = h.point([(i + k) % 256 for i in range(256)])
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def _sk_hue(img: np.ndarray, shift: float) -> np.ndarray:
    hsv = skcolor.rgb2hsv(img)
    hsv[..., 0] = (hsv[..., 0] + shift / 360) % 1.0
    return skcolor.hsv2rgb(hsv)


def _sk_autocontrast(img: np.ndarray, cutoff: float) -> np.ndarray:
    """scikit-image's gallery recipe: rescale between two percentiles (joint, not per channel)."""
    lo, hi = np.percentile(img, (cutoff, 100 - cutoff))
    return exposure.rescale_intensity(img, in_range=(lo, hi))


def _sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return skmetrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
        channel_axis=-1,
    )


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """One row: atelier's call and the peers' equivalents, each a function of the Inputs.

    For a registered op, ``kwargs`` gives its parameters (a dict, or a function of the
    Inputs for size-dependent ones) and atelier's call is ``op(d.img, **kwargs)``; extra rows
    give ``atelier`` directly. ``None`` means the library does not offer the operation.
    """

    kwargs: dict | Callable[[Inputs], dict] = field(default_factory=dict)
    cv2: Callable[[Inputs], Any] | None = None
    pil: Callable[[Inputs], Any] | None = None
    sk: Callable[[Inputs], Any] | None = None
    note: str = ""
    atelier: Callable[[Inputs], Any] | None = None  # extra rows only


BILINEAR, BICUBIC = Image.Resampling.BILINEAR, Image.Resampling.BICUBIC

OP_CASES: dict[str, Case] = {
    # ---- color
    "autocontrast": Case(
        {"cutoff": 1.0},
        cv2=lambda d: _raw_autocontrast(d.img, 1.0),
        pil=lambda d: ImageOps.autocontrast(d.pil, cutoff=1),
        sk=lambda d: _sk_autocontrast(d.img, 1.0),
        note="raw hand-written (calcHist + LUT); skimage: percentile recipe, joint channels",
    ),
    "brightness": Case(
        {"amount": 0.1},
        cv2=lambda d: cv2.convertScaleAbs(d.img, alpha=1.0, beta=25.5),
        pil=lambda d: d.pil.point(_pil_table(lambda i: i + 25.5)),
        note="Pillow: point() LUT (ImageEnhance.Brightness multiplies instead)",
    ),
    "clahe": Case(
        {"clip_limit": 2.0, "tile_grid": (8, 8)},
        cv2=lambda d: _raw_on_channel(
            d.img, cv2.COLOR_RGB2Lab, cv2.COLOR_Lab2RGB, cv2.createCLAHE(2.0, (8, 8)).apply
        ),
        sk=lambda d: exposure.equalize_adapthist(
            d.img, kernel_size=(d.h // 8, d.w // 8), clip_limit=0.01
        ),
        note="skimage: on HSV value, 8x8 tiles, clip_limit=0.01 (not the same scale)",
    ),
    "contrast": Case(
        {"factor": 1.5},
        cv2=lambda d: _raw_contrast(d.img, 1.5),
        pil=lambda d: ImageEnhance.Contrast(d.pil).enhance(1.5),
        note="raw: mean of grey + addWeighted",
    ),
    "equalize": Case(
        {},
        cv2=lambda d: _raw_on_channel(
            d.img, cv2.COLOR_RGB2YCrCb, cv2.COLOR_YCrCb2RGB, cv2.equalizeHist
        ),
        pil=lambda d: ImageOps.equalize(d.pil),
        sk=lambda d: exposure.equalize_hist(d.img),
        note="Pillow: per RGB channel; skimage: one histogram of all values, float64 out",
    ),
    "gamma": Case(
        {"gamma": 2.2},
        cv2=lambda d: _raw_gamma(d.img, 2.2),
        pil=lambda d: d.pil.point(_pil_table(lambda i: 255 * (i / 255) ** 2.2)),
        sk=lambda d: exposure.adjust_gamma(d.img, 2.2),
        note="raw: 256-entry table + cv2.LUT; Pillow: point() table",
    ),
    "grayscale": Case(
        {},
        cv2=lambda d: cv2.cvtColor(d.img, cv2.COLOR_RGB2GRAY),
        pil=lambda d: d.pil.convert("L"),
        sk=lambda d: skcolor.rgb2gray(d.img),
        note="skimage: BT.709 weights, float64 out",
    ),
    "hue": Case(
        {"shift": 30.0},
        cv2=lambda d: _raw_hue(d.img, 30.0),
        pil=lambda d: _pil_hue(d.pil, 30.0),
        sk=lambda d: _sk_hue(d.img, 30.0),
        note="raw: HSV_FULL, add to H; Pillow: HSV split/point/merge; skimage: float HSV",
    ),
    "match_histogram": Case(
        lambda d: {"reference": d.ref},
        cv2=lambda d: _raw_match_histogram(d.img, d.ref),
        sk=lambda d: exposure.match_histograms(d.img, d.ref, channel_axis=-1),
        note="reference: coffee 600x400; raw hand-written (calcHist + interp + LUT)",
    ),
    "saturation": Case(
        {"factor": 1.5},
        cv2=lambda d: _raw_saturation(d.img, 1.5),
        pil=lambda d: ImageEnhance.Color(d.pil).enhance(1.5),
        note="raw: grey via cvtColor + addWeighted",
    ),
    "white_balance": Case(
        {"method": "gray_world"},
        cv2=lambda d: _raw_gray_world(d.img),
        note="raw hand-written: cv2.mean gains + cv2.transform; no Pillow/skimage op",
    ),
    # ---- composite
    "alpha_blend": Case(
        lambda d: {"overlay": d.other, "mask": d.mask},
        cv2=lambda d: _raw_alpha_blend(d.img, d.other, d.mask),
        pil=lambda d: Image.composite(d.pil_other, d.pil, d.pil_mask),
        note="soft mask; raw: mask to float + cv2.blendLinear",
    ),
    "blend": Case(
        lambda d: {"images": (d.other, d.third)},
        cv2=lambda d: _raw_blend3(d.img, d.other, d.third),
        pil=lambda d: Image.blend(Image.blend(d.pil, d.pil_other, 0.5), d.pil_third, 1 / 3),
        note="3 images, equal weights; Pillow: two blends (rounds in between)",
    ),
    "pyramid_blend": Case(
        lambda d: {"other": d.other, "mask": d.mask, "levels": 5},
        cv2=lambda d: _raw_pyramid_blend(d.img, d.other, d.mask, 5),
        note="raw hand-written (OpenCV tutorial recipe, float32, 3-channel mask)",
    ),
    "seamless_clone": Case(
        lambda d: {"source": d.clone_src, "mask": d.clone_mask},
        cv2=lambda d: cv2.seamlessClone(
            d.clone_src, d.img, d.clone_mask.copy(), (d.w // 2, d.h // 2), cv2.NORMAL_CLONE
        ),
        note="source = image/4; raw passes a mask copy (OpenCV erodes the mask in place)",
    ),
    # ---- filters
    "bilateral": Case(
        {"diameter": 9, "sigma_color": 75.0, "sigma_space": 75.0},
        cv2=lambda d: cv2.bilateralFilter(d.img, 9, 75, 75),
        sk=lambda d: restoration.denoise_bilateral(
            d.img, win_size=9, sigma_color=75 / 255, sigma_spatial=75, channel_axis=-1
        ),
        note="skimage: float64 out",
    ),
    "gaussian_blur": Case(
        {"sigma": 2.0},
        cv2=lambda d: cv2.GaussianBlur(d.img, (0, 0), 2),
        pil=lambda d: d.pil.filter(ImageFilter.GaussianBlur(2)),
        sk=lambda d: filters.gaussian(d.img, sigma=2, channel_axis=-1),
        note="Pillow: 3 box blurs approximating sigma 2; skimage: 4-sigma kernel, float64",
    ),
    "laplacian_sharpen": Case(
        {"strength": 1.0, "ksize": 1},
        cv2=lambda d: cv2.filter2D(
            d.img, -1, np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)
        ),
        pil=lambda d: d.pil.filter(ImageFilter.Kernel((3, 3), [0, -1, 0, -1, 5, -1, 0, -1, 0])),
        note="the 3x3 sharpening kernel; skimage has no sharpen-by-Laplacian",
    ),
    "median": Case(
        {"ksize": 5},
        cv2=lambda d: cv2.medianBlur(d.img, 5),
        pil=lambda d: d.pil.filter(ImageFilter.MedianFilter(5)),
        sk=lambda d: filters.median(d.img, footprint=np.ones((5, 5, 1), bool)),
    ),
    "nlm_denoise": Case(
        {"h": 10.0, "template_size": 7, "search_size": 21},
        cv2=lambda d: cv2.fastNlMeansDenoisingColored(d.img, None, 10, 10, 7, 21),
        sk=lambda d: restoration.denoise_nl_means(
            d.img, h=10 / 255, patch_size=7, patch_distance=10, channel_axis=-1
        ),
        note="raw fed RGB as is (atelier swaps to BGR); skimage fast mode, h=10/255",
    ),
    "unsharp": Case(
        {"radius": 2.0, "amount": 1.0},
        cv2=lambda d: cv2.addWeighted(d.img, 2.0, cv2.GaussianBlur(d.img, (0, 0), 2), -1.0, 0),
        pil=lambda d: d.pil.filter(ImageFilter.UnsharpMask(radius=2, percent=100, threshold=0)),
        sk=lambda d: filters.unsharp_mask(d.img, radius=2, amount=1, channel_axis=-1),
        note="skimage: float64 out",
    ),
    # ---- geometry
    "crop": Case(
        lambda d: {"x": d.w // 4, "y": d.h // 4, "width": d.w // 2, "height": d.h // 2},
        cv2=lambda d: d.img[d.h // 4 : d.h * 3 // 4, d.w // 4 : d.w * 3 // 4].copy(),
        pil=lambda d: d.pil.crop((d.w // 4, d.h // 4, d.w * 3 // 4, d.h * 3 // 4)),
        sk=lambda d: util.crop(
            d.img, ((d.h // 4, d.h - d.h * 3 // 4), (d.w // 4, d.w - d.w * 3 // 4), (0, 0)),
            copy=True,
        ),
        note="central half; raw = numpy slice + copy (OpenCV has no crop)",
    ),
    "flip": Case(
        {"axis": "horizontal"},
        cv2=lambda d: cv2.flip(d.img, 1),
        pil=lambda d: d.pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        note="skimage has no flip (numpy views)",
    ),
    "pad": Case(
        {"top": 64, "bottom": 64, "left": 64, "right": 64, "mode": "constant"},
        cv2=lambda d: cv2.copyMakeBorder(d.img, 64, 64, 64, 64, cv2.BORDER_CONSTANT, value=0),
        pil=lambda d: ImageOps.expand(d.pil, border=64, fill=0),
        note="64 px black border; skimage has no pad (numpy.pad)",
    ),
    "resize": Case(
        {"scale": 0.5},
        cv2=lambda d: cv2.resize(d.img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
        pil=lambda d: d.pil.resize((d.w // 2, d.h // 2), Image.Resampling.BOX),
        sk=lambda d: transform.downscale_local_mean(d.img, (2, 2, 1)),
        note="halve (method auto = area); Pillow BOX; skimage 2x2 mean, float64",
    ),
    "rotate": Case(
        {"angle": 30.0},
        cv2=lambda d: _raw_rotate(d.img, 30.0),
        pil=lambda d: d.pil.rotate(30, resample=BILINEAR, expand=True),
        sk=lambda d: transform.rotate(d.img, 30, resize=True, order=1),
        note="30 deg bilinear, canvas grown; skimage float64",
    ),
}

EXTRA_CASES: dict[str, Case] = {
    # second settings of central ops
    "alpha_blend alpha=0.3": Case(
        atelier=lambda d: at_ops.alpha_blend(d.img, d.other, alpha=0.3),
        cv2=lambda d: cv2.addWeighted(d.img, 0.7, d.other, 0.3, 0),
        pil=lambda d: Image.blend(d.pil, d.pil_other, 0.3),
        note="constant opacity",
    ),
    "resize x1.5 bicubic": Case(
        atelier=lambda d: at_ops.resize(d.img, width=d.w * 3 // 2, method="bicubic"),
        cv2=lambda d: cv2.resize(
            d.img, (d.w * 3 // 2, d.h * 3 // 2), interpolation=cv2.INTER_CUBIC
        ),
        pil=lambda d: d.pil.resize((d.w * 3 // 2, d.h * 3 // 2), BICUBIC),
        sk=lambda d: transform.resize(d.img, (d.h * 3 // 2, d.w * 3 // 2), order=3),
        note="skimage order=3 is a spline, float64",
    ),
    "rotate angle=90": Case(
        atelier=lambda d: at_ops.rotate(d.img, angle=90.0),
        cv2=lambda d: cv2.rotate(d.img, cv2.ROTATE_90_COUNTERCLOCKWISE),
        pil=lambda d: d.pil.transpose(Image.Transpose.ROTATE_90),
        note="lossless quarter turn; skimage: only numpy.rot90 (a view)",
    ),
    # colour-space conversions (float32 natural units out; back to uint8 images)
    "convert_color rgb->hsv": Case(
        atelier=lambda d: at_ops.convert_color(d.img, "rgb", "hsv"),
        cv2=lambda d: cv2.cvtColor(_to_float32(d.img), cv2.COLOR_RGB2HSV),
        pil=lambda d: d.pil.convert("HSV"),
        sk=lambda d: skcolor.rgb2hsv(d.img),
        note="Pillow: 8-bit HSV; skimage: H in [0, 1], float64",
    ),
    "convert_color hsv->rgb": Case(
        atelier=lambda d: at_ops.convert_color(d.hsv, "hsv", "rgb", dtype=np.uint8),
        cv2=lambda d: _to_u8(cv2.cvtColor(d.hsv, cv2.COLOR_HSV2RGB)),
        pil=lambda d: d.pil_hsv.convert("RGB"),
        sk=lambda d: skcolor.hsv2rgb(d.sk_hsv),
        note="to uint8 (skimage: float64); raw: cvtColor + convertScaleAbs",
    ),
    "convert_color rgb->lab": Case(
        atelier=lambda d: at_ops.convert_color(d.img, "rgb", "lab"),
        cv2=lambda d: cv2.cvtColor(_to_float32(d.img), cv2.COLOR_RGB2Lab),
        pil=lambda d: ImageCms.applyTransform(d.pil, _PIL_TO_LAB),
        sk=lambda d: skcolor.rgb2lab(d.img),
        note="Pillow: ImageCms, 8-bit LAB; skimage float64",
    ),
    "convert_color lab->rgb": Case(
        atelier=lambda d: at_ops.convert_color(d.lab, "lab", "rgb", dtype=np.uint8),
        cv2=lambda d: _to_u8(cv2.cvtColor(d.lab, cv2.COLOR_Lab2RGB)),
        pil=lambda d: ImageCms.applyTransform(d.pil_lab, _PIL_FROM_LAB),
        sk=lambda d: skcolor.lab2rgb(d.lab),
        note="to uint8 (skimage: float64); raw: cvtColor + convertScaleAbs",
    ),
    "convert_color rgb->ycbcr": Case(
        atelier=lambda d: at_ops.convert_color(d.img, "rgb", "ycbcr"),
        cv2=lambda d: cv2.transform(d.img.astype(np.float32), _YCC_FWD),
        pil=lambda d: d.pil.convert("YCbCr"),
        sk=lambda d: skcolor.rgb2ycbcr(d.img),
        note="BT.601 studio swing; Pillow: full-range JPEG YCbCr, 8-bit",
    ),
    "convert_color ycbcr->rgb": Case(
        atelier=lambda d: at_ops.convert_color(d.ycc, "ycbcr", "rgb", dtype=np.uint8),
        cv2=lambda d: _to_u8(cv2.transform(d.ycc, _YCC_INV)),
        pil=lambda d: d.pil_ycc.convert("RGB"),
        sk=lambda d: skcolor.ycbcr2rgb(d.ycc),
        note="to uint8 (skimage: float64); raw: cv2.transform + convertScaleAbs",
    ),
    # fidelity metrics
    "metric mse": Case(
        atelier=lambda d: at_metrics.mse(d.img, d.blurred),
        cv2=lambda d: cv2.norm(d.img, d.blurred, cv2.NORM_L2SQR) / d.img.size,
        sk=lambda d: skmetrics.mean_squared_error(d.img, d.blurred),
        note="image vs its blur",
    ),
    "metric psnr": Case(
        atelier=lambda d: at_metrics.psnr(d.img, d.blurred),
        cv2=lambda d: cv2.PSNR(d.img, d.blurred),
        sk=lambda d: skmetrics.peak_signal_noise_ratio(d.img, d.blurred, data_range=255),
    ),
    "metric ssim": Case(
        atelier=lambda d: at_metrics.ssim(d.img, d.blurred),
        cv2=lambda d: _cv_ssim(d.img, d.blurred),
        sk=lambda d: _sk_ssim(d.img, d.blurred),
        note="raw: OpenCV tutorial recipe in float32 (atelier float64, border cropped)",
    ),
}


# --------------------------------------------------------------------------- timing


@dataclass
class Settings:
    budget_s: float = 1.0  # timed seconds aimed at per candidate
    run_s: float = 0.02  # calls faster than this are repeated within one run
    min_runs: int = 3
    max_runs: int = 50
    slow_s: float = 20.0  # single runs longer than this go to SMALL
    batch_images: int = 200
    batch_repeats: int = 2


def _clock(fn: Callable[[], Any], calls: int = 1) -> float:
    """Seconds per call of ``fn`` over ``calls`` back-to-back calls.

    Each output is freed when the next call returns, as in a pipeline; freeing the last one
    is not timed.
    """
    start = time.perf_counter()
    for _ in range(calls):
        result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed / calls


def measure(fns: dict[str, Callable[[], Any]], s: Settings) -> tuple[dict, dict, dict]:
    """Warm up every candidate, then time them in interleaved rounds.

    Returns (seconds per call of every run, calls per run, warm-up outputs of atelier and
    cv2). A second call calibrates each candidate: calls faster than ``s.run_s`` are repeated
    back to back within one run (timeit-style, so a run lasts about ``s.run_s``; the
    calibration call is then discarded, else it is the first run), and the number of runs is
    ``s.budget_s`` / run time, clamped to [min_runs, max_runs].
    """
    outputs = {k: f() for k, f in fns.items()}
    outputs = {k: v for k, v in outputs.items() if k in ("atelier", "cv2")}
    calls, want = {}, {}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for k, f in fns.items():
        once = max(_clock(f), 1e-7)
        calls[k] = int(min(1000, max(1, np.ceil(s.run_s / once))))
        if calls[k] == 1:  # a slow call: the calibration is a valid first run
            times[k].append(once)
        runs = round(s.budget_s / (calls[k] * once))
        want[k] = int(min(s.max_runs, max(s.min_runs, runs)))
    order, rounds = list(fns), 0
    while any(len(times[k]) < want[k] for k in fns):
        # Rotate the order every round, so no candidate always runs right after the same
        # one (which leaves the caches and the allocator warm or cold for it).
        for k in order[rounds % len(order) :] + order[: rounds % len(order)]:
            if len(times[k]) < want[k]:
                times[k].append(_clock(fns[k], calls[k]))
        rounds += 1
    return times, calls, outputs


def _diff(a: Any, b: Any) -> float | str | None:
    """Mean absolute difference of two results (arrays of one shape, or numbers)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape:
            return f"shape {a.shape} vs {b.shape}"
        return float(cv2.norm(a.astype(np.float32), b.astype(np.float32), cv2.NORM_L1) / a.size)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b))
    return None


def _describe(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return f"<image {value.shape[1]}x{value.shape[0]}>"
    if isinstance(value, tuple):
        return [_describe(v) for v in value]
    return value


@dataclass
class Row:
    name: str
    kind: str  # "op" or "extra"
    category: str
    note: str = ""
    params: dict = field(default_factory=dict)
    ms: dict = field(default_factory=dict)  # "cand@size" -> median ms
    runs: dict = field(default_factory=dict)  # "cand@size" -> ms per call of every run
    calls_per_run: dict = field(default_factory=dict)  # "cand@size" -> calls timed per run
    size: dict = field(default_factory=dict)  # cand -> size it was measured at (peers, raw)
    diff: Any = None
    overhead: float | None = None
    overhead_us: float | None = None
    vs_peer: float | None = None
    fastest_peer: str | None = None
    status: str = "pass"
    misses: list = field(default_factory=list)

    def at(self, cand: str, size: int) -> float | None:
        return self.ms.get(f"{cand}@{size}")


def bench_row(name: str, kind: str, category: str, case: Case, inputs: dict, s: Settings) -> Row:
    """Probe, measure and rate one case."""
    row = Row(name, kind, category, note=case.note)
    spec = None if kind == "extra" else atelier.get_op(name)

    def bind(cand: str, d: Inputs) -> Callable[[], Any]:
        if cand == "atelier":
            if case.atelier is not None:
                return lambda: case.atelier(d)
            kwargs = case.kwargs(d) if callable(case.kwargs) else dict(case.kwargs)
            func, img = spec.func, d.img
            return lambda: func(img, **kwargs)
        fn = getattr(case, cand)
        return lambda: fn(d)

    if spec is not None:
        kw = case.kwargs(inputs[SIZE]) if callable(case.kwargs) else case.kwargs
        row.params = {k: _describe(v) for k, v in kw.items()}
    cands = ["atelier"] + [c for c in ("cv2", *PEERS) if getattr(case, c) is not None]

    # Estimate each candidate's full-size time from the best of two runs at PROBE size.
    scale = (SIZE / PROBE) ** 2
    slow = set()
    for cand in cands:
        fn = bind(cand, inputs[PROBE])
        if min(_clock(fn), _clock(fn)) * scale > s.slow_s:
            slow.add(cand)
    if "atelier" in slow or "cv2" in slow:  # the row's own times must stay comparable
        slow |= {"atelier", "cv2"} & set(cands)
    groups = {SIZE: [c for c in cands if c not in slow], SMALL: sorted(slow)}
    if slow and "atelier" not in slow:
        groups[SMALL].insert(0, "atelier")

    for size, group in groups.items():
        if not group:
            continue
        d = inputs[size]
        times, calls, outputs = measure({c: bind(c, d) for c in group}, s)
        for cand, ts in times.items():
            row.ms[f"{cand}@{size}"] = 1e3 * statistics.median(ts)
            row.runs[f"{cand}@{size}"] = [round(1e3 * t, 4) for t in ts]
            row.calls_per_run[f"{cand}@{size}"] = calls[cand]
            if cand != "atelier" or size == SIZE or "atelier" in slow:
                row.size[cand] = size
        if "cv2" in outputs:
            row.diff = _diff(outputs["atelier"], outputs["cv2"])
    rate(row)
    return row


def rate(row: Row) -> None:
    """Ratios against raw OpenCV and the fastest peer (each at matching size), and the verdict."""
    if "cv2" in row.size:
        size = row.size["cv2"]
        ours, raw = row.at("atelier", size), row.at("cv2", size)
        row.overhead = ours / raw
        row.overhead_us = 1e3 * (ours - raw)
        if row.overhead > OVERHEAD_TARGET:
            tiny = raw < TINY_MS and row.overhead_us < TINY_US
            row.misses.append("overhead (tiny)" if tiny else "overhead")
    worst = None
    for peer in PEERS:
        if peer in row.size:
            size = row.size[peer]
            ratio = row.at("atelier", size) / row.at(peer, size)
            if worst is None or ratio > worst[0]:
                worst = (ratio, peer)
    if worst is not None:
        row.vs_peer, row.fastest_peer = worst
        if row.vs_peer > PEER_TARGET:
            row.misses.append("peer")
    if row.misses:
        row.status = "MISS " + "+".join(row.misses)


# --------------------------------------------------------------------------- batch


def make_photos(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` different 1024 x 768 JPEGs cut from scikit-image's bundled photos."""
    rng = np.random.default_rng(seed)
    sources = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket()]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = sources[i % len(sources)]
        h, w = src.shape[:2]
        ch = int(rng.uniform(0.6, 1.0) * min(h, w * 3 / 4))
        cw = ch * 4 // 3
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = src[y : y + ch, x : x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        photo = cv2.resize(np.ascontiguousarray(crop), (1024, 768), interpolation=cv2.INTER_CUBIC)
        Image.fromarray(photo).save(folder / f"photo_{i:03d}.jpg", quality=90)


def _burn(n: int) -> int:
    """Pure-Python CPU work for the parallel-capacity control."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def parallel_control(n: int = 6_000_000) -> float:
    """Speedup of two processes over one running the same two CPU-bound jobs (2 when two
    cores are free, 1 when only one is)."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    serial = _clock(lambda: [_burn(n), _burn(n)])
    with ctx.Pool(2) as pool:
        pool.map(_burn, [1, 1])  # start the workers first
        parallel = _clock(lambda: pool.map(_burn, [n, n], chunksize=1))
    return serial / parallel


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("atelier")
    return [str(script)] if script.exists() else [sys.executable, "-m", "atelier"]


def bench_batch(s: Settings) -> dict:
    """Time ``atelier edit`` over a folder with -j 1 and -j 2 (alternating, best kept)."""
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
        src = Path(tmp) / "photos"
        make_photos(src, s.batch_images)
        startup = min(
            _clock(lambda: subprocess.run([*_cli(), "--help"], capture_output=True, check=True))
            for _ in range(3)
        )
        control = [parallel_control()]
        load = [os.getloadavg()[0]]
        times: dict[int, list[float]] = {1: [], 2: []}
        for rep in range(s.batch_repeats):
            for jobs in (1, 2):
                out = Path(tmp) / f"out-j{jobs}-{rep}"
                cmd = [*_cli(), "edit", str(src), "-o", str(out), PIPELINE, "-j", str(jobs)]
                start = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True)
                times[jobs].append(time.perf_counter() - start)
                written = len(list(out.glob("*.jpg")))
                if done.returncode != 0 or written != s.batch_images:
                    raise RuntimeError(
                        f"{' '.join(cmd)} failed (exit {done.returncode}, {written} files):"
                        f"\n{done.stderr[-2000:]}"
                    )
                shutil.rmtree(out)
        control.append(parallel_control())
        load.append(os.getloadavg()[0])
    best = {j: min(t) for j, t in times.items()}
    return {
        "images": s.batch_images,
        "size": "1024x768 JPEG q90",
        "pipeline": PIPELINE,
        "runs_s": {f"j{j}": [round(t, 3) for t in ts] for j, ts in times.items()},
        "best_s": {f"j{j}": round(t, 3) for j, t in best.items()},
        "images_per_s": {f"j{j}": round(s.batch_images / t, 2) for j, t in best.items()},
        "cli_startup_s": round(startup, 3),
        "speedup": round(best[1] / best[2], 3),
        "machine_control_speedup": [round(c, 2) for c in control],  # before, after
        "load_avg_1min": [round(x, 2) for x in load],  # before, after
        "target": SPEEDUP_TARGET,
        "status": "pass" if best[1] / best[2] >= SPEEDUP_TARGET else "MISS",
    }


# --------------------------------------------------------------------------- report


def _fmt_ms(row: Row, cand: str) -> str:
    size = row.size.get(cand)
    if size is None:
        return "-"
    value = row.at(cand, size)
    text = f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return text if size == SIZE else f"{text}@{size}"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(title: str, rows: list[Row]) -> None:
    head = (
        f"{'op':26} {'atelier ms':>11} {'raw cv2 ms':>11} {'Pillow ms':>11} "
        f"{'skimage ms':>13} {'overhead':>8} {'+us':>8} {'vs peer':>11} {'diff':>7}  "
        f"{'status':22} note"
    )
    print(f"\n{title}\n{head}\n{'-' * len(head)}")
    for r in rows:
        if r.status == "no case":
            print(f"{r.name:26} {'no case':>11}")
            continue
        peer = f"{r.vs_peer:.2f} {r.fastest_peer}" if r.vs_peer is not None else "-"
        diff = r.diff if isinstance(r.diff, str) or r.diff is None else f"{r.diff:.2f}"
        note = r.note
        if any(r.size.get(c) == SMALL for c in ("cv2", *PEERS)):
            small = f"at {SMALL}x{SMALL}: atelier {r.at('atelier', SMALL):.1f} ms"
            note = f"{small}; {note}" if note else small
        print(
            f"{r.name:26} {_fmt_ms(r, 'atelier'):>11} {_fmt_ms(r, 'cv2'):>11} "
            f"{_fmt_ms(r, 'pil'):>11} {_fmt_ms(r, 'sk'):>13} {_fmt(r.overhead, '.2f'):>8} "
            f"{_fmt(r.overhead_us, '+.0f'):>8} {peer:>11} {diff or '-':>7}  {r.status:22} {note}"
        )


def print_misses(rows: list[Row], batch: dict | None) -> None:
    print("\nMisses")
    lines = []
    for r in rows:
        if "overhead" in r.misses or "overhead (tiny)" in r.misses:
            lines.append(
                f"  {r.name}: overhead {r.overhead:.2f} (target <= {OVERHEAD_TARGET:.2f}), "
                f"{r.overhead_us:+.0f} us per call"
                + (" -- tiny op, fixed Python cost" if "overhead (tiny)" in r.misses else "")
            )
        if "peer" in r.misses:
            name = COLUMNS[r.fastest_peer]
            lines.append(
                f"  {r.name}: {r.vs_peer:.2f}x the time of {name} (target <= {PEER_TARGET:.2f})"
            )
    if batch is not None and batch["status"] != "pass":
        lines.append(
            f"  atelier edit: speedup {batch['speedup']:.2f} with 2 workers "
            f"(target >= {SPEEDUP_TARGET})"
        )
    no_case = [r.name for r in rows if r.status == "no case"]
    if no_case:
        lines.append(f"  no case defined (not measured): {', '.join(no_case)}")
    print("\n".join(lines) if lines else "  none")


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cv2_threads": cv2.getNumThreads(),
        "load_avg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "numpy": np.__version__,
            "cv2": cv2.__version__,
            "PIL": PIL.__version__,
            "skimage": skimage.__version__,
            "scipy": scipy.__version__,
            "atelier": atelier.__version__,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few repeats, 40 images")
    parser.add_argument(
        "--json", type=Path, default=Path(__file__).parent / "results" / "ops_speed.json"
    )
    parser.add_argument(
        "--only", default="", help='comma-separated row names to run ("batch" for the folder run)'
    )
    parser.add_argument("--skip-batch", action="store_true", help="skip the `atelier edit` part")
    args = parser.parse_args(argv)
    s = Settings()
    if args.quick:
        s = Settings(budget_s=0.1, run_s=0.005, min_runs=1, max_runs=3, slow_s=2.0,
                     batch_images=40, batch_repeats=1)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    warnings.filterwarnings("ignore", module="skimage")
    cv2.setNumThreads(-1)  # OpenCV's default (all cores)
    started = time.perf_counter()
    machine = machine_info()

    print(
        f"ops_speed: {SIZE}x{SIZE} RGB uint8 (astronaut, INTER_CUBIC), "
        f"{_dt.datetime.now().isoformat(timespec='seconds')}"
    )
    print(
        f"machine: {machine['cpu']}, {machine['cpu_count']} CPUs; OpenCV threads "
        f"{machine['cv2_threads']} (Pillow and most of scikit-image use 1); load average "
        f"{machine['load_avg_at_start']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()))
    print(
        "Pillow is timed on a PIL image prepared beforehand (numpy<->PIL conversion not "
        "timed, its most favourable case); scikit-image on the same uint8 array (its float "
        "output is not converted back). Median of interleaved runs after one warm-up."
    )

    full = make_inputs(SIZE)
    inputs = {SIZE: full, SMALL: make_inputs(SMALL, full), PROBE: make_inputs(PROBE, full)}
    rows: list[Row] = []
    for spec in list_ops():
        if only and spec.name not in only:
            continue
        case = OP_CASES.get(spec.name)
        if case is None:
            rows.append(Row(spec.name, "op", spec.category, status="no case"))
            continue
        rows.append(bench_row(spec.name, "op", spec.category, case, inputs, s))
        print(f"  measured {spec.name}", file=sys.stderr, flush=True)
    registered = {spec.name for spec in list_ops()}
    for name in sorted(set(OP_CASES) - registered):
        print(f"warning: case {name!r} matches no registered op", file=sys.stderr)
    extras = []
    for name, case in EXTRA_CASES.items():
        if only and name not in only:
            continue
        extras.append(bench_row(name, "extra", "extra", case, inputs, s))
        print(f"  measured {name}", file=sys.stderr, flush=True)

    print_table(f"Registered ops ({len(rows)})", rows)
    print_table("Extra rows: second settings, colour conversions, fidelity metrics", extras)

    batch = None
    if not args.skip_batch and (not only or "batch" in only):
        batch = bench_batch(s)
        print(
            f"\natelier edit over {batch['images']} x {batch['size']}: \"{PIPELINE}\"\n"
            f"  -j 1: best {batch['best_s']['j1']:.2f} s ({batch['images_per_s']['j1']:.1f} "
            f"images/s), runs {batch['runs_s']['j1']}\n"
            f"  -j 2: best {batch['best_s']['j2']:.2f} s ({batch['images_per_s']['j2']:.1f} "
            f"images/s), runs {batch['runs_s']['j2']}\n"
            f"  speedup {batch['speedup']:.2f} (target >= {SPEEDUP_TARGET}): {batch['status']}"
            f"; CLI start-up (atelier --help) {batch['cli_startup_s']:.2f} s is in both\n"
            f"  machine control (2 CPU-bound processes vs 1, ~2.0 when 2 cores are free): "
            f"{batch['machine_control_speedup'][0]:.2f} before, "
            f"{batch['machine_control_speedup'][1]:.2f} after; load average "
            f"{batch['load_avg_1min'][0]:.2f} -> {batch['load_avg_1min'][1]:.2f}"
        )

    print_misses(rows + extras, batch)
    runtime = time.perf_counter() - started
    print(f"\ntotal runtime {runtime:.0f} s")

    result = {
        "benchmark": "ops_speed",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "quick": args.quick,
        "image": f"{SIZE}x{SIZE} RGB uint8, skimage astronaut resized with INTER_CUBIC",
        "machine": {**machine, "load_avg_at_end": list(os.getloadavg())},
        "settings": {
            **vars(s), "small_size": SMALL, "probe_size": PROBE,
            "overhead_target": OVERHEAD_TARGET, "peer_target": PEER_TARGET,
        },
        "rows": [vars(r) for r in rows + extras],
        "batch": batch,
        "runtime_s": round(runtime, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, default=str))
    print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
