"""Real-ESRGAN's second-order degradation: clean patches to realistic low-quality inputs.

Wang et al. 2021, "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
Data", section 3. :func:`degrade_real` takes a batch of clean ``(B, C, H, W)`` patches and
runs the degradation twice, then a final step, as Real-ESRGAN's training does:

1. **blur** with a random kernel of odd size 7..21: isotropic or anisotropic Gaussian,
   generalized Gaussian or plateau (probabilities 0.45, 0.25, 0.12, 0.03, 0.12, 0.03), or,
   with probability ``sinc_prob``, a 2-D sinc (ringing and overshoot);
2. **resize** up, down or not (one scale and one of area / bilinear / bicubic per batch);
3. **noise**: additive Gaussian (sigma in 0..255 units) or Poisson, colour or grey;
4. **JPEG** at a quality drawn per image;

and finally the target-size resize together with a sinc filter, and JPEG, in a random
order; the result is clamped and rounded to 8 bits. The defaults (:data:`REAL_ESRGAN`) are
the published ones; :data:`DENOISING` is a milder preset that never resizes (the output
keeps the input's size, for a denoiser). Narrow a preset with :func:`dataclasses.replace`.

References: BasicSR ``basicsr/data/degradations.py`` (kernels, noise), Real-ESRGAN
``realesrgan/data/realesrgan_dataset.py`` (kernel draws), ``realesrgan/models/
realesrgan_model.py`` (``feed_data``, the pipeline) and ``options/train_realesrnet_x4plus.yml``
(the ranges). Where atelier differs, and why:

- Blur, noise type and the order of the final step are drawn per image; Real-ESRGAN draws
  them once per batch and mixes batches through a pool of 180 pairs, which a short CPU run
  does not have. The resize scale and mode stay per batch (a batch has one size).
- JPEG is OpenCV's libjpeg (4:2:0, integer quality) on the 8-bit image; Real-ESRGAN uses
  DiffJPEG, a PyTorch re-implementation of the same codec with float quality.
- The sharpened (USM) target of Real-ESRGAN is a training choice of its model, not part of
  the degradation: it is not done here.
- An image smaller than a kernel's radius (a tiny patch after a strong downscale) is padded
  by replication, where BasicSR's reflection would fail for want of pixels.

Randomness is explicit: ``generator`` is a ``torch.Generator`` (the Trainer's step
generator), a numpy ``Generator`` or an int seed; the same one gives the same images.

Example
-------
>>> import torch
>>> hr = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
>>> lr = degrade_real(hr, 4, generator=0)
>>> tuple(lr.shape), lr.dtype, bool(torch.equal(lr, degrade_real(hr, 4, generator=0)))
((2, 3, 8, 8), torch.float32, True)
>>> bool(torch.equal(lr, (lr * 255).round() / 255))  # 8-bit values
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy import special

from atelier.errors import InvalidArgument

__all__ = [
    "DENOISING",
    "KERNEL_TYPES",
    "REAL_ESRGAN",
    "DegradationConfig",
    "DegradationRound",
    "blur_kernel",
    "degrade_real",
    "filter2d",
    "sinc_kernel",
]

#: The blur kernels of a round, in the order of ``DegradationRound.kernel_prob``.
KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RESIZE_MODES = ("area", "bilinear", "bicubic")

Range = tuple[float, float]


def _check_range(name: str, value: Range, low: float, high: float | None, unit: str = "") -> None:
    ok = len(value) == 2 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
    if ok:
        a, b = value
        ok = low <= a <= b and (high is None or b <= high)
    if not ok:
        top = "" if high is None else f" <= {high:g}"
        raise InvalidArgument(
            f"degradation {name} must be (low, high) with {low:g} <= low <= high{top}{unit}, got {value!r}"
        )


def _check_prob(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise InvalidArgument(f"degradation {name} must be a probability in [0, 1], got {value!r}")


def _check_weights(name: str, value: tuple[float, ...], count: int, labels: str) -> None:
    ok = len(value) == count and all(isinstance(v, (int, float)) and v >= 0 for v in value) and sum(value) > 0
    if not ok:
        raise InvalidArgument(
            f"degradation {name} must be {count} weights >= 0 ({labels}) that do not all vanish, got {value!r}"
        )


@dataclass(frozen=True)
class DegradationRound:
    """One round: blur, resize, noise, JPEG. Ranges are ``(low, high)``, drawn uniformly.

    Parameters
    ----------
    blur_prob : probability of blurring an image (Real-ESRGAN: 1 in the first round, 0.8 in
        the second).
    kernel_prob : weights of :data:`KERNEL_TYPES`.
    blur_sigma : the Gaussian's standard deviation along each axis, pixels.
    betag, betap : shape ranges of the generalized Gaussian and plateau kernels.
    sinc_prob : probability that the kernel is a sinc instead (cut-off in (pi/3, pi), or
        (pi/5, pi) for kernels of 13 pixels and more).
    resize_prob : weights of up, down, keep.
    resize_range : the scale's range; up draws from (1, high), down from (low, 1).
    gaussian_noise_prob : probability of Gaussian noise (else Poisson).
    noise_sigma : Gaussian noise sigma in 0..255 units.
    poisson_scale : the Poisson noise's multiplier.
    gray_noise_prob : probability that the noise is the same in every channel.
    jpeg_quality : JPEG quality (integers, 1..100).
    """

    blur_prob: float = 1.0
    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    blur_sigma: Range = (0.2, 3.0)
    betag: Range = (0.5, 4.0)
    betap: Range = (1.0, 2.0)
    sinc_prob: float = 0.1
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)
    resize_range: Range = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_sigma: Range = (1.0, 30.0)
    poisson_scale: Range = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_quality: tuple[int, int] = (30, 95)

    def __post_init__(self) -> None:
        for name in ("blur_prob", "sinc_prob", "gaussian_noise_prob", "gray_noise_prob"):
            _check_prob(name, getattr(self, name))
        _check_weights("kernel_prob", self.kernel_prob, len(KERNEL_TYPES), ", ".join(KERNEL_TYPES))
        _check_weights("resize_prob", self.resize_prob, 3, "up, down, keep")
        _check_range("blur_sigma", self.blur_sigma, 1e-3, None, " pixels")
        _check_range("betag", self.betag, 1e-3, None)
        _check_range("betap", self.betap, 1e-3, None)
        _check_range("noise_sigma", self.noise_sigma, 0, 255, " (0..255 units)")
        _check_range("poisson_scale", self.poisson_scale, 0, None)
        low, high = self.resize_range if len(self.resize_range) == 2 else (0, 0)
        if not (0 < low <= 1 <= high <= 8):
            raise InvalidArgument(
                "degradation resize_range must be (low, high) with 0 < low <= 1 <= high <= 8, "
                f"got {self.resize_range!r}"
            )
        _check_range("jpeg_quality", self.jpeg_quality, 1, 100)
        if not all(isinstance(q, int) and not isinstance(q, bool) for q in self.jpeg_quality):
            raise InvalidArgument(f"degradation jpeg_quality must be two integers, got {self.jpeg_quality!r}")


@dataclass(frozen=True)
class DegradationConfig:
    """The two rounds and the final step of :func:`degrade_real` (default: Real-ESRGAN's).

    ``kernel_sizes``: the odd kernel sides drawn from (every odd side in the range, as
    Real-ESRGAN's 7..21), for the blurs and the final sinc; ``final_sinc_prob``: the
    probability of the final sinc filter (else none).

    Example
    -------
    >>> import dataclasses
    >>> c = DegradationConfig()
    >>> c.first.noise_sigma, c.second.noise_sigma, c.second.blur_prob, c.final_sinc_prob
    ((1.0, 30.0), (1.0, 25.0), 0.8, 0.8)
    >>> mild = dataclasses.replace(c, second=dataclasses.replace(c.second, noise_sigma=(1.0, 10.0)))
    >>> mild.second.noise_sigma
    (1.0, 10.0)
    """

    first: DegradationRound = field(default_factory=DegradationRound)
    second: DegradationRound = field(
        default_factory=lambda: DegradationRound(
            blur_prob=0.8,
            blur_sigma=(0.2, 1.5),
            resize_prob=(0.3, 0.4, 0.3),
            resize_range=(0.3, 1.2),
            noise_sigma=(1.0, 25.0),
            poisson_scale=(0.05, 2.5),
        )
    )
    final_sinc_prob: float = 0.8
    kernel_sizes: tuple[int, int] = (7, 21)

    def __post_init__(self) -> None:
        for name in ("first", "second"):
            value = getattr(self, name)
            if not isinstance(value, DegradationRound):
                raise InvalidArgument(f"degradation {name} must be a DegradationRound, got {type(value).__name__}")
        _check_prob("final_sinc_prob", self.final_sinc_prob)
        sizes = self.kernel_sizes
        if not (
            len(sizes) == 2
            and all(isinstance(k, int) and not isinstance(k, bool) and k % 2 == 1 for k in sizes)
            and 3 <= sizes[0] <= sizes[1] <= 41
        ):
            raise InvalidArgument(
                f"degradation kernel_sizes must be two odd integers 3 <= low <= high <= 41, got {sizes!r}"
            )

    @property
    def resizes(self) -> bool:
        """Whether a round may resize (False: the output has the input's size at scale 1)."""
        return any(r.resize_prob[0] + r.resize_prob[1] > 0 for r in (self.first, self.second))


#: Real-ESRGAN's published settings (``train_realesrnet_x4plus.yml``).
REAL_ESRGAN = DegradationConfig()

#: For denoisers: Real-ESRGAN's noise and JPEG, lighter blur (less often, sigma at most 1.5
#: then 1.0, a final sinc one time in five) and no resize, so the output keeps the input's size.
DENOISING = DegradationConfig(
    first=DegradationRound(blur_prob=0.5, blur_sigma=(0.2, 1.5), resize_prob=(0.0, 0.0, 1.0)),
    second=DegradationRound(
        blur_prob=0.3,
        blur_sigma=(0.2, 1.0),
        resize_prob=(0.0, 0.0, 1.0),
        noise_sigma=(1.0, 25.0),
        poisson_scale=(0.05, 2.5),
    ),
    final_sinc_prob=0.2,
)


# --------------------------------------------------------------------------- kernels


def _grid(size: int) -> np.ndarray:
    """``(size, size, 2)`` pixel offsets (x, y) from the centre (BasicSR's ``mesh_grid``)."""
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)


def blur_kernel(
    kind: str, size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> np.ndarray:
    """A ``(size, size)`` float64 blur kernel summing to 1 (BasicSR's bivariate kernels).

    ``kind`` is one of :data:`KERNEL_TYPES`. With ``q = g^T S^-1 g`` at offset ``g`` from the
    centre, ``S`` the covariance of standard deviations ``sigma_x``, ``sigma_y`` rotated by
    ``theta`` (radians; the iso kinds use ``sigma_x`` alone): Gaussian ``exp(-q / 2)``,
    generalized ``exp(-q**beta / 2)``, plateau ``1 / (1 + q**beta)``.

    Example
    -------
    >>> k = blur_kernel("aniso", 7, 2.0, 0.5, theta=0.3)
    >>> k.shape, round(float(k.sum()), 6), bool(np.allclose(k, k[::-1, ::-1]))
    ((7, 7), 1.0, True)
    """
    if kind not in KERNEL_TYPES:
        raise InvalidArgument(f"kernel kind must be one of {', '.join(KERNEL_TYPES)}; got {kind!r}")
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sigma_y, theta = sigma_x, 0.0
    elif sigma_y is None:
        raise InvalidArgument(f"an {kind} kernel takes sigma_y")
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    cov = rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T
    g = _grid(size)
    q = np.einsum("...i,ij,...j->...", g, np.linalg.inv(cov), g)
    if kind.startswith("generalized"):
        k = np.exp(-0.5 * q**beta)
    elif kind.startswith("plateau"):
        k = 1.0 / (q**beta + 1.0)
    else:
        k = np.exp(-0.5 * q)
    return k / k.sum()


def sinc_kernel(cutoff: float, size: int) -> np.ndarray:
    """The circular low-pass (2-D sinc) kernel of ``cutoff`` radians (pi: none), ``(size,
    size)``, summing to 1: ``cutoff * J1(cutoff r) / (2 pi r)`` (BasicSR's
    ``circular_lowpass_kernel``).

    Example
    -------
    >>> k = sinc_kernel(np.pi / 2, 9)
    >>> round(float(k.sum()), 6), bool(k.min() < 0)  # negative lobes: ringing
    (1.0, True)
    """
    r = np.hypot(*np.moveaxis(_grid(size), -1, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        k = cutoff * special.j1(cutoff * r) / (2 * np.pi * r)
    c = (size - 1) // 2
    k[c, c] = cutoff**2 / (4 * np.pi)
    return k / k.sum()


def _pad_to(kernel: np.ndarray, size: int) -> np.ndarray:
    p = (size - kernel.shape[0]) // 2
    return np.pad(kernel, p)


def _round_kernel(rng: np.random.Generator, r: DegradationRound, sizes: list[int]) -> np.ndarray:
    """Real-ESRGAN's draw of one round's kernel (``realesrgan_dataset.py``)."""
    size = int(rng.choice(sizes))
    if rng.random() < r.sinc_prob:
        low = math.pi / 3 if size < 13 else math.pi / 5
        return sinc_kernel(rng.uniform(low, math.pi), size)
    p = np.asarray(r.kernel_prob, np.float64)
    kind = KERNEL_TYPES[int(rng.choice(len(KERNEL_TYPES), p=p / p.sum()))]
    sigma_x = rng.uniform(*r.blur_sigma)
    sigma_y, theta = (rng.uniform(*r.blur_sigma), rng.uniform(-math.pi, math.pi)) if "aniso" in kind else (None, 0.0)
    beta = 1.0
    if kind.startswith(("generalized", "plateau")):
        low, high = r.betag if kind.startswith("generalized") else r.betap
        # as BasicSR: half the time below 1, half above (a range on one side of 1 is clipped to it)
        beta = rng.uniform(min(low, 1.0), 1.0) if rng.random() < 0.5 else rng.uniform(1.0, max(high, 1.0))
    return blur_kernel(kind, size, sigma_x, sigma_y, theta, beta)


# --------------------------------------------------------------------------- filtering


def _pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """Reflect padding by ``p``; replication where the image is too small to reflect."""
    if p == 0:
        return x
    mode = "reflect" if p < min(x.shape[-2:]) else "replicate"
    return F.pad(x, (p, p, p, p), mode=mode)


def filter2d(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Filter each image of ``x`` ``(B, C, H, W)`` with its own kernel of ``kernels`` ``(B, K,
    K)`` (K odd), the same in every channel: BasicSR's ``filter2D``, reflect padding and one
    ``conv2d`` with ``groups=B*C``. Returns ``(B, C, H, W)``.

    Example
    -------
    >>> x = torch.rand(2, 3, 16, 16)
    >>> box = torch.full((2, 3, 3), 1 / 9)
    >>> ref = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect").view(1, 6, 18, 18),
    ...                box.repeat_interleave(3, 0)[:, None], groups=6).view(2, 3, 16, 16)
    >>> bool(torch.allclose(filter2d(x, box), ref, atol=1e-5))
    True
    """
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    if kernels.shape != (b, k, k) or k % 2 == 0:
        raise InvalidArgument(f"filter2d takes one odd square kernel per image, (B, K, K); got {tuple(kernels.shape)}")
    xp = _pad(x, k // 2)
    weight = kernels.to(x).repeat_interleave(c, 0)[:, None]  # (B*C, 1, K, K)
    # a narrow Gaussian's tails are subnormal floats, which make the convolution 4x slower
    weight = weight.masked_fill(weight.abs() < 1e-12, 0.0)
    return F.conv2d(xp.reshape(1, b * c, *xp.shape[-2:]), weight, groups=b * c).view(b, c, h, w)


def _blur(x: torch.Tensor, kernels: list[np.ndarray | None]) -> torch.Tensor:
    """Filter the images whose kernel is not None; the others are returned as they are."""
    chosen = [i for i, k in enumerate(kernels) if k is not None]
    if not chosen:
        return x
    stack = torch.from_numpy(np.stack([kernels[i] for i in chosen])).to(x.device, torch.float32)
    if len(chosen) == x.shape[0]:
        return filter2d(x, stack)
    out = x.clone()
    index = torch.tensor(chosen, device=x.device)
    out[index] = filter2d(x[index], stack)
    return out


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    if mode == "area":
        return F.interpolate(x, size=size, mode=mode)
    return F.interpolate(x, size=size, mode=mode, align_corners=False)


def _random_size(rng: np.random.Generator, r: DegradationRound, h: float, w: float) -> tuple[tuple[int, int], str]:
    """Real-ESRGAN's random resize: up, down or keep, then the mode (one per batch)."""
    p = np.asarray(r.resize_prob, np.float64)
    kind = int(rng.choice(3, p=p / p.sum()))
    low, high = r.resize_range
    scale = rng.uniform(1.0, high) if kind == 0 else rng.uniform(low, 1.0) if kind == 1 else 1.0
    mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    return (max(1, int(h * scale)), max(1, int(w * scale))), mode


# --------------------------------------------------------------------------- noise


def _luma(x: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` BT.601 luma of RGB (torchvision's ``rgb_to_grayscale``), or the grey plane."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (0.299 * r + 0.587 * g + 0.114 * b)[:, None]


def _poisson_noise(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """BasicSR's Poisson noise of unit scale: the image rounded to 8 bits, as counts of
    ``2 ** ceil(log2(distinct values))`` levels per image."""
    b = x.shape[0]
    q = (x * 255.0).round().clamp(0, 255)
    codes = q.reshape(b, -1).long() + 256 * torch.arange(b, device=x.device)[:, None]
    distinct = (torch.bincount(codes.reshape(-1), minlength=256 * b).reshape(b, 256) > 0).sum(1)
    vals = (2.0 ** torch.ceil(torch.log2(distinct.double()))).float().view(b, 1, 1, 1)
    q = q / 255.0
    counts = torch.poisson((q * vals).to(gen.device), generator=gen).to(x.device)
    return counts / vals - q


def _noise(x: torch.Tensor, r: DegradationRound, rng: np.random.Generator, gen: torch.Generator) -> torch.Tensor:
    """Gaussian or Poisson noise per image, colour or grey, clamped to [0, 1]."""
    b, c = x.shape[:2]
    gaussian = rng.random(b) < r.gaussian_noise_prob
    gray = rng.random(b) < r.gray_noise_prob
    sigma = rng.uniform(*r.noise_sigma, size=b) / 255.0
    scale = rng.uniform(*r.poisson_scale, size=b)
    out = x.clone()
    g = np.flatnonzero(gaussian)
    if g.size:
        shape = (g.size, c, *x.shape[2:])
        colour = torch.randn(shape, generator=gen, device=gen.device).to(x.device)
        grey = torch.randn((g.size, 1, *x.shape[2:]), generator=gen, device=gen.device).to(x.device)
        pick = torch.from_numpy(gray[g]).to(x.device).view(-1, 1, 1, 1)
        level = torch.from_numpy(sigma[g]).to(x).view(-1, 1, 1, 1)
        index = torch.from_numpy(g).to(x.device)
        out[index] = x[index] + torch.where(pick, grey, colour) * level
    p = np.flatnonzero(~gaussian)
    if p.size:
        index = torch.from_numpy(p).to(x.device)
        noise = _poisson_noise(x[index], gen)
        if c > 1 and gray[p].any():
            grey = _poisson_noise(_luma(x[index]), gen)
            pick = torch.from_numpy(gray[p]).to(x.device).view(-1, 1, 1, 1)
            noise = torch.where(pick, grey.expand_as(noise), noise)
        out[index] = x[index] + noise * torch.from_numpy(scale[p]).to(x).view(-1, 1, 1, 1)
    return out.clamp_(0, 1)


# --------------------------------------------------------------------------- JPEG


def _jpeg(x: torch.Tensor, quality: np.ndarray) -> torch.Tensor:
    """Each image through OpenCV's JPEG encoder at its ``quality`` and back (8-bit)."""
    b, c = x.shape[:2]
    arr = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(arr)
    for i in range(b):
        plane = arr[i, ..., ::-1] if c == 3 else arr[i, ..., 0]  # OpenCV wants BGR
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(plane), [cv2.IMWRITE_JPEG_QUALITY, int(quality[i])])
        if not ok:  # pragma: no cover - libjpeg fails only on impossible inputs
            raise InvalidArgument("JPEG encoding failed")
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        out[i] = decoded[..., ::-1] if c == 3 else decoded[..., None]
    return torch.from_numpy(out).to(x.device).permute(0, 3, 1, 2).float().div_(255.0)


def _random_jpeg(x: torch.Tensor, r: DegradationRound, rng: np.random.Generator) -> torch.Tensor:
    low, high = r.jpeg_quality
    return _jpeg(x, rng.integers(low, high + 1, size=x.shape[0]))


# --------------------------------------------------------------------------- pipeline


def _generators(generator: object) -> tuple[np.random.Generator, torch.Generator]:
    """A numpy generator for the parameters and a torch one for the noise, from either kind
    (the other is seeded from it) or an int seed."""
    if isinstance(generator, torch.Generator):
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        return np.random.default_rng(seed), generator
    if isinstance(generator, np.random.Generator):
        return generator, torch.Generator().manual_seed(int(generator.integers(0, 2**62)))
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool) and generator >= 0:
        rng = np.random.default_rng(int(generator))
        return rng, torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    raise InvalidArgument(
        f"generator must be a torch.Generator, a numpy Generator or a seed (an int >= 0), got {generator!r}"
    )


def _round(x: torch.Tensor, r: DegradationRound, size: tuple[int, int], mode: str, kernels, rng, gen) -> torch.Tensor:
    x = _resize(_blur(x, kernels), size, mode)
    x = _noise(x, r, rng, gen)
    return _random_jpeg(x, r, rng)


@torch.no_grad()
def degrade_real(
    hr: torch.Tensor,
    scale: int = 4,
    *,
    generator: torch.Generator | np.random.Generator | int,
    config: DegradationConfig | None = None,
) -> torch.Tensor:
    """Real-ESRGAN's second-order degradation of a batch of clean patches.

    Parameters
    ----------
    hr : torch.Tensor
        ``(B, C, H, W)`` float in [0, 1], C = 1 or 3, H and W multiples of ``scale``; on
        any device (JPEG runs on the CPU, random numbers come from ``generator``).
    scale : int
        The downscale factor (1 for denoising: the output keeps the input's size).
    generator : torch.Generator, numpy.random.Generator or int
        The source of every random draw; the same one (in the same state) gives the same
        images on the same device.
    config : DegradationConfig or None
        The ranges; None is :data:`REAL_ESRGAN`.

    Returns
    -------
    torch.Tensor
        ``(B, C, H / scale, W / scale)`` float32 on ``hr``'s device, values ``k / 255``.
    """
    config = REAL_ESRGAN if config is None else config
    if not isinstance(config, DegradationConfig):
        raise InvalidArgument(f"config must be a DegradationConfig, got {type(config).__name__}")
    if not isinstance(hr, torch.Tensor) or hr.ndim != 4 or not hr.is_floating_point() or hr.shape[1] not in (1, 3):
        what = tuple(hr.shape) if isinstance(hr, torch.Tensor) else type(hr).__name__
        raise InvalidArgument(f"degrade_real takes a (B, C, H, W) float tensor with C = 1 or 3, got {what}")
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 16:
        raise InvalidArgument(f"scale must be an integer from 1 to 16, got {scale!r}")
    b, _, h, w = hr.shape
    if h % scale or w % scale or h == 0 or w == 0:
        raise InvalidArgument(f"{h} x {w} patches cannot be downscaled by {scale}: sides must be multiples of it")
    if b == 0:
        return hr.new_zeros((0, hr.shape[1], h // scale, w // scale), dtype=torch.float32)
    low, high = torch.aminmax(hr)
    if not (0 <= float(low) and float(high) <= 1):  # NaN fails both comparisons
        raise InvalidArgument("degrade_real takes images in [0, 1] (finite); clamp them first")
    rng, gen = _generators(generator)
    sizes = list(range(config.kernel_sizes[0], config.kernel_sizes[1] + 1, 2))
    side = config.kernel_sizes[1]

    def kernels(r: DegradationRound) -> list[np.ndarray | None]:
        # drawn for every image (a fixed number of draws), used where blur_prob says so
        out = []
        for _ in range(b):
            k = _pad_to(_round_kernel(rng, r, sizes), side)
            out.append(k if rng.random() < r.blur_prob else None)
        return out

    k1, k2 = kernels(config.first), kernels(config.second)
    finals: list[np.ndarray | None] = []
    for _ in range(b):
        k = _pad_to(sinc_kernel(rng.uniform(math.pi / 3, math.pi), int(rng.choice(sizes))), side)
        finals.append(k if rng.random() < config.final_sinc_prob else None)
    th, tw = h // scale, w // scale

    x = hr.float()
    size1, mode1 = _random_size(rng, config.first, h, w)
    x = _round(x, config.first, size1, mode1, k1, rng, gen)
    size2, mode2 = _random_size(rng, config.second, h / scale, w / scale)
    x = _round(x, config.second, size2, mode2, k2, rng, gen)

    # the final step, in one of two orders per image: [resize + sinc] then JPEG, or JPEG then
    # [resize + sinc] (Real-ESRGAN found that other orders give twisted lines)
    mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    sinc_first = rng.random(b) < 0.5
    low, high = config.second.jpeg_quality
    quality = rng.integers(low, high + 1, size=b)
    out = torch.empty((b, x.shape[1], th, tw), device=x.device)
    for first in (True, False):
        group = np.flatnonzero(sinc_first == first)
        if not group.size:
            continue
        index = torch.from_numpy(group).to(x.device)
        y, sincs = x[index], [finals[i] for i in group]
        if first:
            y = _jpeg(_blur(_resize(y, (th, tw), mode), sincs), quality[group])
        else:
            y = _blur(_resize(_jpeg(y, quality[group]), (th, tw), mode), sincs)
        out[index] = y
    return (out * 255.0).round().clamp_(0, 255).div_(255.0)

