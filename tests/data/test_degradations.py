"""Real-ESRGAN's second-order degradation (``atelier.data.degradations``): shapes, determinism,
8-bit output, the kernels, JPEG and noise against references, errors."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
import torch
from scipy import special

from atelier.data.degradations import (
    DENOISING,
    REAL_ESRGAN,
    DegradationConfig,
    DegradationRound,
    _noise,
    blur_kernel,
    degrade_real,
    filter2d,
    sinc_kernel,
)
from atelier.errors import InvalidArgument

#: A round that does nothing but JPEG (no blur, no resize, zero Gaussian noise).
QUIET = DegradationRound(
    blur_prob=0.0, resize_prob=(0.0, 0.0, 1.0), gaussian_noise_prob=1.0, noise_sigma=(0.0, 0.0), jpeg_quality=(100, 100)
)


def _only(first: DegradationRound, second: DegradationRound = QUIET) -> DegradationConfig:
    return DegradationConfig(first=first, second=second, final_sinc_prob=0.0)


@pytest.fixture
def batch(astronaut) -> torch.Tensor:
    """4 crops of the astronaut, (4, 3, 32, 32) in [0, 1]."""
    crops = [astronaut[t : t + 32, l : l + 32] for t, l in [(0, 0), (20, 40), (50, 60), (60, 90)]]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255


@pytest.mark.parametrize("scale,channels", [(4, 3), (2, 3), (1, 3), (4, 1)])
def test_shapes_dtype_range(batch, scale, channels):
    hr = batch[:, :channels]
    lr = degrade_real(hr, scale, generator=1)
    assert lr.shape == (4, channels, 32 // scale, 32 // scale) and lr.dtype == torch.float32
    assert 0 <= float(lr.min()) and float(lr.max()) <= 1
    assert torch.equal(lr, (lr * 255).round() / 255)  # quantised to 8 bits, as Real-ESRGAN does


def test_denoising_preset_keeps_the_size_and_changes_the_image(batch):
    assert not DENOISING.resizes and REAL_ESRGAN.resizes
    out = degrade_real(batch, 1, generator=3, config=DENOISING)
    assert out.shape == batch.shape
    assert float((out - batch).abs().mean()) > 2 / 255


def test_deterministic_under_a_seed(batch):
    a = degrade_real(batch, 4, generator=7)
    assert torch.equal(a, degrade_real(batch, 4, generator=7))
    assert not torch.equal(a, degrade_real(batch, 4, generator=8))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    first = degrade_real(batch, 2, generator=g1)
    assert torch.equal(first, degrade_real(batch, 2, generator=g2))
    assert not torch.equal(first, degrade_real(batch, 2, generator=g1))  # the generator moved on
    n1, n2 = np.random.default_rng([0, 1]), np.random.default_rng([0, 1])
    assert torch.equal(degrade_real(batch, 2, generator=n1), degrade_real(batch, 2, generator=n2))


def test_tiny_patches_and_empty_batches(batch):
    """An 8 px patch at x4 shrinks below the kernels' radius: replicate padding takes over."""
    tiny = degrade_real(batch[:, :, :8, :8], 4, generator=0)
    assert tiny.shape == (4, 3, 2, 2)
    assert degrade_real(batch[:0], 2, generator=0).shape == (0, 3, 16, 16)


def test_jpeg_is_three_opencv_round_trips(batch):
    """Reference: with blur, resize and noise off, each image goes through the first round's,
    the second round's and the final JPEG, OpenCV's codec at the drawn quality (fixed here)."""
    jpeg = dataclasses.replace(QUIET, jpeg_quality=(40, 40))
    out = degrade_real(batch, 1, generator=0, config=_only(jpeg, jpeg))
    expected = []
    for image in batch:
        a = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        for _ in range(3):
            _, buf = cv2.imencode(".jpg", np.ascontiguousarray(a[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 40])
            a = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        expected.append(torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255)
    assert torch.equal(out, torch.stack(expected))
    assert float((out - batch).abs().mean()) > 1 / 255  # quality 40 visibly changes the image


def test_gaussian_noise_level_and_grey_noise():
    """Noise of sigma 20 (0..255) on a flat grey image: the residual's std is 20 / 255
    (JPEG at quality 100 on one grey channel adds well under a level). Grey noise is the same
    in every channel, colour noise independent (checked before JPEG, whose 4:2:0 chroma
    subsampling would blur the colour noise's chroma away)."""
    flat = torch.full((2, 1, 64, 64), 0.5)
    noisy = _only(dataclasses.replace(QUIET, noise_sigma=(20.0, 20.0)))
    out = degrade_real(flat, 1, generator=0, config=noisy)
    std = (out - flat).flatten(1).std(1) * 255
    torch.testing.assert_close(std, torch.full((2,), 20.0), rtol=0.08, atol=0)
    colour = torch.full((2, 3, 64, 64), 0.5)
    for gray, low, high in [(1.0, 0.999, 1.0), (0.0, -0.1, 0.1)]:
        config = dataclasses.replace(QUIET, noise_sigma=(20.0, 20.0), gray_noise_prob=gray)
        residual = _noise(colour, config, np.random.default_rng(0), torch.Generator().manual_seed(0)) - colour
        r, g = residual[:, 0].flatten(), residual[:, 1].flatten()
        corr = float(torch.corrcoef(torch.stack([r, g]))[0, 1])
        assert low <= corr <= high, (gray, corr)


def test_poisson_noise_grows_with_intensity():
    """Shot noise: variance proportional to the signal. BasicSR's Poisson noise counts in
    2**ceil(log2(distinct values)) levels: 54 distinct 8-bit values here, so 64 levels, and
    a std of sqrt(0.85 / 64) = 0.115 on the bright half (a little less where it clips at 1),
    sqrt(0.05 / 64) = 0.028 on the dark one."""
    ramp = torch.arange(256.0).repeat(16)[: 64 * 64].view(1, 1, 64, 64) / 255
    dark = torch.cat([ramp * 0.1, ramp * 0.1 + 0.8], dim=-1)  # left dark, right bright
    poisson = _only(dataclasses.replace(QUIET, gaussian_noise_prob=0.0, poisson_scale=(1.0, 1.0)))
    out = degrade_real(dark, 1, generator=0, config=poisson)
    residual = (out - dark)[0, 0]
    left, right = float(residual[:, :64].std()), float(residual[:, 64:].std())
    assert right > 2.5 * left and 0.09 < right < 0.125


def test_blur_kernels_against_references():
    """Isotropic Gaussian = OpenCV's separable one; generalized with beta 1 = Gaussian;
    plateau = 1 / (1 + q**beta); the sinc's first neighbour / centre = 2 J1(w) / w
    (BasicSR: centre w**2 / (4 pi), elsewhere w J1(w r) / (2 pi r))."""
    g = cv2.getGaussianKernel(21, 2.0)
    np.testing.assert_allclose(blur_kernel("iso", 21, 2.0), g @ g.T, atol=1e-12)
    aniso = blur_kernel("aniso", 15, 2.5, 0.6, theta=0.7)
    np.testing.assert_allclose(blur_kernel("generalized_aniso", 15, 2.5, 0.6, theta=0.7, beta=1.0), aniso, atol=1e-12)
    assert abs(float(aniso.sum()) - 1) < 1e-12 and np.allclose(aniso, aniso[::-1, ::-1])
    assert not np.allclose(aniso, aniso.T)  # rotated: not symmetric about the diagonal
    plateau = blur_kernel("plateau_iso", 9, 1.5, beta=2.0)
    q = 4.0 / 1.5**2  # offset (2, 0)
    assert math.isclose(plateau[4, 6] / plateau[4, 4], 1 / (1 + q**2.0), rel_tol=1e-12)
    w = math.pi / 2
    k = sinc_kernel(w, 13)
    assert math.isclose(k[6, 7] / k[6, 6], 2 * special.j1(w) / w, rel_tol=1e-9)
    assert math.isclose(float(k.sum()), 1.0, rel_tol=1e-12) and k.min() < 0


def test_filter2d_is_opencv_filter2d():
    """Reference: per image ``cv2.filter2D`` with BORDER_REFLECT_101 (PyTorch's reflect)."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((2, 3, 24, 20), dtype=np.float32))
    kernels = np.stack([blur_kernel("aniso", 7, 1.5, 0.5, 0.4), sinc_kernel(1.2, 7)]).astype(np.float32)
    out = filter2d(x, torch.from_numpy(kernels))
    for i in range(2):
        for c in range(3):
            ref = cv2.filter2D(x[i, c].numpy(), -1, kernels[i], borderType=cv2.BORDER_REFLECT_101)
            np.testing.assert_allclose(out[i, c].numpy(), ref, atol=1e-5)
    with pytest.raises(InvalidArgument, match="one odd square kernel per image"):
        filter2d(x, torch.ones(2, 4, 4))


def test_narrowing_a_preset():
    mild = dataclasses.replace(REAL_ESRGAN, second=dataclasses.replace(REAL_ESRGAN.second, noise_sigma=(1.0, 5.0)))
    assert mild.second.noise_sigma == (1.0, 5.0) and mild.first == REAL_ESRGAN.first
    assert (REAL_ESRGAN.first.noise_sigma, REAL_ESRGAN.first.poisson_scale, REAL_ESRGAN.first.jpeg_quality) == (
        (1.0, 30.0), (0.05, 3.0), (30, 95)
    )
    assert (REAL_ESRGAN.second.blur_prob, REAL_ESRGAN.second.noise_sigma, REAL_ESRGAN.second.poisson_scale) == (
        0.8, (1.0, 25.0), (0.05, 2.5)
    )


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x: degrade_real(x[0], 2, generator=0), r"\(B, C, H, W\) float tensor"),
        (lambda x: degrade_real(x[:, :2], 2, generator=0), "C = 1 or 3"),
        (lambda x: degrade_real((x * 255).to(torch.uint8), 2, generator=0), "float tensor"),
        (lambda x: degrade_real(x, 3, generator=0), "multiples of it"),
        (lambda x: degrade_real(x, 0, generator=0), "scale must be an integer"),
        (lambda x: degrade_real(x, True, generator=0), "scale must be an integer"),
        (lambda x: degrade_real(x * 2, 2, generator=0), r"in \[0, 1\]"),
        (lambda x: degrade_real(x * float("nan"), 2, generator=0), r"in \[0, 1\]"),
        (lambda x: degrade_real(x, 2, generator="seed"), "generator must be"),
        (lambda x: degrade_real(x, 2, generator=-1), "generator must be"),
        (lambda x: degrade_real(x, 2, generator=0, config={"noise": 1}), "config must be a DegradationConfig"),
    ],
)
def test_bad_inputs(batch, call, match):
    with pytest.raises(InvalidArgument, match=match):
        call(batch)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: DegradationRound(noise_sigma=(30.0, 1.0)), "noise_sigma must be"),
        (lambda: DegradationRound(noise_sigma=(1.0, 300.0)), r"<= 255"),
        (lambda: DegradationRound(blur_prob=1.5), "blur_prob must be a probability"),
        (lambda: DegradationRound(kernel_prob=(1.0, 0.0)), "kernel_prob must be 6 weights"),
        (lambda: DegradationRound(resize_range=(0.5, 0.9)), "resize_range"),
        (lambda: DegradationRound(jpeg_quality=(30, 101)), "jpeg_quality"),
        (lambda: DegradationRound(jpeg_quality=(30.5, 90.0)), "two integers"),
        (lambda: DegradationConfig(kernel_sizes=(6, 21)), "kernel_sizes must be two odd"),
        (lambda: DegradationConfig(final_sinc_prob=-0.1), "final_sinc_prob"),
        (lambda: DegradationConfig(first="mild"), "first must be a DegradationRound"),
    ],
)
def test_bad_configs(make, match):
    with pytest.raises(InvalidArgument, match=match):
        make()
