"""Evaluate a captioner on a captioned dataset: BLEU-1..4, CIDEr-D, ROUGE-L, exact match, word F1.

``evaluate_captioner(model, data, split="test")`` captions every image of one part of a
captioned dataset (``scenes``, ``shapes-captions``, a folder with ``metadata.jsonl``,
``coco:FILE.json``; :mod:`atelier.data.captioned`) and scores the captions against *all*
the reference captions of each image with :func:`atelier.metrics.caption_scores`.

The images are read as the run read them in training and validation
(:meth:`CaptionObjective.build_dataset <atelier.train.objectives.caption.CaptionObjective.build_dataset>`
and ``CaptionedDataset.valid_images``): the dataset is built at the run's ``data.size``
(default 128) and ``model.encode`` resizes to the encoder's ``image_size``. When ``data`` is
the data the run trained on, the run's other data settings apply too (``group_by``,
``test_fraction``, ``val_fraction``, ``length``, ``seed``, ...), so ``split="test"`` is the
held-out part the run never saw. The settings come from the run folder's ``config.json``, or
a shipped model's ``recipe.json``; other data is read with its own defaults.

Result (a dict of plain numbers, JSON-ready):

    n_images            images captioned (corrupt files skipped, ``skipped`` counts them)
    bleu_1 .. bleu_4    corpus BLEU, in [0, 1]
    cider_d             CIDEr-D, 0 to about 10 (document frequencies from these references)
    rouge_l, exact, word_f1   in [0, 1]
    seconds             wall time of reading, encoding and decoding the images
    captions_per_second n_images / seconds
    split, skipped      the part evaluated, the corrupt images met
    attributes          (``scenes``, ``shapes-captions``) :func:`scene_attribute_accuracy`:
                        shape, color, size, position, background, attributes (their mean),
                        objects, exact, parsed, n
    base                (caption files and COCO) the text metrics on the images whose
                        references name no skin tone (:func:`is_base_name`), with their own
                        ``n_images`` (only ``{"n_images": 0}`` when there is none)
    captions            (``keep_captions=True``) ``[{"image_id", "caption", "references"}]``

Example
-------
>>> from atelier.data import make_dataset
>>> from atelier.models import build_model
>>> from atelier.tasks.caption import CaptionModel
>>> from atelier.text import CaptionTokenizer
>>> texts = make_dataset("scenes", size=32, length=20, split="all").all_captions()
>>> tokenizer = CaptionTokenizer.train(texts, vocab_size=64)
>>> net = build_model("captioner", {"vocab_size": tokenizer.vocab_size, "pretrained": False,
...                                 "image_size": 64, "d_model": 16, "layers": 1, "heads": 2})
>>> untrained = CaptionModel(net.eval(), tokenizer, "cpu", "untrained")
>>> result = evaluate_captioner(untrained, "scenes", split="all", limit=4, max_length=6)
>>> result["n_images"], 0.0 <= result["bleu_4"] <= 1.0, sorted(result["attributes"])[:3]
(4, True, ['attributes', 'background', 'color'])
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence


from atelier.errors import InvalidArgument, InvalidImage
from atelier.settings import check_int

__all__ = ["TEXT_METRICS", "evaluate_captioner", "run_data_settings"]

#: The text metrics of a result, in table order.
TEXT_METRICS = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "cider_d", "rouge_l", "exact", "word_f1")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{path}: cannot read the run's settings ({exc}); is the run folder intact?") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{path}: not a JSON object; is the run folder intact?")
    return value


def run_data_settings(source: Any) -> tuple[str | None, dict[str, Any]]:
    """``(data, data_options)`` a captioner was trained with, or ``(None, {})`` when unknown.

    ``source`` is a run folder (its ``config.json``), a ``model.safetensors`` path (the
    ``config.json`` beside it), a shipped name (its ``recipe.json``) or a ``CaptionModel``
    (its ``source``).

    >>> run_data_settings("nowhere")
    (None, {})
    """
    from atelier.pretrained import PRETRAINED, pretrained_recipe

    source = getattr(source, "source", source)
    if isinstance(source, str) and source in PRETRAINED:
        found = pretrained_recipe(source) or {}
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        config = (path.parent if path.is_file() else path) / "config.json"
        found = _read_json(config) if config.is_file() else {}
    else:
        found = {}
    options = found.get("data_options") or {}
    data = found.get("data")
    return (data if isinstance(data, str) else None), (dict(options) if isinstance(options, dict) else {})


def _data_path(data: str) -> Path | None:
    for prefix in ("captions:", "coco:"):
        if data.startswith(prefix):
            data = data[len(prefix):]
    path = Path(data).expanduser()
    if path.name == "metadata.jsonl":
        path = path.parent
    return path.resolve() if path.exists() else None


def _same_data(a: str, b: str) -> bool:
    """True when two data strings name the same dataset (same name or same files)."""
    if a == b:
        return True
    pa, pb = _data_path(a), _data_path(b)
    return pa is not None and pa == pb


def _options_for(data: str, run_data: str | None, run_options: dict[str, Any]) -> dict[str, Any]:
    """The run's data settings for ``data``: all of them for its own data, else its size."""
    if run_data is not None and _same_data(data, run_data):
        return dict(run_options)
    return {k: v for k, v in run_options.items() if k == "size"}


def _check_split(split: Any) -> Any:
    if split is None:
        return "test"
    if isinstance(split, str) and not split.strip():
        raise InvalidArgument("split must name a part (test, val, train, all, ...), got an empty string")
    return split


def _scores(captions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, Any]:
    from atelier.metrics import caption_scores

    scores = caption_scores(list(captions), [list(r) for r in references])
    return {"n_images": len(captions), **{k: float(scores[k]) for k in TEXT_METRICS}}


def evaluate_captioner(
    model: Any,
    data: str,
    *,
    split: str | None = None,
    beam: int = 1,
    max_length: int | None = None,
    batch_size: int = 32,
    limit: int | None = None,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    keep_captions: bool = False,
) -> dict[str, Any]:
    """Caption the images of ``data``'s ``split`` and score them (see the module docstring).

    Parameters
    ----------
    model : str, path or CaptionModel
        A run folder of ``atelier train caption``, a shipped name, or a loaded model.
    data : str
        A captioned dataset (``scenes``, ``shapes-captions``, a folder with
        ``metadata.jsonl``, ``captions:PATH``, ``coco:FILE.json``).
    split : str or numeric split, optional
        A part name of the dataset (``test``, the default; ``val``, ``train``, ``all``;
        ``compositional`` for scenes) or image ids (``(start, stop)``, a list).
    beam : int
        Beam width; 1 is greedy decoding (as validation decodes).
    max_length : int, optional
        Longest caption in tokens, ``[BOS]`` and ``[EOS]`` included (default: the model's).
    batch_size : int
        Images encoded and decoded at once.
    limit : int, optional
        Caption only the first ``limit`` images of the part (image-id order).
    device : str
        ``cpu``, ``cuda``, ``auto``, ... (a loaded ``CaptionModel`` keeps its own).
    progress : callable, optional
        ``progress(done, total)``: once with ``done = 0`` when the images are known, then
        after each batch with the images captioned so far.
    keep_captions : bool
        Add ``captions``: one ``{"image_id", "caption", "references"}`` per image.

    Returns
    -------
    dict
        See the module docstring.

    Raises
    ------
    InvalidArgument
        A bad option, a model that is not a captioner, data without captions, an unknown
        or empty split.
    InvalidImage
        Every image of the part is corrupt.
    """
    import torch

    from atelier.models.caption_decode import generate
    from atelier.tasks.caption import load_caption_model
    from atelier.train.objectives.caption import CaptionObjective

    beam = check_int(beam, "beam", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    if limit is not None:
        limit = check_int(limit, "limit", 1)
    if max_length is not None:
        max_length = check_int(max_length, "max_length", 2)
    if not isinstance(data, (str, os.PathLike)):
        raise InvalidArgument(f"data must be a dataset name or path, got {type(data).__name__}")
    data = os.fspath(data)
    split = _check_split(split)
    loaded = load_caption_model(model, device=device)
    net, tokenizer = loaded.model, loaded.tokenizer
    if max_length is not None and max_length > net.config.max_length:
        raise InvalidArgument(
            f"max_length must be at most the model's {net.config.max_length} ([BOS] and [EOS] "
            f"included), got {max_length}"
        )
    run_data, run_options = run_data_settings(model)
    dataset = CaptionObjective.build_dataset(data, _options_for(data, run_data, run_options), split)
    total = len(dataset.image_ids) if limit is None else min(limit, len(dataset.image_ids))
    if progress is not None:
        progress(0, total)

    ids: list[int] = []
    captions: list[str] = []
    started = time.perf_counter()
    images = dataset.valid_images(limit)
    while True:
        chunk = [pair for _, pair in zip(range(batch_size), images)]
        if not chunk:
            break
        batch = torch.stack([image for _, image in chunk]).to(loaded.device)
        for found in generate(net, batch, beam=beam, max_length=max_length):
            captions.append(tokenizer.decode(found[0].tokens))
        ids += [image_id for image_id, _ in chunk]
        if progress is not None:
            progress(len(ids), total)
    seconds = time.perf_counter() - started
    if not ids:
        raise InvalidImage(f"every image of the {split!r} part of {data} is corrupt ({total} images)")
    references = [dataset.captions(i) for i in ids]
    result: dict[str, Any] = _scores(captions, references)
    result.update(
        seconds=seconds,
        captions_per_second=len(ids) / max(seconds, 1e-9),
        split=split if isinstance(split, str) else str(split),
        skipped=len(dataset.skipped),
    )
    if hasattr(dataset, "scene_objects"):
        from atelier.data.scenes import scene_attribute_accuracy

        result["attributes"] = scene_attribute_accuracy(captions, ids, dataset)
    else:
        from atelier.data.captioned import is_base_name

        base = [k for k, refs in enumerate(references) if all(is_base_name(r) for r in refs)]
        result["base"] = (
            _scores([captions[k] for k in base], [references[k] for k in base]) if base else {"n_images": 0}
        )
    if keep_captions:
        result["captions"] = [
            {"image_id": i, "caption": c, "references": r} for i, c, r in zip(ids, captions, references)
        ]
    return result
