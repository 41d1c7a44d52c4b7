"""Filters: blur, median, bilateral, sharpening and non-local-means denoising.

Every filter processes all channels (alpha included, unless an op says otherwise), keeps the
input's shape (``H x W``, ``H x W x 1``, RGB, RGBA) and dtype, and runs on OpenCV. On uint8
input OpenCV is called on the uint8 array directly; other dtypes go to OpenCV natively where
it supports them, and through the documented conversion of each op where it does not.

Intensity parameters (``sigma_color``, ``threshold``, ``h``) are given in 8-bit levels
(0-255) for every dtype and scaled for uint16 and float images, so one setting means the same
edit whatever the dtype.

Example
-------
>>> import numpy as np
>>> img = np.zeros((5, 5), np.uint8); img[2, 2] = 255
>>> int(gaussian_blur(img, sigma=1.0)[2, 2]) in (40, 41)  # 255 * 0.159 = 40.6 (8-bit kernel)
True
"""

from __future__ import annotations

from typing import Annotated, Literal

import cv2
import numpy as np

from atelier.errors import InvalidArgument
from atelier.arrays import (
    clip_float,
    from_float,
    is_color,
    max_value,
    merge_alpha,
    split_alpha,
    squeeze_like,
    to_float,
    to_uint8,
)
from atelier.ops.registry import Range, register

__all__ = [
    "bilateral",
    "gaussian_blur",
    "laplacian_sharpen",
    "median",
    "nlm_denoise",
    "unsharp",
]

# Laplacian kernels exactly as cv2.Laplacian builds them (ksize 1 and 3 are fixed 3x3 kernels,
# ksize 5 is the sum of the two separable second-derivative Sobel kernels).
_D2 = np.array([1.0, 0.0, -2.0, 0.0, 1.0])
_SMOOTH = np.array([1.0, 4.0, 6.0, 4.0, 1.0])
_LAPLACIAN_KERNELS = {
    1: np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]),
    3: np.array([[2.0, 0.0, 2.0], [0.0, -8.0, 0.0], [2.0, 0.0, 2.0]]),
    5: np.outer(_SMOOTH, _D2) + np.outer(_D2, _SMOOTH),
}


def _odd(name: str, value: int) -> None:
    if value % 2 == 0:
        raise InvalidArgument(f"parameter {name} must be odd, got {value}; use {value + 1}")


@register("gaussian_blur", category="filters")
def gaussian_blur(
    image: np.ndarray,
    sigma: Annotated[float, Range(0, 200, low_open=True), "standard deviation in pixels"] = 1.0,
    ksize: Annotated[
        int, Range(0, 1001), "kernel size, odd; 0 = from sigma like OpenCV"
    ] = 0,
) -> np.ndarray:
    """Gaussian blur (cv2.GaussianBlur, borders reflected without repeating the edge pixel).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image; all channels (alpha included) are blurred.
    sigma : float
        Standard deviation of the Gaussian in pixels, in (0, 200].
    ksize : int
        Odd kernel width and height. 0 derives it from ``sigma`` as OpenCV does: a radius of
        about 3 sigma for uint8 and 4 sigma for other dtypes.

    Returns
    -------
    ndarray
        Blurred image, same shape and dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> img = np.zeros((5, 5), np.uint8); img[2, 2] = 255
    >>> int(gaussian_blur(img, sigma=1.0, ksize=3)[2, 2])
    52

    Reference
    ---------
    https://docs.opencv.org/4.x/d4/d86/group__imgproc__filter.html (GaussianBlur)
    """
    if ksize != 0:
        _odd("ksize", ksize)
    out = cv2.GaussianBlur(image, (ksize, ksize), sigma)
    return squeeze_like(out, image)


@register("median", category="filters")
def median(
    image: np.ndarray,
    ksize: Annotated[int, Range(3, 255), "odd window size in pixels"] = 3,
) -> np.ndarray:
    """Median filter over a square window (cv2.medianBlur; edge pixels replicated at borders).

    OpenCV filters uint8 with any window, and uint16 / float32 with windows 3 and 5 only. The
    remaining cases (uint16 or float32 with ``ksize`` > 5, and float64) use
    ``skimage.filters.median`` with the same replicated border, which gives the exact median
    at full precision (slower than OpenCV's uint8 path).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image; each channel (alpha included) is filtered on its own.
    ksize : int
        Odd window width and height, in [3, 255].

    Returns
    -------
    ndarray
        Filtered image, same shape and dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> img = np.zeros((5, 5), np.uint8); img[2, 2] = 255  # one hot pixel
    >>> int(median(img, ksize=3).max())
    0

    Reference
    ---------
    https://docs.opencv.org/4.x/d4/d86/group__imgproc__filter.html (medianBlur)
    """
    _odd("ksize", ksize)
    if image.dtype == np.uint8 or (image.dtype in (np.uint16, np.float32) and ksize <= 5):
        return squeeze_like(cv2.medianBlur(image, ksize), image)
    from skimage.filters import median as sk_median

    footprint = np.ones((ksize, ksize) + (1,) * (image.ndim - 2), dtype=bool)
    return sk_median(image, footprint=footprint, mode="nearest")


@register("bilateral", category="filters")
def bilateral(
    image: np.ndarray,
    diameter: Annotated[
        int, Range(0, 64), "neighbourhood diameter in pixels; 0 = from sigma_space"
    ] = 9,
    sigma_color: Annotated[
        float, Range(0, 1000, low_open=True), "colour std-dev in 8-bit levels (0-255)"
    ] = 75.0,
    sigma_space: Annotated[
        float, Range(0, 1000, low_open=True), "spatial std-dev in pixels"
    ] = 75.0,
) -> np.ndarray:
    """Edge-preserving bilateral filter (cv2.bilateralFilter).

    ``sigma_color`` is in 8-bit levels for every dtype: float images are filtered with
    ``sigma_color / 255``. OpenCV supports uint8 and float32 only, so uint16 and float64 are
    filtered as float32 in [0, 1] and converted back. OpenCV takes 1 or 3 channels: RGBA is
    filtered as RGB (colour distance over the three channels) plus alpha as its own grey
    channel.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image.
    diameter : int
        Diameter of the pixel neighbourhood; 0 derives it from ``sigma_space``.
    sigma_color : float
        How different two values may be and still be averaged, in 8-bit levels.
    sigma_space : float
        Spatial standard deviation in pixels.

    Returns
    -------
    ndarray
        Filtered image, same shape and dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> step = np.zeros((8, 8), np.uint8); step[:, 4:] = 200  # a sharp edge survives
    >>> np.array_equal(bilateral(step, diameter=5, sigma_color=20, sigma_space=3), step)
    True

    Reference
    ---------
    C. Tomasi and R. Manduchi, "Bilateral filtering for gray and color images", ICCV 1998.
    """
    if image.dtype == np.uint8:
        work, color_scale = image, 1.0
    else:
        work, color_scale = to_float(image), 1.0 / 255.0
    rgb, alpha = split_alpha(work)
    args = (diameter, sigma_color * color_scale, sigma_space)
    out = cv2.bilateralFilter(rgb, *args)
    if alpha is not None:
        out = merge_alpha(out, cv2.bilateralFilter(np.ascontiguousarray(alpha), *args))
    if out.dtype != image.dtype:
        out = from_float(out, image.dtype)
    return squeeze_like(out, image)


@register("unsharp", category="filters")
def unsharp(
    image: np.ndarray,
    radius: Annotated[
        float, Range(0, 200, low_open=True), "std-dev of the blur in pixels"
    ] = 2.0,
    amount: Annotated[float, Range(0, 20), "strength; 1.5 = Pillow's percent=150"] = 1.0,
    threshold: Annotated[
        float, Range(0, 255), "leave differences up to this many 8-bit levels alone"
    ] = 0.0,
) -> np.ndarray:
    """Unsharp mask: ``image + amount * (image - gaussian_blur(image, radius))``.

    Like Pillow's ``UnsharpMask``, a pixel is only changed where ``|image - blur|`` is greater
    than ``threshold`` (8-bit levels, scaled for uint16 and float), which keeps smooth areas
    and noise from being sharpened. Integer results are rounded and saturated, float results
    clipped to [0, 1]. The blur is ``cv2.GaussianBlur`` with the kernel size derived from
    ``radius``, and the sum is ``cv2.addWeighted``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image; all channels are sharpened.
    radius : float
        Standard deviation of the Gaussian blur in pixels.
    amount : float
        How much of the detail (image minus blur) is added; Pillow's ``percent / 100``.
    threshold : float
        Minimum difference, in 8-bit levels, that gets sharpened.

    Returns
    -------
    ndarray
        Sharpened image, same shape and dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> ramp = np.array([[100, 100, 100, 150, 150, 150]], np.uint8)
    >>> out = unsharp(ramp, radius=1.0, amount=1.0)  # exact: 99.5, 97.1, 85.0, 165.0, 152.9, 150.5
    >>> bool(np.abs(out.astype(int) - [100, 97, 85, 165, 153, 150]).max() <= 1)  # OpenCV rounding
    True

    Reference
    ---------
    https://en.wikipedia.org/wiki/Unsharp_masking#Digital_unsharp_masking
    """
    src = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image  # as OpenCV
    blur = cv2.GaussianBlur(src, (0, 0), radius)
    out = cv2.addWeighted(src, 1.0 + amount, blur, -amount, 0.0)
    if threshold > 0:
        limit = threshold * max_value(image.dtype) / 255.0
        # numpy, not cv2.compare: OpenCV reads a 1x1x3 array as a scalar and refuses it
        np.copyto(out, src, where=cv2.absdiff(src, blur) <= limit)
    return squeeze_like(clip_float(out), image)


@register("laplacian_sharpen", category="filters")
def laplacian_sharpen(
    image: np.ndarray,
    strength: Annotated[float, Range(0, 20), "how much Laplacian to subtract"] = 1.0,
    ksize: Annotated[Literal[1, 3, 5], "Laplacian aperture, as cv2.Laplacian"] = 1,
) -> np.ndarray:
    """Sharpen by subtracting the Laplacian: ``image - strength * Laplacian(image)``.

    The Laplacian is OpenCV's (``cv2.Laplacian`` kernels; ksize 1 is the 4-neighbour
    kernel). Both steps are folded into one ``cv2.filter2D`` kernel, ``identity - strength *
    laplacian``, so uint8 is computed in one pass without a float round trip; integer results
    are rounded and saturated, float results clipped to [0, 1].

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image; all channels are sharpened.
    strength : float
        Weight of the Laplacian; 1 with ksize 1 is the classic ``[0,-1,0; -1,5,-1; 0,-1,0]``.
    ksize : {1, 3, 5}
        Aperture of the Laplacian.

    Returns
    -------
    ndarray
        Sharpened image, same shape and dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> img = np.full((3, 3), 100, np.uint8); img[1, 1] = 110
    >>> int(laplacian_sharpen(img, strength=1.0)[1, 1])  # 110 - (4 * 100 - 4 * 110)
    150

    Reference
    ---------
    https://docs.opencv.org/4.x/d4/d86/group__imgproc__filter.html (Laplacian)
    """
    kernel = -strength * _LAPLACIAN_KERNELS[ksize]
    kernel[kernel.shape[0] // 2, kernel.shape[1] // 2] += 1.0
    if image.dtype != np.float64:
        kernel = kernel.astype(np.float32)
    out = cv2.filter2D(image, -1, kernel)
    return squeeze_like(clip_float(out), image)


@register("nlm_denoise", category="filters")
def nlm_denoise(
    image: np.ndarray,
    h: Annotated[
        float, Range(0, 255, low_open=True), "filter strength in 8-bit levels (about the noise)"
    ] = 10.0,
    template_size: Annotated[int, Range(3, 35), "odd patch size in pixels"] = 7,
    search_size: Annotated[int, Range(3, 101), "odd search window in pixels"] = 21,
) -> np.ndarray:
    """Non-local means denoising (cv2.fastNlMeansDenoising / ...Colored).

    Grey images use ``cv2.fastNlMeansDenoising``; RGB uses ``cv2.fastNlMeansDenoisingColored``,
    which works in CIELAB and so needs BGR order: the image is converted RGB -> BGR for the
    call and back. ``h`` filters both the lightness and the colour components. RGBA: the RGB
    part is denoised and alpha is passed through unchanged. OpenCV only takes 8-bit input, so
    uint16 and float images are denoised through uint8 and converted back (the result is
    quantized to 256 levels).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image.
    h : float
        Filter strength in 8-bit levels; about the noise standard deviation works well.
        Larger removes more noise and more detail.
    template_size : int
        Odd size of the patches compared.
    search_size : int
        Odd size of the window searched for similar patches (time grows with its square).

    Returns
    -------
    ndarray
        Denoised image, same shape and dtype as ``image``.

    Example
    -------
    >>> import numpy as np
    >>> flat = np.full((16, 16), 128, np.uint8)
    >>> np.array_equal(nlm_denoise(flat, h=10), flat)
    True

    Reference
    ---------
    A. Buades, B. Coll and J.-M. Morel, "A non-local algorithm for image denoising",
    CVPR 2005. https://docs.opencv.org/4.x/d1/d79/group__photo__denoise.html
    """
    _odd("template_size", template_size)
    _odd("search_size", search_size)
    rgb, alpha = split_alpha(image)
    work = to_uint8(rgb)
    if is_color(work):
        bgr = cv2.cvtColor(work, cv2.COLOR_RGB2BGR)
        out = cv2.fastNlMeansDenoisingColored(bgr, None, h, h, template_size, search_size)
        out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    else:
        grey = work[..., 0] if work.ndim == 3 else work
        out = squeeze_like(
            cv2.fastNlMeansDenoising(grey, None, h, template_size, search_size), work
        )
    if out.dtype != image.dtype:
        out = from_float(to_float(out), image.dtype)
    return merge_alpha(out, alpha)
