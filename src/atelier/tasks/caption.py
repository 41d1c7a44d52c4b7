"""Caption images with a trained captioner, and draw where it looked for each word.

``caption_images`` takes numpy images (any layout and dtype atelier loads: grey ``H x W``,
``H x W x 1/3/4``, uint8, uint16 or float32 in [0, 1]; RGBA is composited on white, grey
repeated to RGB) and a captioner: a run folder (``model.safetensors``, ``model.json`` and
``tokenizer.json``, as ``atelier train caption`` leaves them), a shipped name
(``caption-emoji``, ``caption-scenes``) or a ``load_caption_model`` result. The model and its
tokenizer are loaded once per call (pass a ``CaptionModel`` to reuse them across calls).
Each result is a dict:

    caption       the best beam's words
    log_prob      its summed natural-log probability
    score         its length-normalised score (GNMT penalty, what the beams are ranked by)
    words         the tokens it generated, as text ([EOS] excluded)
    alternatives  the other finished beams, best first: ``{"caption", "log_prob", "score"}``
    attention     ``(len(words), G, G)`` float32: the cross-attention map for each word

``attention_strip(image, result)`` draws, per word, the image with its attention map as a
heat map (bilinear upsampling of the grid, OpenCV's JET colormap) and the word under it,
tiles side by side (uint8 RGB).

Example
-------
>>> import numpy as np
>>> strip = attention_strip(np.zeros((32, 32, 3), np.uint8),
...                         {"words": ["a", "cat"], "attention": np.full((2, 2, 2), 0.25, np.float32)})
>>> strip.shape, strip.dtype
((188, 320, 3), dtype('uint8'))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from atelier.errors import InvalidArgument
from atelier.settings import check_int

__all__ = ["CaptionModel", "attention_strip", "caption_images", "load_caption_model", "prepare_image"]

#: Images encoded at once.
BATCH = 16
#: Side of each tile of an attention strip (the image is resized to fit it).
TILE = 160
_LABEL_HEIGHT = 28


@dataclass
class CaptionModel:
    """A loaded captioner and its tokenizer (eval mode, on ``device``)."""

    model: Any
    tokenizer: Any
    device: str
    source: str


def load_caption_model(source: Any = "caption-emoji", *, device: str = "cpu") -> CaptionModel:
    """Load a captioner and its tokenizer from a run folder, a ``model.safetensors`` path or a
    shipped name; every failure is one ``InvalidArgument`` line (a shipped model not yet
    trained says how to train it)."""
    from atelier.devices import resolve_device
    from atelier.pretrained import PRETRAINED, load_pretrained, load_restoration_model, pretrained_dir
    from atelier.text import CaptionTokenizer

    if isinstance(source, CaptionModel):
        return source
    device = str(resolve_device(device))
    if isinstance(source, str) and source in PRETRAINED:
        if PRETRAINED[source].task != "caption":
            raise InvalidArgument(f"model {source} is a shipped {PRETRAINED[source].task} model, not a captioner")
        model = load_pretrained(source, device=device)
        folder = pretrained_dir(source)
    else:
        if not isinstance(source, (str, os.PathLike)):
            raise InvalidArgument(f"model must be a run folder, a shipped name or a CaptionModel, got {type(source).__name__}")
        model = load_restoration_model(source, device=device)
        path = Path(source).expanduser()
        folder = path.parent if path.is_file() else path
    if getattr(model, "model_name", None) != "captioner":
        raise InvalidArgument(
            f"model {source} holds a {getattr(model, 'model_name', type(model).__name__)}, not a captioner; "
            "train one with `atelier train caption`"
        )
    tokenizer = CaptionTokenizer.load(folder)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise InvalidArgument(
            f"model {source}: its tokenizer.json has {tokenizer.vocab_size} ids but the model "
            f"{model.config.vocab_size}; they come from different runs"
        )
    return CaptionModel(model.eval(), tokenizer, device, str(source))


def prepare_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """``H x W x 3`` float32 RGB in [0, 1]: RGBA composited on white, grey repeated."""
    from atelier.arrays import check_image, to_float
    from atelier.image import composite_alpha

    check_image(image, name)
    f = to_float(image)
    if f.ndim == 2:
        f = f[..., None]
    if f.shape[2] == 4:
        f = composite_alpha(f)
    if f.shape[2] == 1:
        f = np.repeat(f, 3, axis=2)
    return np.clip(f, 0.0, 1.0)


def caption_images(
    images: Sequence[np.ndarray],
    model: Any = "caption-emoji",
    *,
    beam: int = 3,
    max_length: int | None = None,
    no_repeat_ngram: int = 0,
    alpha: float = 0.6,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Caption each image (see the module docstring for the result's fields).

    ``beam`` 1 is greedy decoding; ``max_length`` counts ``[BOS]`` and ``[EOS]`` (default:
    the model's). Raises ``InvalidArgument`` for a bad option or model, ``InvalidImage`` for
    an image that is not one.
    """
    import torch

    from atelier.models.caption_decode import generate
    from atelier.nets.efficientnet_lite0 import rgb_batch

    check_int(beam, "beam", 1)
    check_int(no_repeat_ngram, "no_repeat_ngram", 0)
    if max_length is not None:
        check_int(max_length, "max_length", 2)
    if isinstance(images, np.ndarray):
        images = [images]
    prepared = [prepare_image(img, f"image {i}") for i, img in enumerate(images)]
    loaded = load_caption_model(model, device=device)
    net, tok = loaded.model, loaded.tokenizer
    limit = net.config.max_length
    if max_length is not None and max_length > limit:
        raise InvalidArgument(f"max_length must be at most the model's {limit} ([BOS] and [EOS] included), got {max_length}")
    size = net.config.image_size
    specials = set(tok.special_ids)
    results: list[dict[str, Any]] = []
    for start in range(0, len(prepared), BATCH):
        chunk = prepared[start:start + BATCH]
        batch = torch.cat([
            rgb_batch(torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))[None], size, antialias=True)
            for f in chunk
        ]).to(loaded.device)
        hyps = generate(net, batch, beam=beam, max_length=max_length, alpha=alpha, no_repeat_ngram=no_repeat_ngram)
        for found in hyps:
            best = found[0]
            keep = [i for i, t in enumerate(best.tokens) if t not in specials]
            results.append({
                "caption": tok.decode(best.tokens),
                "log_prob": float(best.log_prob),
                "score": float(best.score),
                "words": [tok.decode([best.tokens[i]]).strip() or tok.id_to_token(best.tokens[i]) for i in keep],
                "alternatives": [
                    {"caption": tok.decode(h.tokens), "log_prob": float(h.log_prob), "score": float(h.score)}
                    for h in found[1:]
                ],
                "attention": best.attention[keep].float().cpu().numpy() if keep else
                np.zeros((0, *best.attention.shape[1:]), np.float32),
            })
    return results


def _fit(rgb: np.ndarray, side: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    import cv2

    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    inter = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(rgb, (nw, nh), interpolation=inter)
    canvas = np.full((side, side, 3), 255, np.uint8)
    y, x = (side - nh) // 2, (side - nw) // 2
    canvas[y:y + nh, x:x + nw] = small
    return canvas, (y, x, nh, nw)


def attention_strip(image: np.ndarray, result: dict[str, Any], *, tile: int = TILE, opacity: float = 0.5) -> np.ndarray:
    """One tile per generated word: the image (fitted into ``tile`` x ``tile``) under its
    attention map as a JET heat map, the word written below; tiles side by side.

    Returns ``H x W x 3`` uint8 RGB of width ``len(words) * tile`` (one plain tile of the
    image when no word was generated).
    """
    import cv2

    from atelier.arrays import to_uint8

    rgb = to_uint8(prepare_image(image))
    fitted, (y, x, nh, nw) = _fit(rgb, tile)
    words = list(result.get("words") or [])
    maps = np.asarray(result.get("attention", np.zeros((0, 1, 1))), np.float32)
    if len(words) != len(maps):
        raise InvalidArgument(f"the result has {len(words)} words but {len(maps)} attention maps")
    tiles = []
    for word, grid in zip(words, maps) if words else [("", None)]:
        canvas = np.full((tile + _LABEL_HEIGHT, tile, 3), 255, np.uint8)
        canvas[:tile] = fitted
        if grid is not None:
            g = grid - grid.min()
            g = g / g.max() if g.max() > 0 else g
            heat = cv2.resize(g, (nw, nh), interpolation=cv2.INTER_LINEAR)
            colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
            region = canvas[y:y + nh, x:x + nw].astype(np.float32)
            canvas[y:y + nh, x:x + nw] = np.clip(
                region * (1 - opacity) + colour.astype(np.float32) * opacity, 0, 255
            ).astype(np.uint8)
        font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.55, 1
        (tw, th), _ = cv2.getTextSize(word, font, scale, thick)
        while tw > tile - 4 and scale > 0.25:
            scale -= 0.05
            (tw, th), _ = cv2.getTextSize(word, font, scale, thick)
        org = (max(2, (tile - tw) // 2), tile + (_LABEL_HEIGHT + th) // 2)
        cv2.putText(canvas, word, org, font, scale, (0, 0, 0), thick, cv2.LINE_AA)
        tiles.append(canvas)
    return np.ascontiguousarray(np.concatenate(tiles, axis=1))
