"""The denoising U-Net of atelier's diffusion models (model ``diffusion``).

DDPM's U-Net (Ho et al. 2020) with improved DDPM's changes (Nichol & Dhariwal 2021) at small
scale, and Stable Diffusion's cross-attention to text (Rombach et al. 2022):

- ``len(channel_mults)`` levels of ``res_blocks`` residual blocks of ``width * mult``
  channels, a stride-2 conv between levels, skips to a mirrored up path (nearest x2 + conv);
  a middle of residual block, attention, residual block.
- residual blocks of GroupNorm (up to 32 groups) and SiLU; the time embedding (sinusoidal,
  then a two-layer MLP to ``4 * width``) enters every block as a per-channel scale and
  shift of its second GroupNorm (FiLM, improved DDPM's ``use_scale_shift_norm``).
- attention at the sides listed in ``attention_resolutions`` and in the middle: multi-head
  self-attention for ``cond="none"``/``"label"``; Stable Diffusion's ``SpatialTransformer``
  (self-attention, cross-attention to the text states, MLP; pre-norm) for ``cond="text"``.
- the last conv of every residual branch, every attention output and the output conv start
  at zero (improved DDPM): the untrained network returns 0 and each block the identity.

Conditioning (``cond``):

- ``"none"``: unconditional.
- ``"label"``: a learned class embedding added to the time embedding; ``num_classes + 1``
  rows, the last (``model.null_label``) is the "no label" of classifier-free guidance.
- ``"text"``: token ids from a :class:`~atelier.text.CaptionTokenizer` through the model's
  own :class:`~atelier.text.encoder.TextEncoder` (``model.text_encoder``, trained jointly);
  its states feed the cross-attention, its pooled state (masked mean) is projected and added
  to the time embedding. With ``text_layout`` a :class:`~atelier.models.text_layout.TextLayout`
  head also draws a coarse picture of the prompt from the states, given to the U-Net as
  extra input channels (nearest-upsampled to the first level). The "no text" of guidance
  is a learned null state (``model.null_text``, ``text_dim``): a dropped row reads one key,
  that state, and pools it.

Why the model owns its text encoder (one module, not a U-Net plus a separate encoder): the
two are trained together and used together, so one ``model.safetensors`` and one
``model.json`` rebuild both (``load_model`` needs nothing else but ``tokenizer.json``), the
objective has one set of parameters to optimise, EMA and save, and the config says in one
place which encoder a U-Net was trained with. A sampling loop that wants to run the encoder
once per prompt still can: :meth:`DiffusionUNet.encode_text` returns a :class:`TextContext`
that ``forward(..., text=context)`` takes instead of token ids.

``forward(x_t, t, *, labels=None, tokens=None, token_mask=None, drop=None, text=None)``:

- ``x_t`` ``(B, C, H, W)``: the noisy sample in the diffusion space (data scaled to [-1, 1]
  with :func:`~atelier.models.layers.to_signed`, plus noise; the objective and the sampler
  convert). ``H`` and ``W`` are multiples of ``2 ** (levels - 1)``; contiguous or
  channels-last (``model.to(memory_format=torch.channels_last)`` works too).
- ``t`` ``(B,)`` or a scalar: timesteps, integer or fractional (the sinusoidal embedding
  takes any real value; DDPM's are ``0 .. T - 1``).
- ``labels`` ``(B,)`` int64 for ``cond="label"``, ``null_label`` allowed.
- ``tokens`` ``(B, L)`` int64, ``L <= text_max_length``, and ``token_mask`` ``(B, L)`` bool
  (default ``tokens != [PAD]``) for ``cond="text"``; or ``text``, a :class:`TextContext`.
- ``drop`` ``(B,)`` bool: rows that get the null condition (condition dropout in training,
  the unconditional half of classifier-free guidance in sampling).

Returns ``(B, C, H, W)``: the prediction the objective trains (ε or v).

Sizes (``count_parameters``; 8-bit = the ``quantize_state`` file that ``ship_run(bits=8)``
writes): the default config (32 px, ``width`` 64, ``channel_mults`` (1, 2, 2), ``res_blocks``
2, attention at 16 and 8 px) has 7,280,707 parameters unconditional and 7,283,523 with
``cond="label"`` (10 classes); with ``cond="text"`` 12,888,259, of which the text encoder
(256 wide, 3 blocks, ``vocab_size`` 1000) is 2,633,984. The 48 px text model of ``scenes``
(``attention_resolutions`` (24, 12), ``vocab_size`` 64) has 12,648,643 and an 8-bit file of
13.1 MB; ``width`` 48 would bring it to 8,320,275.

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> net = build_model("diffusion", {"resolution": 16, "channels": 1, "width": 16, "channel_mults": [1, 2],
...                                 "attention_resolutions": [8], "cond": "text", "vocab_size": 20,
...                                 "text_dim": 32, "text_layers": 1}).eval()
>>> x_t, t = torch.randn(2, 1, 16, 16), torch.tensor([10, 500])
>>> tokens = torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])
>>> net(x_t, t, tokens=tokens).shape
torch.Size([2, 1, 16, 16])
>>> guided = net(x_t.repeat(2, 1, 1, 1), t.repeat(2), tokens=tokens.repeat(2, 1),
...              drop=torch.tensor([False, False, True, True]))
>>> guided.shape
torch.Size([4, 1, 16, 16])

Reference
---------
J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
A. Nichol, P. Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021
(``guided_diffusion/unet.py``). R. Rombach et al., "High-Resolution Image Synthesis with
Latent Diffusion Models", CVPR 2022 (``ldm/modules/attention.py``). J. Ho, T. Salimans,
"Classifier-Free Diffusion Guidance", 2022.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn

from atelier.errors import InvalidArgument
from atelier.models.registry import ModelConfig, check_range, register_model
from atelier.models.unet_blocks import (
    Downsample,
    ResBlock,
    SelfAttention2d,
    SpatialTransformer,
    Upsample,
    group_norm,
    timestep_embedding,
    zero_,
)
from atelier.models.text_layout import ObjectLayout, TextLayout
from atelier.text.encoder import PAD_ID, TextEncoder

__all__ = ["DIFFUSION_RESOLUTIONS", "DiffusionConfig", "DiffusionUNet", "TextContext"]

#: Sides the diffusion U-Net trains at (48: the ``scenes`` text-to-image model).
DIFFUSION_RESOLUTIONS = (16, 32, 48, 64, 128)
Cond = Literal["none", "label", "text"]
LayoutHead = Literal["cells", "objects"]


@dataclass
class DiffusionConfig(ModelConfig):
    """Diffusion U-Net hyper-parameters (the constructor arguments, saved in ``model.json``).

    resolution : side of the square training images (16, 32, 48, 64, 128).
    channels : 1 (grey) or 3 (RGB).
    width : channels of the first level; the time embedding has ``4 * width``.
    channel_mults : one multiplier of ``width`` per level; ``levels - 1`` halvings, so
        ``resolution`` must be divisible by ``2 ** (levels - 1)``.
    res_blocks : residual blocks per level on the way down (one more on the way up).
    attention_resolutions : sides (in pixels) of the levels with attention, e.g. (16, 8) at
        32 px, (24, 12) at 48 px; the middle always has it.
    heads : attention heads of the U-Net (must divide the channels at every attention level).
    dropout : in the residual blocks, the attention and the text encoder.
    patch_size : 1, 2 or 4: the U-Net works on ``patch_size`` x ``patch_size`` patches of
        pixels folded into channels (``pixel_unshuffle`` in, ``pixel_shuffle`` out, as DiT
        and "simple diffusion" patchify), so its first level is ``resolution / patch_size``
        wide: 2 makes a 48 px model about 4x cheaper per step. ``attention_resolutions`` and
        the divisibility rule count the patched sides.
    position_embedding : add a fixed 2D sine-cosine embedding of the place to the tokens
        of every text attention block (``cond="text"``), so prompts that name positions are
        matched by the cross-attention without first learning position from the padding.
    text_layout : 0, or the side of a coarse picture of the prompt that a
        :class:`~atelier.models.text_layout.TextLayout` head reads from the text states
        (``cond="text"``); the U-Net takes it as extra input channels and the objective
        trains the head to the average-pooled clean image. ``resolution / patch_size`` must
        be a multiple of it (12 at 48 px with patch 2 or 4).
    layout_head : ``"cells"`` (:class:`~atelier.models.text_layout.TextLayout`: every cell
        read from the prompt) or ``"objects"`` (:class:`~atelier.models.text_layout.ObjectLayout`:
        each token may draw one object, a coverage stamp placed at a location, on a background;
        a size or shape seen elsewhere is drawn the same at a new place).
    cond : ``"none"``, ``"label"`` or ``"text"`` (see the module docstring).
    num_classes : labels 0 .. num_classes - 1 (``cond="label"``); ``num_classes`` is null.
    vocab_size : ids of the tokenizer (``cond="text"``; a training run sets it from its
        tokenizer).
    text_dim, text_layers, text_heads, text_max_length : the text encoder's width, blocks,
        heads and longest prompt in tokens (``[BOS]`` and ``[EOS]`` included).
    """

    resolution: int = 32
    channels: int = 3
    width: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2)
    res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16, 8)
    heads: int = 4
    dropout: float = 0.1
    patch_size: int = 1
    position_embedding: bool = False
    text_layout: int = 0
    layout_head: LayoutHead = "cells"
    cond: Cond = "none"
    num_classes: int = 10
    vocab_size: int = 1000
    text_dim: int = 256
    text_layers: int = 3
    text_heads: int = 4
    text_max_length: int = 32

    @property
    def sides(self) -> list[int]:
        """The side of each level, from ``resolution`` down."""
        return [self.resolution // self.patch_size // 2**i for i in range(len(self.channel_mults))]

    def check(self) -> None:
        name = type(self).__name__
        self._check_image_fields(DIFFUSION_RESOLUTIONS)
        check_range(f"{name}.width", self.width, 8, 1024)
        levels = len(self.channel_mults)
        self._require(1 <= levels <= 6, "channel_mults", "a list of 1 to 6 multipliers, e.g. [1, 2, 2]")
        self._require(all(1 <= m <= 16 for m in self.channel_mults), "channel_mults", "integers from 1 to 16")
        self._require(self.patch_size in (1, 2, 4), "patch_size", "1, 2 or 4")
        self._require(
            not self.position_embedding or self.cond == "text",
            "position_embedding",
            "false unless cond is 'text' (it feeds the text cross-attention)",
        )
        if self.text_layout:
            side = self.resolution // self.patch_size
            self._require(
                self.cond == "text" and 2 <= self.text_layout <= side and side % self.text_layout == 0,
                "text_layout",
                f"0, or (with cond 'text') a divisor of resolution / patch_size ({side}) from 2 up, e.g. {side // 2}",
            )
        self._require(self.layout_head == "cells" or self.text_layout, "layout_head",
                      "'cells' unless text_layout is set (it picks that head)")
        halvings = levels - 1
        multiple = self.patch_size * 2**halvings
        self._require(
            self.resolution % multiple == 0,
            "resolution",
            f"divisible by {multiple}: patch_size {self.patch_size} and channel_mults of {levels} levels, "
            f"which halve the image {halvings} times; use fewer levels",
        )
        check_range(f"{name}.res_blocks", self.res_blocks, 1, 8)
        sides = self.sides
        self._require(
            all(s in sides for s in self.attention_resolutions),
            "attention_resolutions",
            f"sides this U-Net has ({', '.join(map(str, sides))} px at resolution {self.resolution})",
        )
        check_range(f"{name}.heads", self.heads, 1, 64)
        attended = {self.width * m for s, m in zip(sides, self.channel_mults) if s in self.attention_resolutions}
        attended.add(self.width * self.channel_mults[-1])  # the middle block
        self._require(
            all(ch % self.heads == 0 for ch in attended),
            "heads",
            f"a divisor of the channels of every attention level ({', '.join(map(str, sorted(attended)))})",
        )
        self._require(0.0 <= self.dropout < 1.0, "dropout", "a number in [0, 1)")
        if self.cond == "label":
            check_range(f"{name}.num_classes", self.num_classes, 2, 100_000)
        if self.cond == "text":
            check_range(f"{name}.vocab_size", self.vocab_size, 5, 1_000_000)
            check_range(f"{name}.text_dim", self.text_dim, 8, 2048)
            check_range(f"{name}.text_layers", self.text_layers, 1, 24)
            check_range(f"{name}.text_heads", self.text_heads, 1, 64)
            self._require(
                self.text_dim % self.text_heads == 0, "text_dim", f"a multiple of text_heads ({self.text_heads})"
            )
            check_range(f"{name}.text_max_length", self.text_max_length, 3, 512)


class TextContext(NamedTuple):
    """What the U-Net reads of a prompt: ``states`` ``(B, L, text_dim)``, ``mask`` ``(B, L)``
    bool (True = a real token) and ``pooled`` ``(B, text_dim)``."""

    states: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor


@register_model("diffusion", DiffusionConfig)
class DiffusionUNet(nn.Module):
    """Denoising U-Net for diffusion: unconditional, class- or text-conditional (CFG-ready).

    DDPM / improved DDPM / Stable Diffusion style, with a null condition for classifier-free
    guidance.

    ``forward(x_t (B, C, H, W), t (B,), *, labels=None, tokens=None, token_mask=None,
    drop=None, text=None) -> (B, C, H, W)``; see the module docstring.
    """

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = c = config
        emb = 4 * c.width
        self.time_embed = nn.Sequential(nn.Linear(c.width, emb), nn.SiLU(), nn.Linear(emb, emb))
        if c.cond == "label":
            self.label_embed = nn.Embedding(c.num_classes + 1, emb)
        if c.cond == "text":
            self.text_encoder = TextEncoder(
                c.vocab_size, c.text_dim, c.text_layers, c.text_heads, c.text_max_length, c.dropout
            )
            self.text_embed = nn.Linear(c.text_dim, emb)
            self.null_text = nn.Parameter(torch.randn(c.text_dim) * 0.02)

        folded = c.channels * c.patch_size**2  # channels of the patched image
        if c.text_layout:
            head = ObjectLayout if c.layout_head == "objects" else TextLayout
            self.text_layout = head(c.text_dim, c.text_heads, c.channels, c.text_layout)
        self.input_conv = nn.Conv2d(folded + (c.channels if c.text_layout else 0), c.width, 3, padding=1)
        ch, skips, side = c.width, [c.width], c.resolution // c.patch_size
        self.down = nn.ModuleList()  # one skip after each stage
        for level, mult in enumerate(c.channel_mults):
            for _ in range(c.res_blocks):
                stage = [ResBlock(ch, c.width * mult, emb, c.dropout)]
                ch = c.width * mult
                if side in c.attention_resolutions:
                    stage.append(self._attention(ch))
                self.down.append(nn.ModuleList(stage))
                skips.append(ch)
            if level < len(c.channel_mults) - 1:
                self.down.append(nn.ModuleList([Downsample(ch)]))
                skips.append(ch)
                side //= 2
        self.middle = nn.ModuleList(
            [ResBlock(ch, ch, emb, c.dropout), self._attention(ch), ResBlock(ch, ch, emb, c.dropout)]
        )
        self.up = nn.ModuleList()  # each stage takes one skip
        for level, mult in reversed(list(enumerate(c.channel_mults))):
            for i in range(c.res_blocks + 1):
                stage = [ResBlock(ch + skips.pop(), c.width * mult, emb, c.dropout)]
                ch = c.width * mult
                if side in c.attention_resolutions:
                    stage.append(self._attention(ch))
                if level > 0 and i == c.res_blocks:
                    stage.append(Upsample(ch))
                    side *= 2
                self.up.append(nn.ModuleList(stage))
        self.out = nn.Sequential(group_norm(ch), nn.SiLU(), zero_(nn.Conv2d(ch, folded, 3, padding=1)))

    def _attention(self, channels: int) -> nn.Module:
        c = self.config
        if c.cond == "text":
            return SpatialTransformer(channels, c.heads, c.text_dim, c.dropout, c.position_embedding)
        return SelfAttention2d(channels, c.heads, c.dropout)

    @property
    def null_label(self) -> int:
        """The label index of "no label" (``num_classes``; ``cond="label"`` only)."""
        if self.config.cond != "label":
            raise InvalidArgument(f"null_label is for class-conditional models; this one has cond={self.config.cond!r}")
        return self.config.num_classes

    # --- conditions -----------------------------------------------------------------------

    def encode_text(
        self, tokens: torch.Tensor, token_mask: torch.Tensor | None = None, *, drop: torch.Tensor | None = None
    ) -> TextContext:
        """Run the text encoder once: ``tokens`` ``(B, L)`` -> a :class:`TextContext` for
        ``forward(..., text=...)``; rows with ``drop`` True get the null text."""
        if self.config.cond != "text":
            raise InvalidArgument(self._cond_error("tokens"))
        mask = token_mask if token_mask is not None else tokens != PAD_ID
        states, pooled = self.text_encoder(tokens, mask)
        return self._drop_text(TextContext(states, mask, pooled), drop)

    def layout_of(self, text: TextContext) -> torch.Tensor:
        """The coarse picture of a prompt ``(B, channels, text_layout, text_layout)`` in the
        diffusion space ([-1, 1]), from :meth:`encode_text`'s context (``text_layout`` > 0)."""
        if not self.config.text_layout:
            raise InvalidArgument("this diffusion model has no text layout head (text_layout 0)")
        return self.text_layout(text.states, text.mask)

    def _drop_text(self, text: TextContext, drop: torch.Tensor | None) -> TextContext:
        """Rows with ``drop`` True become the null text: one key, ``null_text``, pooled as is."""
        if drop is None:
            return text
        drop = self._check_drop(drop, text.states.shape[0])
        null = self.null_text.to(text.states.dtype)
        states = torch.where(drop[:, None, None], null, text.states)
        first = torch.zeros_like(text.mask)
        first[:, 0] = True
        mask = torch.where(drop[:, None], first, text.mask)
        pooled = torch.where(drop[:, None], null, text.pooled)
        return TextContext(states, mask, pooled)

    def _cond_error(self, what: str) -> str:
        kinds = {"none": "unconditional", "label": "class-conditional", "text": "text-conditional"}
        takes = {"none": "no condition", "label": "labels", "text": "tokens (or text)"}
        c = self.config.cond
        return f"this diffusion model is {kinds[c]} (cond={c!r}): it takes {takes[c]}, got {what}"

    @staticmethod
    def _check_drop(drop: torch.Tensor, batch: int) -> torch.Tensor:
        if not isinstance(drop, torch.Tensor) or drop.dtype != torch.bool or tuple(drop.shape) != (batch,):
            shape = tuple(drop.shape) if isinstance(drop, torch.Tensor) else type(drop).__name__
            raise InvalidArgument(f"drop must be a ({batch},) bool tensor (True = no condition), got {shape}")
        return drop

    def _condition(self, emb, batch, labels, tokens, token_mask, drop, text):
        """The time embedding plus the condition's, and the text context (or None)."""
        c = self.config
        given = [n for n, v in (("labels", labels), ("tokens", tokens), ("text", text)) if v is not None]
        allowed = {"none": set(), "label": {"labels"}, "text": {"tokens", "text"}}[c.cond]
        if any(n not in allowed for n in given) or (c.cond == "text" and len(given) > 1):
            raise InvalidArgument(self._cond_error(" and ".join(given)))
        if c.cond != "none" and not given:
            raise InvalidArgument(self._cond_error("none") + "; use drop (B,) for the null condition")
        if c.cond == "none":
            if drop is not None:
                self._check_drop(drop, batch)
            return emb, None
        if c.cond == "label":
            if not isinstance(labels, torch.Tensor) or labels.shape != (batch,) or labels.is_floating_point() \
                    or labels.dtype == torch.bool:  # fmt: skip
                raise InvalidArgument(f"labels must be a ({batch},) integer tensor, got {labels!r:.60}")
            labels = labels.long()
            if drop is not None:
                labels = torch.where(self._check_drop(drop, batch), self.null_label, labels)
            return emb + self.label_embed(labels), None
        if drop is None:  # null_text stays in the graph: every process of a run gets its (zero) gradient
            drop = torch.zeros(batch, dtype=torch.bool, device=emb.device)
        if text is None:
            if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.shape[0] != batch:
                raise InvalidArgument(f"tokens must be a ({batch}, L) int64 tensor, got {tokens!r:.60}")
            text = self.encode_text(tokens, token_mask, drop=drop)
        else:
            text = self._drop_text(TextContext(*text), drop)
        return emb + self.text_embed(text.pooled), text

    # --- forward ----------------------------------------------------------------------------

    def _check_input(self, x_t: torch.Tensor) -> None:
        c = self.config
        multiple = c.patch_size * 2 ** (len(c.channel_mults) - 1)
        if x_t.ndim != 4 or x_t.shape[1] != c.channels or x_t.shape[2] % multiple or x_t.shape[3] % multiple:
            raise InvalidArgument(
                f"x_t must be (B, {c.channels}, H, W) with H and W multiples of {multiple}, got {tuple(x_t.shape)}"
            )

    @staticmethod
    def _timesteps(t, batch: int, device: torch.device) -> torch.Tensor:
        t = torch.as_tensor(t, device=device)
        if t.ndim == 0:
            t = t.expand(batch)
        if t.shape != (batch,) or t.dtype == torch.bool:
            raise InvalidArgument(f"t must be a number or a ({batch},) tensor of timesteps, got {tuple(t.shape)}")
        return t

    def _run(self, stage: nn.ModuleList, h: torch.Tensor, emb: torch.Tensor, text: TextContext | None):
        for layer in stage:
            if isinstance(layer, ResBlock):
                h = layer(h, emb)
            elif isinstance(layer, SpatialTransformer):
                h = layer(h, text.states, text.mask)
            else:
                h = layer(h)
        return h

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor | float,
        *,
        labels: torch.Tensor | None = None,
        tokens: torch.Tensor | None = None,
        token_mask: torch.Tensor | None = None,
        drop: torch.Tensor | None = None,
        text: TextContext | None = None,
        return_layout: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The prediction ``(B, C, H, W)`` for noisy ``x_t`` at timesteps ``t`` under a
        condition; with ``return_layout`` (``text_layout`` models) also the text layout
        head's picture ``(B, C, s, s)`` it used (the null prompt's for dropped rows), so a
        training step runs the text encoder and the head once."""
        self._check_input(x_t)
        batch = x_t.shape[0]
        t = self._timesteps(t, batch, x_t.device)
        emb = self.time_embed(timestep_embedding(t, self.config.width).to(x_t.dtype))
        emb, text = self._condition(emb, batch, labels, tokens, token_mask, drop, text)
        patch = self.config.patch_size
        h = nn.functional.pixel_unshuffle(x_t, patch) if patch > 1 else x_t
        layout = None
        if return_layout and not self.config.text_layout:
            raise InvalidArgument("this diffusion model has no text layout head (text_layout 0)")
        if self.config.text_layout:
            layout = self.layout_of(text)
            h = torch.cat([h, nn.functional.interpolate(layout, size=h.shape[-2:], mode="nearest")], dim=1)
        h = self.input_conv(h)
        skips = [h]
        for stage in self.down:
            h = self._run(stage, h, emb, text)
            skips.append(h)
        h = self._run(self.middle, h, emb, text)
        for stage in self.up:
            h = self._run(stage, torch.cat([h, skips.pop()], dim=1), emb, text)
        h = self.out(h)
        out = nn.functional.pixel_shuffle(h, patch) if patch > 1 else h
        return (out, layout) if return_layout else out
