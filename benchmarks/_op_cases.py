"""The rows of the ops benchmark: for each op, atelier's parameters and the peers' equivalents.

``OP_CASES`` has one entry per registered op (by name; an op without one is reported as
"no case", never skipped silently); ``EXTRA_CASES`` adds second settings of central ops,
colour-space conversions and fidelity metrics. Every call is a function of the ``Inputs``
(``d.img`` the RGB uint8 photo, ``d.pil`` the same as a PIL image, ...), so one case runs at
any size. The note says where the peers' parameters or conventions cannot match exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageEnhance, ImageFilter, ImageOps
from skimage import color as skcolor
from skimage import exposure, filters, restoration, transform, util
from skimage import metrics as skmetrics

from atelier import metrics as at_metrics
from atelier import ops as at_ops

from _inputs import PIL_FROM_LAB, PIL_TO_LAB, Inputs
from _recipes import (
    YCC_FWD,
    YCC_INV,
    cv_ssim,
    pil_hue,
    pil_table,
    raw_alpha_blend,
    raw_autocontrast,
    raw_blend3,
    raw_contrast,
    raw_gamma,
    raw_gray_world,
    raw_hue,
    raw_match_histogram,
    raw_on_channel,
    raw_pyramid_blend,
    raw_rotate,
    raw_saturation,
    sk_autocontrast,
    sk_hue,
    sk_ssim,
    to_float32,
    to_u8,
)


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


def _enhance(raw: Callable, enhancer: type, note: str) -> Case:
    """contrast, saturation: factor 1.5, a raw recipe and a Pillow ``ImageEnhance`` class."""
    return Case(
        {"factor": 1.5},
        cv2=lambda d: raw(d.img, 1.5),
        pil=lambda d: enhancer(d.pil).enhance(1.5),
        note=note,
    )


OP_CASES: dict[str, Case] = {
    # ---- color
    "autocontrast": Case(
        {"cutoff": 1.0},
        cv2=lambda d: raw_autocontrast(d.img, 1.0),
        pil=lambda d: ImageOps.autocontrast(d.pil, cutoff=1),
        sk=lambda d: sk_autocontrast(d.img, 1.0),
        note="raw hand-written (calcHist + LUT); skimage: percentile recipe, joint channels",
    ),
    "brightness": Case(
        {"amount": 0.1},
        cv2=lambda d: cv2.convertScaleAbs(d.img, alpha=1.0, beta=25.5),
        pil=lambda d: d.pil.point(pil_table(lambda i: i + 25.5)),
        note="Pillow: point() LUT (ImageEnhance.Brightness multiplies instead)",
    ),
    "clahe": Case(
        {"clip_limit": 2.0, "tile_grid": (8, 8)},
        cv2=lambda d: raw_on_channel(
            d.img, cv2.COLOR_RGB2Lab, cv2.COLOR_Lab2RGB, cv2.createCLAHE(2.0, (8, 8)).apply
        ),
        sk=lambda d: exposure.equalize_adapthist(
            d.img, kernel_size=(d.h // 8, d.w // 8), clip_limit=0.01
        ),
        note="skimage: on HSV value, 8x8 tiles, clip_limit=0.01 (not the same scale)",
    ),
    "contrast": _enhance(raw_contrast, ImageEnhance.Contrast, "raw: mean of grey + addWeighted"),
    "equalize": Case(
        {},
        cv2=lambda d: raw_on_channel(
            d.img, cv2.COLOR_RGB2YCrCb, cv2.COLOR_YCrCb2RGB, cv2.equalizeHist
        ),
        pil=lambda d: ImageOps.equalize(d.pil),
        sk=lambda d: exposure.equalize_hist(d.img),
        note="Pillow: per RGB channel; skimage: one histogram of all values, float64 out",
    ),
    "gamma": Case(
        {"gamma": 2.2},
        cv2=lambda d: raw_gamma(d.img, 2.2),
        pil=lambda d: d.pil.point(pil_table(lambda i: 255 * (i / 255) ** 2.2)),
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
        cv2=lambda d: raw_hue(d.img, 30.0),
        pil=lambda d: pil_hue(d.pil, 30.0),
        sk=lambda d: sk_hue(d.img, 30.0),
        note="raw: HSV_FULL, add to H; Pillow: HSV split/point/merge; skimage: float HSV",
    ),
    "match_histogram": Case(
        lambda d: {"reference": d.ref},
        cv2=lambda d: raw_match_histogram(d.img, d.ref),
        sk=lambda d: exposure.match_histograms(d.img, d.ref, channel_axis=-1),
        note="reference: coffee 600x400; raw hand-written (calcHist + interp + LUT)",
    ),
    "saturation": _enhance(
        raw_saturation, ImageEnhance.Color, "raw: grey via cvtColor + addWeighted"
    ),
    "white_balance": Case(
        {"method": "gray_world"},
        cv2=lambda d: raw_gray_world(d.img),
        note="raw hand-written: cv2.mean gains + cv2.transform; no Pillow/skimage op",
    ),
    # ---- composite
    "alpha_blend": Case(
        lambda d: {"overlay": d.other, "mask": d.mask},
        cv2=lambda d: raw_alpha_blend(d.img, d.other, d.mask),
        pil=lambda d: Image.composite(d.pil_other, d.pil, d.pil_mask),
        note="soft mask; raw: mask to float + cv2.blendLinear",
    ),
    "blend": Case(
        lambda d: {"images": (d.other, d.third)},
        cv2=lambda d: raw_blend3(d.img, d.other, d.third),
        pil=lambda d: Image.blend(Image.blend(d.pil, d.pil_other, 0.5), d.pil_third, 1 / 3),
        note="3 images, equal weights; Pillow: two blends (rounds in between)",
    ),
    "pyramid_blend": Case(
        lambda d: {"other": d.other, "mask": d.mask, "levels": 5},
        cv2=lambda d: raw_pyramid_blend(d.img, d.other, d.mask, 5),
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
        cv2=lambda d: raw_rotate(d.img, 30.0),
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
        cv2=lambda d: cv2.cvtColor(to_float32(d.img), cv2.COLOR_RGB2HSV),
        pil=lambda d: d.pil.convert("HSV"),
        sk=lambda d: skcolor.rgb2hsv(d.img),
        note="Pillow: 8-bit HSV; skimage: H in [0, 1], float64",
    ),
    "convert_color hsv->rgb": Case(
        atelier=lambda d: at_ops.convert_color(d.hsv, "hsv", "rgb", dtype=np.uint8),
        cv2=lambda d: to_u8(cv2.cvtColor(d.hsv, cv2.COLOR_HSV2RGB)),
        pil=lambda d: d.pil_hsv.convert("RGB"),
        sk=lambda d: skcolor.hsv2rgb(d.sk_hsv),
        note="to uint8 (skimage: float64); raw: cvtColor + convertScaleAbs",
    ),
    "convert_color rgb->lab": Case(
        atelier=lambda d: at_ops.convert_color(d.img, "rgb", "lab"),
        cv2=lambda d: cv2.cvtColor(to_float32(d.img), cv2.COLOR_RGB2Lab),
        pil=lambda d: ImageCms.applyTransform(d.pil, PIL_TO_LAB),
        sk=lambda d: skcolor.rgb2lab(d.img),
        note="Pillow: ImageCms, 8-bit LAB; skimage float64",
    ),
    "convert_color lab->rgb": Case(
        atelier=lambda d: at_ops.convert_color(d.lab, "lab", "rgb", dtype=np.uint8),
        cv2=lambda d: to_u8(cv2.cvtColor(d.lab, cv2.COLOR_Lab2RGB)),
        pil=lambda d: ImageCms.applyTransform(d.pil_lab, PIL_FROM_LAB),
        sk=lambda d: skcolor.lab2rgb(d.lab),
        note="to uint8 (skimage: float64); raw: cvtColor + convertScaleAbs",
    ),
    "convert_color rgb->ycbcr": Case(
        atelier=lambda d: at_ops.convert_color(d.img, "rgb", "ycbcr"),
        cv2=lambda d: cv2.transform(d.img.astype(np.float32), YCC_FWD),
        pil=lambda d: d.pil.convert("YCbCr"),
        sk=lambda d: skcolor.rgb2ycbcr(d.img),
        note="BT.601 studio swing; Pillow: full-range JPEG YCbCr, 8-bit",
    ),
    "convert_color ycbcr->rgb": Case(
        atelier=lambda d: at_ops.convert_color(d.ycc, "ycbcr", "rgb", dtype=np.uint8),
        cv2=lambda d: to_u8(cv2.transform(d.ycc, YCC_INV)),
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
        cv2=lambda d: cv_ssim(d.img, d.blurred),
        sk=lambda d: sk_ssim(d.img, d.blurred),
        note="raw: OpenCV tutorial recipe, float32, uncentred (atelier: float32 centred, border cropped as skimage)",
    ),
}
