"""Run an image-to-image network over overlapping tiles, so that memory stays bounded.

The image is cut into a grid of cores; each core is grown by ``overlap`` input pixels on
every side (less at the image border), run through the network alone, and only the output
of its core is written into a preallocated result. When ``overlap`` is at least the
network's receptive radius, every kept output pixel saw exactly the input it sees in an
untiled run, so the result equals ``fn(x)`` up to floating-point rounding (1e-5). Only one
tile's activations are alive at a time, and the result is preallocated (or handed piece by
piece to a ``write`` callback, which may store it in a smaller dtype).

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> net = build_model("edsr", {"scale": 2, "width": 4, "blocks": 1}).eval()
>>> x = torch.rand(1, 3, 20, 17)
>>> y = tiled(net, x, scale=2, tile=16, overlap=net.receptive_radius)
>>> y.shape, bool((y - net(x)).abs().max() < 1e-5)
(torch.Size([1, 3, 40, 34]), True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator

from atelier.errors import InvalidArgument

if TYPE_CHECKING:  # torch loads with the first tiled call, not with the CLI
    import torch

__all__ = ["DEFAULT_TILE", "AUTO", "TILE_HELP", "tile_argument", "tiled", "tile_grid"]

#: Tile side in input pixels that ``tile="auto"`` starts from: x4 of a 2000 x 2000 photo peaks
#: at about 1.0 GiB of RSS with 256 and 2.1 GiB with 512 (``benchmarks/restoration.py``, memory
#: part), and runs faster. A network that sees far gets larger tiles (``restore.auto_tile``).
DEFAULT_TILE = 256

#: The tasks' (and the studio's) integer spelling of ``tile="auto"``.
AUTO = 0
TILE_HELP = "largest tile side in input pixels (bounds memory); 0: auto (256, more for a U-Net)"


def tile_argument(tile: int) -> int | str:
    """A task's integer ``tile`` as ``restore`` takes it: ``AUTO`` (0) becomes ``"auto"``."""
    return "auto" if tile == AUTO else tile


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def tile_grid(size: int, tile: int, overlap: int, multiple: int = 1) -> Iterator[tuple[int, int, int, int]]:
    """Cut ``0..size`` into cores along one axis: yields ``(core0, core1, tile0, tile1)``.

    Cores partition the axis; a tile is its core grown by ``overlap`` on each side (clipped
    to the axis) and is at most ``tile`` long. Core and tile starts are multiples of
    ``multiple`` (for networks that work on 2x2 cells, such as a half-resolution DnCNN).

    Example
    -------
    >>> list(tile_grid(10, 6, 1))
    [(0, 4, 0, 5), (4, 8, 3, 9), (8, 10, 7, 10)]
    """
    overlap = _round_up(overlap, multiple)
    core = (tile - 2 * overlap) // multiple * multiple
    if core < multiple:
        raise InvalidArgument(
            f"tile {tile} is too small for an overlap of {overlap} pixels on each side; "
            f"use a tile of at least {2 * overlap + multiple}"
        )
    for c0 in range(0, size, core):
        c1 = min(c0 + core, size)
        yield c0, c1, max(0, c0 - overlap), min(size, c1 + overlap)


def tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int,
    *,
    multiple: int = 1,
    write: Callable[[slice, slice, torch.Tensor], None] | None = None,
) -> torch.Tensor | None:
    """``fn(x)`` computed tile by tile, under ``torch.no_grad()``.

    Parameters
    ----------
    fn : callable
        ``(1, C, h, w) -> (1, C', h * scale, w * scale)``, position-equivariant (a conv net
        in eval mode).
    x : tensor, shape (1, C, H, W)
        The input image.
    scale : int
        Output size / input size (1 for a denoiser).
    tile : int
        Largest tile side, in input pixels (overlap included).
    overlap : int
        Input pixels added on each side of a core; the result is exact when it is at least
        the network's receptive radius.
    multiple : int
        Tile offsets are multiples of this (2 for a network that unshuffles 2x2 cells).
    write : callable, optional
        ``write(rows, cols, piece)`` receives each kept output piece ``(1, C', h', w')`` and
        the output rows and columns it covers, instead of a preallocated float32 result
        (e.g. to convert straight into a uint8 array: a quarter of the memory).

    Returns
    -------
    tensor, shape (1, C', H * scale, W * scale); None when ``write`` is given.

    Raises
    ------
    InvalidArgument
        ``x`` is not one image, ``tile`` cannot hold the overlap, or ``fn`` returns the wrong
        size.
    """
    import torch

    if x.ndim != 4 or x.shape[0] != 1:
        raise InvalidArgument(f"tiled takes one image (1, C, H, W), got shape {tuple(x.shape)}")
    if tile < 1 or overlap < 0 or scale < 1 or multiple < 1:
        raise InvalidArgument(
            f"tile, scale and multiple must be >= 1 and overlap >= 0, got tile={tile}, "
            f"scale={scale}, overlap={overlap}, multiple={multiple}"
        )
    h, w = x.shape[-2:]
    with torch.no_grad():
        if h <= tile and w <= tile:
            y = _checked(fn(x), x, scale)
            if write is None:
                return y
            write(slice(0, h * scale), slice(0, w * scale), y)
            return None
        rows = list(tile_grid(h, tile, overlap, multiple))
        cols = list(tile_grid(w, tile, overlap, multiple))
        out: torch.Tensor | None = None
        s = scale
        for r0, r1, t0, t1 in rows:
            for c0, c1, u0, u1 in cols:
                y = _checked(fn(x[..., t0:t1, u0:u1]), x[..., t0:t1, u0:u1], s)
                piece = y[..., (r0 - t0) * s : (r1 - t0) * s, (c0 - u0) * s : (c1 - u0) * s]
                where = (slice(r0 * s, r1 * s), slice(c0 * s, c1 * s))
                if write is not None:
                    write(*where, piece)
                else:
                    if out is None:
                        out = y.new_empty((1, y.shape[1], h * s, w * s))
                    out[..., where[0], where[1]] = piece
                del y, piece
    return out


def _checked(y: torch.Tensor, x: torch.Tensor, scale: int) -> torch.Tensor:
    want = (x.shape[-2] * scale, x.shape[-1] * scale)
    if y.ndim != 4 or y.shape[0] != 1 or tuple(y.shape[-2:]) != want:
        raise InvalidArgument(
            f"the network turned a {tuple(x.shape[-2:])} tile into {tuple(y.shape)}, "
            f"expected (1, C, {want[0]}, {want[1]}) for scale {scale}"
        )
    return y
