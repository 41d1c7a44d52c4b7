"""A coarse picture of a prompt, read straight from the text states (``text_layout``).

``TextLayout`` maps the text encoder's states to a ``(B, C, side, side)`` image: one query per
cell of a ``side`` x ``side`` grid (the fixed 2D sine-cosine embedding of its place, through a
linear layer), two pre-norm Transformer blocks (self-attention among the cells,
cross-attention to the prompt's tokens, MLP), a linear layer to ``C`` values per cell.

Why: a diffusion U-Net learns from its loss alone which words of a prompt belong where only
slowly, because most of that loss is spent on denoising pixels the prompt does not decide.
The diffusion objective trains this head with a direct regression loss (the clean image
average-pooled to ``side``; ``hyper.layout_weight``), so the text encoder learns early which
words put which colour where; the U-Net gets the layout as extra input channels (nearest
upsampled to its first level) and refines it. It is a deterministic first stage of a cascade
(Imagen, Saharia et al. 2022, starts from a low-resolution diffusion model instead); a
prompt with several likely pictures gets their mean, which the U-Net still samples from.

``ObjectLayout`` draws the same picture object by object, so that a prompt naming a seen
size at an unseen place is drawn right. Every token may draw one object: two self-attention
blocks over the tokens bind each word to its phrase, then each token gives *where* (a softmax
over the cells), *what* (a ``stamp`` x ``stamp`` coverage in [0, 1] and a colour) and
whether it draws at all (padding never does); one query reads the background colour. The
picture is the background with every token's stamp placed at its location distribution
(``place_stamps``, a convolution: moving the place moves the stamp and leaves its shape). The
cell head must learn the extent of a "large" shape separately at every place it saw one; the
object head learns it once, so "large ... in the bottom row" works when large shapes were only
seen higher up (the ``scenes`` held-out split). Tokens rather than a fixed set of slots: a
slot must first learn which phrase is its own, a token already is one.

Example
-------
>>> import torch
>>> head = TextLayout(text_dim=32, heads=2, channels=3, side=6)
>>> states, mask = torch.randn(2, 5, 32), torch.ones(2, 5, dtype=torch.bool)
>>> head(states, mask).shape
torch.Size([2, 3, 6, 6])
>>> ObjectLayout(text_dim=32, heads=2, channels=3, side=6)(states, mask).shape
torch.Size([2, 3, 6, 6])
"""

from __future__ import annotations

import torch
from torch import nn

from atelier.models.unet_blocks import position_embedding_2d
from atelier.nets.attention import TransformerBlock

__all__ = ["ObjectLayout", "TextLayout", "place_stamps"]


class TextLayout(nn.Module):
    """``(states (B, L, text_dim), mask (B, L) bool) -> (B, channels, side, side)``."""

    def __init__(self, text_dim: int, heads: int, channels: int, side: int, blocks: int = 2) -> None:
        super().__init__()
        self.side = side
        self.query = nn.Linear(text_dim, text_dim)
        self.blocks = nn.ModuleList(TransformerBlock(text_dim, heads, 0.0, context_dim=text_dim) for _ in range(blocks))
        self.norm = nn.LayerNorm(text_dim)
        self.out = nn.Linear(text_dim, channels)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, _, d = states.shape
        place = position_embedding_2d(self.side, self.side, d, states.device, states.dtype)
        x = self.query(place).expand(b, -1, -1)
        for block in self.blocks:
            x = block(x, block.cross_attn.keys_values(states), context_mask=mask)[0]
        return self.out(self.norm(x)).transpose(1, 2).reshape(b, -1, self.side, self.side)


def place_stamps(where: torch.Tensor, stamps: torch.Tensor) -> torch.Tensor:
    """Each stamp placed at its location distribution: ``where`` ``(B, K, S, S)`` (weights over
    the cells, summing to 1 per object), ``stamps`` ``(B, K, s, s)`` with ``s`` odd and centred
    -> ``(B, K, S, S)``, ``sum_c where[c] * stamp(y - c)`` (parts beyond the border drop).

    Example
    -------
    >>> where = torch.zeros(1, 1, 5, 5); where[0, 0, 4, 1] = 1.0
    >>> stamp = torch.zeros(1, 1, 3, 3); stamp[0, 0, 1, :] = 1.0   # a horizontal bar
    >>> place_stamps(where, stamp)[0, 0, 4].tolist()
    [1.0, 1.0, 1.0, 0.0, 0.0]
    """
    b, k, side, _ = where.shape
    s = stamps.shape[-1]
    # a convolution flips its kernel; flipping the stamp first makes this a placement
    kernel = stamps.flip(-1, -2).reshape(b * k, 1, s, s)
    placed = nn.functional.conv2d(where.reshape(1, b * k, side, side), kernel, padding=s // 2, groups=b * k)
    return placed.reshape(b, k, side, side)


class ObjectLayout(nn.Module):
    """``(states (B, L, text_dim), mask (B, L) bool) -> (B, channels, side, side)``: every
    token may draw one object (module docstring). ``stamp`` (odd) is the side of an object's
    coverage in cells; default the odd number at or below ``side // 2 + 1``."""

    def __init__(self, text_dim: int, heads: int, channels: int, side: int,
                 stamp: int | None = None, blocks: int = 2) -> None:
        super().__init__()
        self.side = side
        widest = side // 2 + 1
        self.stamp = stamp if stamp is not None else widest - (widest % 2 == 0)
        self.blocks = nn.ModuleList(TransformerBlock(text_dim, heads, 0.0) for _ in range(blocks))
        self.ground_query = nn.Parameter(torch.randn(1, 1, text_dim) * 0.02)
        self.ground = TransformerBlock(text_dim, heads, 0.0, context_dim=text_dim)
        self.norm = nn.LayerNorm(text_dim)
        self.where = nn.Linear(text_dim, side * side)
        self.coverage = nn.Linear(text_dim, self.stamp**2 + 1)  # the stamp's logits and a presence logit
        self.color = nn.Linear(text_dim, channels)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, _ = states.shape
        x = states
        for block in self.blocks:
            x = block(x, mask=mask)[0]
        ground = self.ground(self.ground_query.expand(b, -1, -1), self.ground.cross_attn.keys_values(x),
                             context_mask=mask)[0]
        objects, ground = self.norm(x), self.norm(ground)
        s = self.stamp
        where = self.where(objects).softmax(-1).reshape(b, length, self.side, self.side)
        logits = self.coverage(objects)
        present = torch.sigmoid(logits[..., -1:, None]) * mask[..., None, None]
        stamps = torch.sigmoid(logits[..., :-1]).reshape(b, length, s, s) * present
        placed = place_stamps(where, stamps)  # (B, L, S, S)
        ground_color = self.color(ground)  # (B, 1, C)
        shift = self.color(objects) - ground_color  # (B, L, C)
        return ground_color[:, 0, :, None, None] + torch.einsum("blhw,blc->bchw", placed, shift)
