"""Shared building blocks of the model families: range helpers, conv stacks, init, sampling.

Models take and return ``(B, C, H, W)`` float32 in [0, 1] (DESIGN.md convention 1); a
network that works in [-1, 1] converts with :func:`to_signed` / :func:`to_unit`.

The conv stacks follow DCGAN (Radford et al. 2015): each stage doubles or halves the size
with a 4x4 kernel, stride 2, padding 1; widths grow ``width * 2**i`` up to ``width * 8``.

Example
-------
>>> import torch
>>> to_unit(to_signed(torch.tensor([0.0, 0.5, 1.0])))
tensor([0.0000, 0.5000, 1.0000])
>>> stage_widths(32, 8)
[8, 16, 32]
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Literal, Sequence

import torch
from torch import nn

from atelier.errors import InvalidArgument

__all__ = [
    "to_signed",
    "to_unit",
    "pad_to_multiple",
    "sigma_map",
    "stage_widths",
    "make_norm",
    "DownStack",
    "UpStack",
    "init_dcgan_",
    "spectral_norm_",
    "draw_latent",
    "resolve_labels",
    "default_labels",
    "check_no_labels",
    "sampling_mode",
    "model_device",
    "PriorSamplingMixin",
    "Norm",
]

Norm = Literal["batch", "layer", "instance", "none"]
MAX_MULT = 8


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1] (``2x - 1``)."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (``(x + 1) / 2``), e.g. after a generator's tanh."""
    return (x + 1.0) * 0.5


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """``x`` (..., H, W) padded at the bottom and right to multiples of ``multiple``.

    Reflection where the image is larger than the padding, else replication (reflection needs
    more pixels than it adds). Crop the result back with ``[..., :H, :W]``.

    Example
    -------
    >>> pad_to_multiple(torch.zeros(1, 3, 9, 6), 4).shape
    torch.Size([1, 3, 12, 8])
    """
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if min(h, w) > max(pad_h, pad_w) else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def sigma_map(sigma: object, like: torch.Tensor) -> torch.Tensor:
    """``(B, 1, h, w)`` filled with ``sigma / 255`` per image of ``like`` ``(B, C, h, w)``;
    ``sigma`` (0..255 units) is one number or one per image.

    Example
    -------
    >>> sigma_map(25.5, torch.zeros(2, 3, 4, 5)).shape
    torch.Size([2, 1, 4, 5])
    """
    if sigma is None:
        raise InvalidArgument(
            "this denoiser takes the noise level: pass sigma (0..255 units), "
            "or sigma='auto' to estimate it"
        )
    b = like.shape[0]
    s = torch.as_tensor(sigma, dtype=like.dtype, device=like.device).reshape(-1)
    if s.numel() not in (1, b):
        raise InvalidArgument(f"sigma must be one number or one per image ({b}), got {s.numel()} values")
    if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
        raise InvalidArgument("sigma must be finite and >= 0 (in 0..255 units)")
    return (s / 255.0).reshape(-1, 1, 1, 1).expand(b, 1, like.shape[2], like.shape[3])


def stage_widths(resolution: int, width: int, max_mult: int = MAX_MULT) -> list[int]:
    """Channels after each 2x down-sampling stage from ``resolution`` to 4x4.

    ``log2(resolution) - 2`` stages of ``width * min(2**i, max_mult)`` channels.
    """
    n = int(math.log2(resolution)) - 2
    return [width * min(2**i, max_mult) for i in range(n)]


def make_norm(kind: Norm, channels: int) -> nn.Module:
    """A 2-D normalisation layer: BatchNorm, LayerNorm over (C, H, W), InstanceNorm or none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # GroupNorm with one group = LayerNorm over (C, H, W), per-channel affine
        return nn.GroupNorm(1, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise InvalidArgument(f"norm must be batch, layer, instance or none, got {kind!r}")


class DownStack(nn.Module):
    """Strided convs from ``(B, C, R, R)`` to ``(B, F, 4, 4)``, LeakyReLU 0.2 after each.

    The first stage has no normalisation (DCGAN); the others use ``norm``. Convs followed by
    a normalisation carry no bias (it would be cancelled). ``out_channels`` is ``F``.
    """

    def __init__(self, channels: int, resolution: int, width: int, norm: Norm = "batch") -> None:
        super().__init__()
        widths = stage_widths(resolution, width)
        layers: list[nn.Module] = []
        cin = channels
        for i, cout in enumerate(widths):
            kind = "none" if i == 0 else norm
            layers += [
                nn.Conv2d(cin, cout, 4, 2, 1, bias=kind == "none"),
                make_norm(kind, cout),
                nn.LeakyReLU(0.2),
            ]
            cin = cout
        self.net = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UpStack(nn.Module):
    """Transposed convs from ``(B, F, 4, 4)`` to ``(B, C, R, R)`` pre-activation outputs.

    Mirrors :class:`DownStack`: ``F = in_channels`` is the widest stage; every stage but the
    last has BatchNorm and ReLU; the last maps to ``channels`` with a bias and no activation
    (the caller adds tanh or sigmoid).
    """

    def __init__(self, channels: int, resolution: int, width: int) -> None:
        super().__init__()
        widths = stage_widths(resolution, width)[::-1]  # widest first
        self.in_channels = widths[0]
        layers: list[nn.Module] = []
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


def init_dcgan_(module: nn.Module) -> nn.Module:
    """DCGAN init in place: conv/linear weights N(0, 0.02), norm weights N(1, 0.02), biases 0.

    Reference: Radford, Metz & Chintala (2015), "Unsupervised Representation Learning with
    Deep Convolutional GANs", section 4. Call before :func:`spectral_norm_`.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def spectral_norm_(module: nn.Module) -> nn.Module:
    """Wrap the weight of every Conv2d, Linear and Embedding in ``module`` with spectral norm.

    Uses ``torch.nn.utils.parametrizations.spectral_norm`` (Miyato et al. 2018, one power
    iteration per training forward).
    """
    from torch.nn.utils.parametrizations import spectral_norm

    targets = [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    for m in targets:
        spectral_norm(m)
    return module


def model_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (cpu when it has none)."""
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def draw_latent(
    n: int, dim: int, *, generator: torch.Generator | None, device: torch.device | str
) -> torch.Tensor:
    """``(n, dim)`` standard normal noise drawn with ``generator`` (on its device), on ``device``.

    Drawing on the generator's own device makes a CPU ``torch.Generator`` give the same noise
    whatever device the model is on (DESIGN.md convention 6).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidArgument(f"number of samples must be a positive integer, got {n!r}")
    where = generator.device if generator is not None else device
    return torch.randn(n, dim, generator=generator, device=where).to(device)


def default_labels(n: int, num_classes: int, prior: Sequence[float] = ()) -> torch.Tensor:
    """The ``(n,)`` int64 labels drawn when none are asked for.

    Without a ``prior``: 0, 1, ..., K-1, 0, ... (equal shares, a grid column per class).
    With one (the training labels' frequencies, as a model trained on k-means clusters
    records): label ``i`` is the prior's quantile at ``u_i = frac((i + 0.5) / golden ratio)``,
    a low-discrepancy sequence: the shares follow the prior within a few samples in every
    stretch of the output, with no randomness. (Quantiles taken in order would give blocks of
    one label, and an Inception Score over splits of such samples collapses: 5.0 instead of
    8.5 for the same generator.)

    Example
    -------
    >>> default_labels(5, 3).tolist(), default_labels(8, 3, (0.5, 0.25, 0.25)).tolist()
    ([0, 1, 2, 0, 1], [0, 2, 1, 0, 2, 0, 0, 1])
    """
    if not prior:
        return torch.arange(n) % num_classes
    edges = torch.cumsum(torch.tensor(prior, dtype=torch.float64), 0)
    edges = edges / edges[-1]
    spread = torch.remainder((torch.arange(n, dtype=torch.float64) + 0.5) * 0.6180339887498949, 1.0)
    return torch.searchsorted(edges, spread, right=True).clamp(max=num_classes - 1)


def resolve_labels(
    labels: int | Sequence[int] | torch.Tensor | None,
    n: int,
    num_classes: int,
    device: torch.device | str,
    prior: Sequence[float] = (),
) -> torch.Tensor:
    """Labels for ``n`` conditional samples as a ``(n,)`` int64 tensor on ``device``.

    ``None`` gives :func:`default_labels` (cycling through the classes, or following
    ``prior``), one int repeats that class, a sequence or tensor must hold ``n`` labels.
    Out-of-range labels raise ``InvalidArgument``.
    """
    if labels is None:
        y = default_labels(n, num_classes, prior)
    elif isinstance(labels, int) and not isinstance(labels, bool):
        y = torch.full((n,), labels, dtype=torch.long)
    else:
        y = torch.as_tensor(labels)
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.ndim != 1 or y.numel() != n:
            raise InvalidArgument(
                f"labels must be one integer or {n} integers (one per sample), got {tuple(y.shape)} "
                f"of {y.dtype}"
            )
        y = y.long()
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise InvalidArgument(
            f"labels must be in 0..{num_classes - 1} for this model, got {y.min().item()}..{y.max().item()}"
        )
    return y.to(device)


def check_no_labels(labels: object, model: str) -> None:
    """Unconditional models refuse labels rather than silently ignoring them."""
    if labels is not None:
        raise InvalidArgument(
            f"{model} is unconditional: it takes no labels (train a conditional model, e.g. cgan or cvae)"
        )


@contextlib.contextmanager
def sampling_mode(module: nn.Module) -> Iterator[None]:
    """Eval mode and no_grad for the block, then the module's previous train/eval mode."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


class PriorSamplingMixin:
    """``sample()`` for a generator that decodes prior noise ``z ~ N(0, I)``.

    The model keeps its config as ``self.config`` (with ``latent_dim``, and ``num_classes``
    when ``conditional``), is registered (``model_name``) and implements
    ``_decode_prior(z, y)``: images ``(n, C, R, R)`` in [0, 1] for noise ``z`` and labels ``y``
    (``None`` for an unconditional model, which refuses labels).
    """

    #: True for class-conditional models: ``sample`` then takes and resolves ``labels``.
    conditional: bool = False

    def sample(
        self,
        n: int,
        *,
        labels: int | Sequence[int] | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """``n`` images ``(n, C, R, R)`` in [0, 1] decoded from prior noise drawn with ``generator``.

        ``labels`` (conditional models only): one int for all, ``n`` ints, or ``None`` to cycle
        0, 1, ..., K-1. Runs in eval mode without gradients (the previous mode is restored), so
        the same seed gives the same images on the same device.
        """
        if not self.conditional:
            check_no_labels(labels, self.model_name)
        device = device or model_device(self)
        y = None
        if self.conditional:
            prior = getattr(self.config, "label_prior", ())
            y = resolve_labels(labels, n, self.config.num_classes, device, prior)
        z = self.draw_prior(n, generator=generator, device=device, labels=y)
        with sampling_mode(self):
            return self._decode_prior(z, y)

    def draw_prior(
        self, n: int, *, generator: torch.Generator | None, device: torch.device | str, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(n, latent_dim)`` prior noise for ``labels`` ``(n,)`` (conditional models): N(0, I)
        here; a model with a fitted prior overrides."""
        return draw_latent(n, self.config.latent_dim, generator=generator, device=device)
