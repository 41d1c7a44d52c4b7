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

Example
-------
>>> import torch
>>> head = TextLayout(text_dim=32, heads=2, channels=3, side=6)
>>> states, mask = torch.randn(2, 5, 32), torch.ones(2, 5, dtype=torch.bool)
>>> head(states, mask).shape
torch.Size([2, 3, 6, 6])
"""

from __future__ import annotations

import torch
from torch import nn

from atelier.models.unet_blocks import position_embedding_2d
from atelier.nets.attention import TransformerBlock

__all__ = ["TextLayout"]


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
