"""A small Transformer text encoder for text-to-image, trained jointly with the image model.

nanoGPT's shape without the causal mask (ANCHORS.md, text/): token + learned position
embeddings, ``layers`` pre-norm blocks of self-attention (through
``F.scaled_dot_product_attention``, with a key padding mask) and a GELU MLP, a final
LayerNorm. Token ids come from atelier's :class:`~atelier.text.CaptionTokenizer`
(``[PAD]`` 0, ``[BOS]`` 1, ``[EOS]`` 2, ``[UNK]`` 3; ``encode_batch`` gives padded ids).

``forward(ids (B, L), mask (B, L) bool = ids != PAD) -> (states (B, L, D), pooled (B, D))``:

- ``states`` — one vector per token, what cross-attention reads. Padding takes no part as a
  key, so adding ``[PAD]`` tokens to a batch leaves the states of the real tokens unchanged
  (the states at padded positions are computed but meaningless).
- ``pooled`` — the **masked mean** of the states over the real tokens (``[BOS]`` and
  ``[EOS]`` included). With non-causal attention every state already sees the whole prompt,
  so no single position is special (CLIP pools the ``[EOS]`` state because its encoder is
  causal: only the last token has seen everything); the mean also does not depend on the
  prompt's length or where the padding starts.

Every row needs at least one real token (``[BOS]`` is always there for tokenizer output).

Example
-------
>>> import torch
>>> from atelier.text import CaptionTokenizer
>>> tok = CaptionTokenizer.train(["a red circle", "a blue square"])
>>> ids, _ = tok.encode_batch(["a red circle", "a square"], max_length=8)
>>> encoder = TextEncoder(tok.vocab_size, d_model=32, layers=2, heads=4, max_length=8).eval()
>>> states, pooled = encoder(ids)
>>> states.shape, pooled.shape
(torch.Size([2, 8, 32]), torch.Size([2, 32]))
"""

from __future__ import annotations

import torch
from torch import nn

from atelier.errors import InvalidArgument
from atelier.nets.attention import TransformerBlock, init_gpt_
from atelier.text.tokenizer import PAD, SPECIAL_TOKENS

__all__ = ["TextEncoder", "PAD_ID", "masked_mean"]

#: The padding id of every atelier tokenizer.
PAD_ID = SPECIAL_TOKENS.index(PAD)


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, L, D)`` states, ``(B, L)`` bool mask -> ``(B, D)`` mean over the True positions."""
    weights = mask.to(states.dtype)[..., None]
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class TextEncoder(nn.Module):
    """Pre-norm Transformer encoder: ids ``(B, L)`` -> ``(states (B, L, d_model), pooled (B,
    d_model))``; see the module docstring.

    Parameters
    ----------
    vocab_size : ids of the tokenizer, special tokens included.
    d_model : width of the states; ``heads`` must divide it.
    layers, heads : Transformer blocks and attention heads.
    max_length : the most tokens a prompt may have (learned positions).
    dropout : on the embeddings, attention and residual branches.
    """

    def __init__(
        self, vocab_size: int, d_model: int = 256, layers: int = 3, heads: int = 4, max_length: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if d_model % heads:
            raise InvalidArgument(f"text encoder: heads ({heads}) must divide d_model ({d_model})")
        self.max_length = max_length
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_length, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, heads, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model)
        init_gpt_(self, layers)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``ids`` ``(B, L)`` int64 and ``mask`` ``(B, L)`` bool (True = a real token; default
        ``ids != [PAD]``) -> ``(states (B, L, D), pooled (B, D))``."""
        if ids.ndim != 2 or ids.dtype != torch.long:
            raise InvalidArgument(f"token ids must be a (B, L) int64 tensor, got {tuple(ids.shape)} {ids.dtype}")
        if ids.shape[1] > self.max_length:
            raise InvalidArgument(
                f"{ids.shape[1]} tokens is more than the text encoder's max_length {self.max_length}; "
                "encode prompts with max_length set to it"
            )
        if mask is None:
            mask = ids != PAD_ID
        elif mask.shape != ids.shape or mask.dtype != torch.bool:
            raise InvalidArgument(
                f"the token mask must be a bool tensor shaped like the ids {tuple(ids.shape)}, "
                f"got {tuple(mask.shape)} {mask.dtype}"
            )
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.drop(self.tok_emb(ids) + self.pos_emb(positions))
        for block in self.blocks:
            x = block(x, mask=mask)[0]
        states = self.ln_f(x)
        return states, masked_mean(states, mask)
