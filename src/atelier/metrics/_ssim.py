"""The SSIM window statistics of channel planes, in float32 strips (used by ssim and ms_ssim).

Written by hand: OpenCV has no SSIM, and scikit-image's is several times slower. The sums
and differences of the two images carry the statistics with little float32 round-off:

    with s = x + y and d = x - y (windowed means m_s, m_d and variances v_s, v_d),
    luminance          = (m_s**2 - m_d**2 + 2 C1) / (m_s**2 + m_d**2 + 2 C1)
    contrast-structure = (v_s - v_d + 2 C2) / (v_s + v_d + 2 C2)

which is Wang et al.'s formula rewritten (2 mu_x mu_y = (m_s**2 - m_d**2) / 2, and so on).
Four planes are filtered instead of five, d needs no centring, and s is centred on its mean
over the image before E[s**2] - E[s]**2 is taken, so flat bright areas keep their precision
(float32 without the centring is off by a few 1e-5 there). Rows are processed in strips whose
buffers stay in cache, on as many threads as OpenCV may use (``cv2.getNumThreads()``).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

# Wang et al. 2004: an 11 x 11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03. The radius
# int(3.5 * 1.5 + 0.5) = 5 is the one scikit-image's structural_similarity uses.
SIGMA = 1.5
RADIUS = 5
WINDOW = 2 * RADIUS + 1
K1, K2 = 0.01, 0.03
_KERNEL = np.exp(-0.5 * (np.arange(-RADIUS, RADIUS + 1) / SIGMA) ** 2)
_KERNEL = (_KERNEL / _KERNEL.sum()).astype(np.float32)

_STRIP_BYTES = 1 << 21  # of each strip buffer: 64 rows of 2048 pixels, in the L2/L3 cache
_PARALLEL_PIXELS = 1 << 18  # below this many pixels in all, threads cost more than they save


def window_means(
    planes: list[tuple[np.ndarray, np.ndarray]], data_range: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean SSIM and mean contrast-structure term of each pair of ``H x W`` planes.

    Only windows that lie inside the planes count (``RADIUS`` pixels are left out at every
    border), as in scikit-image. Planes may be of any supported dtype; each pair has one
    shape, at least ``WINDOW`` pixels on each side.

    Returns two float64 arrays with one value per pair.
    """
    c1 = 2 * (K1 * data_range) ** 2
    c2 = 2 * (K2 * data_range) ** 2
    shifts = [_centre(x, y, data_range) for x, y in planes]
    workers = cv2.getNumThreads() if sum(x.size for x, _ in planes) >= _PARALLEL_PIXELS else 1
    jobs = []  # (pair, first window row, end): each pair's window rows split between workers
    for i, (x, _) in enumerate(planes):
        rows = x.shape[0] - 2 * RADIUS
        step = -(-rows // workers)
        jobs += [(i, start, min(start + step, rows)) for start in range(0, rows, step)]

    def sums(job: tuple[int, int, int]) -> tuple[float, float]:
        i, start, stop = job
        x, y = planes[i]
        return _strip_sums(x, y, shifts[i], c1, c2, start, stop)

    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:  # OpenCV and numpy release the GIL
            results = list(pool.map(sums, jobs))
    else:
        results = [sums(job) for job in jobs]

    ssim_sums, cs_sums = np.zeros(len(planes)), np.zeros(len(planes))
    for (i, _, _), (ssim_sum, cs_sum) in zip(jobs, results):
        ssim_sums[i] += ssim_sum
        cs_sums[i] += cs_sum
    counts = [(x.shape[0] - 2 * RADIUS) * (x.shape[1] - 2 * RADIUS) for x, _ in planes]
    return ssim_sums / counts, cs_sums / counts


def _centre(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """The mean of s = x + y, rounded to a multiple of a power of two near data_range / 256:
    close enough to centre s, and with so few bits that s stays exact for whole numbers."""
    quantum = 2.0 ** (math.floor(math.log2(data_range)) - 8)
    return round((cv2.mean(x)[0] + cv2.mean(y)[0]) / quantum) * quantum


def _strip_sums(
    x: np.ndarray, y: np.ndarray, shift: float, c1: float, c2: float, start: int, stop: int
) -> tuple[float, float]:
    """Sums of the SSIM and contrast-structure maps over window rows ``start:stop``.

    Window row ``i`` is centred on image row ``i + RADIUS``; ``c1``, ``c2`` are 2 C1, 2 C2.
    """
    r = RADIUS
    width = x.shape[1]
    strip = max(1, _STRIP_BYTES // (16 * width))  # window rows per strip
    rows = min(strip, stop - start) + 2 * r
    # Per image row, four planes side by side: s - shift, d, their squares. One filter call
    # does all four: the 5 columns next to each seam mix neighbours, and are cropped anyway.
    stats = np.empty((rows, 4, width), np.float32)
    means = np.empty_like(stats)
    scratch = np.empty((rows - 2 * r, width - 2 * r), np.float32)
    ssim_sum = cs_sum = 0.0
    for top in range(start, stop, strip):
        n = min(strip, stop - top) + 2 * r  # image rows read
        xs, ys = x[top : top + n], y[top : top + n]
        p, m, t = stats[:n], means[:n], scratch[: n - 2 * r]
        cv2.addWeighted(xs, 1.0, ys, 1.0, -shift, dst=p[:, 0], dtype=cv2.CV_32F)
        cv2.subtract(xs, ys, dst=p[:, 1], dtype=cv2.CV_32F)
        np.multiply(p[:, :2], p[:, :2], out=p[:, 2:])
        cv2.sepFilter2D(p.reshape(n, -1), cv2.CV_32F, _KERNEL, _KERNEL, dst=m.reshape(n, -1))

        m_s, m_d, v_s, v_d = (m[r : n - r, k, r : width - r] for k in range(4))
        np.multiply(m_s, m_s, out=t)
        v_s -= t  # E[s^2] - E[s]^2, little cancellation as s is centred
        m_d *= m_d
        v_d -= m_d
        m_s += shift
        m_s *= m_s
        cv2.addWeighted(m_s, 1.0, m_d, 1.0, c1, dst=t)
        cv2.addWeighted(m_s, 1.0, m_d, -1.0, c1, dst=m_s)
        cv2.divide(m_s, t, dst=m_s)  # luminance
        cv2.addWeighted(v_s, 1.0, v_d, 1.0, c2, dst=t)
        cv2.addWeighted(v_s, 1.0, v_d, -1.0, c2, dst=v_s)
        cv2.divide(v_s, t, dst=v_s)  # contrast-structure
        cs_sum += cv2.sumElems(v_s)[0]  # sums in float64
        m_s *= v_s
        ssim_sum += cv2.sumElems(m_s)[0]
    return ssim_sum, cs_sum


def halve(plane: np.ndarray) -> np.ndarray:
    """2 x 2 average pooling to float32; an odd side is first extended by its last line.

    Exact for uint8 and uint16 planes over the 5 scales of MS-SSIM (the averages need at
    most 24 bits).
    """
    height, width = plane.shape
    if plane.dtype != np.float32:
        plane = plane.astype(np.float32)
    if height % 2 or width % 2:
        plane = cv2.copyMakeBorder(plane, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
    size = (plane.shape[1] // 2, plane.shape[0] // 2)
    return cv2.resize(plane, size, interpolation=cv2.INTER_AREA)
