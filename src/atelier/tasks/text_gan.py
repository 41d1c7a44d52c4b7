"""Images from text with a text-conditional GAN (``atelier train text-gan``; Reed et al. 2016).

A text-GAN folder (a training run) holds ``model.json`` + ``model.safetensors`` (the
generator's EMA weights, with its own text encoder, and the discriminator) and
``tokenizer.json``. :func:`load_text_gan` reads them into a :class:`TextGANModel`;
:func:`generate_text_gan` draws images for prompts (one generator pass: no sampling steps,
no guidance) or walks between two prompts' text embeddings (GAN-INT's interpolation, Reed et
al. 2016, figure 5: the same noise, the embedding moving from one caption to the other).

Prompts are checked as the diffusion models check theirs
(:func:`atelier.tasks.diffusion_model.check_prompt`): an empty prompt, or one of only words
the model never saw, is an ``InvalidArgument`` naming the unknown words and the share of the
prompt the vocabulary covers; some unknown words give a warning and are read as ``[UNK]``.

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> from atelier.text import CaptionTokenizer
>>> tok = CaptionTokenizer.train(["a red circle", "a blue square"])
>>> net = build_model("text-gan", {"resolution": 16, "width": 8, "vocab_size": tok.vocab_size,
...                                "text_dim": 16, "text_layers": 1, "text_heads": 2})
>>> images = generate_text_gan(TextGANModel(net.eval(), tok), ["a red circle", "a blue square"], n=4, seed=0)
>>> images.shape, images.dtype
((4, 16, 16, 3), dtype('uint8'))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from atelier.errors import AtelierError, InvalidArgument
from atelier.tasks.diffusion_model import ImageNet

__all__ = ["MODEL_NAME", "TextGANModel", "load_text_gan", "generate_text_gan", "is_text_gan_source"]

#: The registered model family of a text-GAN folder.
MODEL_NAME = "text-gan"
#: Images per generator call.
BATCH = 64


@dataclass
class TextGANModel(ImageNet):
    """A text GAN ready to sample: the network (:class:`~atelier.models.text_gan.TextGAN`),
    its tokenizer and a name for messages."""

    net: torch.nn.Module
    tokenizer: Any
    name: str = "the text GAN"

    def __post_init__(self) -> None:
        if getattr(type(self.net), "model_name", None) != MODEL_NAME:
            raise InvalidArgument(f"{self.name}: net must be an atelier text-gan model, got {type(self.net).__name__}")
        if self.tokenizer is None or self.tokenizer.vocab_size > self.net.config.vocab_size:
            raise InvalidArgument(
                f"{self.name}: the tokenizer does not belong to the model (it needs one of at most "
                f"{self.net.config.vocab_size} ids, a run's tokenizer.json)"
            )



def _model_name_of(folder: Path) -> str | None:
    from atelier.tasks.diffusion_model import _model_name_of as read

    return read(folder)


def _folder(source: str | os.PathLike) -> Path:
    path = Path(source).expanduser()
    return path.parent if path.is_file() and path.name.endswith(".safetensors") else path


def is_text_gan_source(source: Any) -> bool:
    """True for a :class:`TextGANModel` or a folder (or its ``model.safetensors``) whose
    ``model.json`` names the ``text-gan`` model."""
    if isinstance(source, TextGANModel):
        return True
    if not isinstance(source, (str, os.PathLike)):
        return False
    folder = _folder(source)
    return folder.is_dir() and _model_name_of(folder) == MODEL_NAME


def load_text_gan(source: Any, device: str | torch.device = "cpu") -> TextGANModel:
    """A :class:`TextGANModel` from a run folder of ``atelier train text-gan`` (or its
    ``model.safetensors``), a shipped name, or a ``TextGANModel`` (moved to ``device``).

    Every failure (no such folder, a folder of another model, no ``tokenizer.json``, a
    corrupt file) is one ``InvalidArgument`` line.
    """
    from atelier.devices import resolve_device
    from atelier.models import load_model
    from atelier.pretrained import PRETRAINED, is_installed, pretrained_dir
    from atelier.text import TOKENIZER_FILE, CaptionTokenizer

    dev = resolve_device(device)
    if isinstance(source, TextGANModel):
        source.net.to(dev)
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidArgument(f"a text GAN is a run folder or a shipped name, got {type(source).__name__}")
    what = str(source)
    if isinstance(source, str) and source in PRETRAINED:
        spec = PRETRAINED[source]
        if spec.task != MODEL_NAME:
            raise InvalidArgument(f"{source!r} is a shipped {spec.task} model, not a text GAN")
        if not is_installed(source):
            raise InvalidArgument(
                f"the shipped model {source!r} is not trained yet in this install; train it with "
                f"`{spec.train_command}` and use that run folder"
            )
        folder, what = pretrained_dir(source), f"the shipped model {source!r}"
    else:
        folder = _folder(source)
        if not folder.exists():
            raise InvalidArgument(f"{source}: no such run folder (train one with `atelier train text-gan`)")
        if not folder.is_dir():
            raise InvalidArgument(f"{source} is a file; give a run folder (model.json, model.safetensors, tokenizer.json)")
    kind = _model_name_of(folder)
    if kind is not None and kind != MODEL_NAME:
        raise InvalidArgument(f"{what} holds a {kind} model, not a text GAN")
    if not (folder / TOKENIZER_FILE).is_file():
        raise InvalidArgument(f"{what} has no {TOKENIZER_FILE} (a text-gan training run writes it beside model.json)")
    try:
        net = load_model(folder, device=str(dev))
        tokenizer = CaptionTokenizer.load(folder)
    except AtelierError as exc:
        raise InvalidArgument(" ".join(f"cannot load {what}: {exc}".split())) from None
    return TextGANModel(net.eval(), tokenizer, what)


def _tokens(model: TextGANModel, prompts: Sequence[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded ids and mask of the distinct ``prompts``, each checked (:func:`check_prompt`)."""
    from atelier.tasks.diffusion_model import check_prompt

    tok = model.tokenizer
    rows = [check_prompt(p, tok, int(model.net.config.text_max_length)) for p in prompts]
    ids = torch.full((len(rows), max(len(r) for r in rows)), tok.pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    ids = ids.to(device)
    return ids, ids != tok.pad_id


def generate_text_gan(
    model: Any,
    prompts: Sequence[str] | str,
    n: int,
    seed: int = 0,
    *,
    interpolate: tuple[str, str] | None = None,
) -> np.ndarray:
    """``n`` images ``(n, H, W, C)`` uint8 for ``prompts``, cycled over the images.

    Parameters
    ----------
    model : TextGANModel, or a run folder / shipped name (loaded with :func:`load_text_gan`).
    prompts : the descriptions (a list, or one string for every image).
    n : number of images.
    seed : seed of the noise (and of the conditioning augmentation's draw): the same seed on
        the same device gives the same images, whatever ``n``'s batching.
    interpolate : ``(a, b)``: instead of ``prompts`` (give ``[]``), ``n`` images from one
        noise whose text embedding moves from ``a``'s (first image) to ``b``'s (last image)
        in equal steps (GAN-INT, Reed et al. 2016).

    Raises ``InvalidArgument`` for bad prompts (empty, or no known word), ``n`` < 1, a
    non-integer seed, or prompts given together with ``interpolate``.
    """
    from atelier.tasks.diffusion_model import sampling_mode

    if not isinstance(model, TextGANModel):
        model = load_text_gan(model)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidArgument(f"n must be an integer of 1 or more, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidArgument(f"seed must be an integer, got {seed!r}")
    n = int(n)
    texts = [prompts] if isinstance(prompts, str) else list(prompts or [])
    if interpolate is not None:
        if texts:
            raise InvalidArgument("give either prompts or interpolate=(a, b), not both (pass prompts=[])")
        if not isinstance(interpolate, (tuple, list)) or len(interpolate) != 2:
            raise InvalidArgument(f"interpolate must be two prompts (a, b), got {interpolate!r:.80}")
        texts = list(interpolate)
    elif not texts:
        raise InvalidArgument("give at least one prompt, e.g. 'a red circle'")
    net, c, device = model.net, model.net.config, model.device
    G = net.generator
    noise = torch.Generator().manual_seed(int(seed))
    distinct = list(dict.fromkeys(texts))
    with sampling_mode(net):
        ids, mask = _tokens(model, distinct, device)
        pooled = G.embed(ids, mask)
        if interpolate is not None:
            z = torch.randn(1, c.latent_dim, generator=noise).repeat(n, 1)
            eps = torch.randn(1, c.cond_dim, generator=noise).repeat(n, 1)
            beta = torch.linspace(0.0, 1.0, n) if n > 1 else torch.tensor([0.5])
            beta = beta.to(device)[:, None]
            pa, pb = pooled[distinct.index(texts[0])], pooled[distinct.index(texts[1])]
            rows = (1.0 - beta) * pa + beta * pb
        else:
            z = torch.randn(n, c.latent_dim, generator=noise)
            eps = torch.randn(n, c.cond_dim, generator=noise)
            rows = pooled[torch.tensor([distinct.index(texts[i % len(texts)]) for i in range(n)], device=device)]
        out = []
        for start in range(0, n, BATCH):
            part = slice(start, start + BATCH)
            cond, _ = G.condition(rows[part], eps[part].to(device) if c.cond_augment else None)
            out.append(G.decode(z[part].to(device), cond).clamp(0, 1).float().cpu())
    images = torch.cat(out).permute(0, 2, 3, 1).numpy()
    return np.round(images * 255.0).astype(np.uint8)
