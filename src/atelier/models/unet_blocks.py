"""The layers of the diffusion U-Net (:mod:`atelier.models.unet`).

- :func:`timestep_embedding` — DDPM's sinusoidal embedding of (integer or fractional)
  timesteps.
- :class:`ResBlock` — improved DDPM's residual block: GroupNorm, SiLU, 3x3 conv; the time
  embedding as a per-channel scale and shift of the second GroupNorm (FiLM,
  ``use_scale_shift_norm``); SiLU, dropout, a zero-initialised 3x3 conv; a 1x1 conv on the
  skip when the width changes.
- :class:`SelfAttention2d` — ADM's attention block: GroupNorm, multi-head self-attention
  over the ``H * W`` positions, a zero-initialised output projection, residual.
- :class:`SpatialTransformer` — Stable Diffusion's block: GroupNorm, 1x1 conv in, a pre-norm
  Transformer block (self-attention, cross-attention to the text states, MLP), a
  zero-initialised 1x1 conv out, residual.
- :func:`position_embedding_2d` — a fixed 2D sine-cosine embedding of the token positions
  (ViT/DiT), which an attention block can add to its tokens (``position_embedding=True``).
- :class:`Downsample` (stride-2 3x3 conv), :class:`Upsample` (nearest x2 then 3x3 conv).

Every block takes ``(B, C, H, W)`` in either memory format (contiguous or channels-last)
and returns the same shape. The zero-initialised layers make every block start as the
identity, as in improved DDPM (Nichol & Dhariwal 2021).

Example
-------
>>> import torch
>>> timestep_embedding(torch.tensor([0, 10]), 8).shape
torch.Size([2, 8])
>>> block = ResBlock(16, 32, emb_dim=64)
>>> block(torch.randn(2, 16, 8, 8), torch.randn(2, 64)).shape
torch.Size([2, 32, 8, 8])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from atelier.nets.attention import MultiHeadAttention, TransformerBlock

__all__ = [
    "timestep_embedding",
    "group_norm",
    "zero_",
    "ResBlock",
    "SelfAttention2d",
    "SpatialTransformer",
    "position_embedding_2d",
    "Downsample",
    "Upsample",
]

MAX_GROUPS = 32


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """``(B,)`` timesteps -> ``(B, dim)``: ``[cos(t f_0..f_h-1), sin(t f_0..f_h-1)]`` with
    ``f_i = max_period ** (-i / h)``, ``h = dim // 2`` (zero-padded when ``dim`` is odd).

    Reference: Vaswani et al. 2017 (positional encoding); the form of improved DDPM's
    ``timestep_embedding`` (``guided_diffusion/nn.py``).
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with the largest number of groups up to 32 that divides ``channels``."""
    groups = next(g for g in range(min(MAX_GROUPS, channels), 0, -1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def zero_(module: nn.Module) -> nn.Module:
    """Zero every parameter of ``module`` in place (improved DDPM's ``zero_module``)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """``(x (B, cin, H, W), emb (B, emb_dim)) -> (B, cout, H, W)``; see the module docstring."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(group_norm(cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * cout))
        self.out_norm = group_norm(cout)
        self.out_layers = nn.Sequential(nn.SiLU(), nn.Dropout(dropout), zero_(nn.Conv2d(cout, cout, 3, padding=1)))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.out_layers(self.out_norm(h) * (1 + scale) + shift)
        return self.skip(x) + h


def position_embedding_2d(height: int, width: int, dim: int, device=None, dtype=None) -> torch.Tensor:
    """``(height * width, dim)`` row-major: half of the channels encode the row, half the
    column, each as ``[sin(pi u f), cos(pi u f)]`` with ``u`` the centre of the cell in [0, 1]
    and ``f`` geometric from 1 to the side (so the embedding means the same place in the image
    at every level and every image size). ``dim`` not a multiple of 4 is zero-padded.

    Why: convolutions learn absolute position only through the zero padding; scenes' captions
    name positions ("at the top left"), which the cross-attention matches far sooner when
    its queries carry their place (as ViT and DiT tokens do).

    >>> position_embedding_2d(6, 6, 64).shape
    torch.Size([36, 64])
    """
    n = dim // 4
    side = max(height, width)
    freqs = torch.exp(torch.linspace(0.0, math.log(max(side, 2)), max(n, 1), device=device))[:n]

    def axis(length: int) -> torch.Tensor:
        u = (torch.arange(length, dtype=torch.float32, device=device) + 0.5) / length
        angles = math.pi * u[:, None] * freqs[None]
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)  # (length, 2n)

    rows = axis(height)[:, None, :].expand(height, width, 2 * n)
    cols = axis(width)[None, :, :].expand(height, width, 2 * n)
    emb = torch.cat([rows, cols], dim=-1).reshape(height * width, 4 * n)
    return F.pad(emb, (0, dim - 4 * n)).to(dtype or torch.float32)


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, H * W, C)`` (row-major positions)."""
    return x.flatten(2).transpose(1, 2)


def _grid(tokens: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(B, H * W, C)`` -> ``(B, C, H, W)`` shaped like ``like``."""
    return tokens.transpose(1, 2).reshape(like.shape)


class SelfAttention2d(nn.Module):
    """``(B, C, H, W) -> (B, C, H, W)``: ``x + proj(attention(norm(x)))`` over the positions."""

    def __init__(self, channels: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.attn = MultiHeadAttention(channels, heads, dropout)
        zero_(self.attn.proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + _grid(self.attn(_tokens(self.norm(x)))[0], x)


class SpatialTransformer(nn.Module):
    """``(x (B, C, H, W), context (B, S, context_dim), context_mask (B, S)) -> (B, C, H, W)``.

    Stable Diffusion's ``SpatialTransformer`` with one block (its ``BasicTransformerBlock``:
    self-attention, cross-attention, feed-forward, pre-norm; a GELU MLP for its GEGLU).
    With ``position_embedding`` the tokens get :func:`position_embedding_2d` before the block.
    """

    def __init__(
        self, channels: int, heads: int, context_dim: int, dropout: float = 0.0, position_embedding: bool = False
    ) -> None:
        super().__init__()
        self.position_embedding = position_embedding
        self.norm = group_norm(channels)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.block = TransformerBlock(channels, heads, dropout, context_dim=context_dim)
        self.proj_out = zero_(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        h = self.proj_in(self.norm(x))
        kv = self.block.cross_attn.keys_values(context)
        tokens = _tokens(h)
        if self.position_embedding:
            tokens = tokens + position_embedding_2d(*x.shape[2:], x.shape[1], x.device, x.dtype)
        h = self.block(tokens, kv, context_mask=context_mask)[0]
        return x + self.proj_out(_grid(h, x))


class Downsample(nn.Module):
    """``(B, C, H, W) -> (B, C, H / 2, W / 2)``: a stride-2 3x3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """``(B, C, H, W) -> (B, C, 2H, 2W)``: nearest-neighbour x2, then a 3x3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
