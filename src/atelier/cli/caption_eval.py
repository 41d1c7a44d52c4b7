"""``atelier evaluate caption``: a captioner's BLEU, CIDEr-D, ROUGE-L and exact match on data.

Called by ``atelier evaluate`` when its first argument is ``caption``; the work is
:func:`atelier.tasks.caption_eval.evaluate_captioner`. Prints a table (metric, value; on
``scenes`` / ``shapes-captions`` the attribute accuracy read back from the captions; on
caption files the same metrics on the base names, without skin tones), or one JSON object
with ``--json``. A bad option, an unknown model, data without captions or an unknown split
is one ``error:`` line and exit code 2.

Example
-------
$ atelier evaluate caption runs/cap --data scenes --split compositional
$ atelier evaluate caption --model caption-emoji --data ../shared/data/emoji72 --beam 3 --json
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from atelier.cli.progress import progress_bar, warnings_on_one_line
from atelier.errors import InvalidArgument

_LABELS = {
    "bleu_1": "BLEU-1", "bleu_2": "BLEU-2", "bleu_3": "BLEU-3", "bleu_4": "BLEU-4",
    "cider_d": "CIDEr-D", "rouge_l": "ROUGE-L", "exact": "exact match", "word_f1": "word F1",
}  # fmt: skip
_ATTRIBUTES = {  # scene_attribute_accuracy's keys, in table order
    "shape": "attribute accuracy: shape", "color": "attribute accuracy: colour",
    "size": "attribute accuracy: size", "position": "attribute accuracy: position",
    "background": "attribute accuracy: background", "attributes": "attribute accuracy: mean",
    "objects": "right number of objects", "exact": "scene read back exactly", "parsed": "captions parsed",
}  # fmt: skip


def _split(split: Optional[str]) -> Any:
    """A part name as it is; ``START:STOP`` as numbers."""
    if split is None or ":" not in split:
        return split
    from atelier.tasks.evaluate import parse_split

    return parse_split(split)


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """``(metric, value, last of its section)`` rows of a result, in table order.

    >>> rows = table_rows({"n_images": 2, "bleu_1": 0.5, "bleu_2": 0.25, "bleu_3": 0.125,
    ...     "bleu_4": 0.0625, "cider_d": 1.5, "rouge_l": 0.5, "exact": 0.0, "word_f1": 0.5,
    ...     "captions_per_second": 12.0, "base": {"n_images": 0}})
    >>> rows[0], rows[4], rows[-1]
    (('BLEU-1', '0.5000', False), ('CIDEr-D', '1.5000', False), ('base names: images', '0', True))
    """
    rows = [(label, f"{result[key]:.4f}", False) for key, label in _LABELS.items()]
    rows.append(("images", str(result["n_images"]), False))
    rows.append(("captions/s", f"{result['captions_per_second']:.1f}", True))
    base = result.get("base")
    if base is not None:
        rows += [(f"base names: {label}", f"{base[key]:.4f}", False) for key, label in _LABELS.items() if key in base]
        rows.append(("base names: images", str(base["n_images"]), True))
    attributes = result.get("attributes")
    if attributes is not None:
        names = [a for a in _ATTRIBUTES if a in attributes]
        rows += [(_ATTRIBUTES[a], f"{attributes[a]:.4f}", a == names[-1]) for a in names]
    return rows


def evaluate_caption(
    *,
    model: Optional[str],
    data: str,
    split: Optional[str],
    beam: Optional[int],
    max_length: Optional[int],
    limit: Optional[int],
    batch_size: Optional[int],
    device: str,
    as_json: bool,
) -> None:
    """Run :func:`evaluate_captioner` with a progress bar; print its table or JSON."""
    from atelier.tasks.caption import load_caption_model
    from atelier.tasks.caption_eval import evaluate_captioner

    if model is None:
        raise InvalidArgument("give the captioner: `atelier evaluate caption RUN --data DATA` (a run "
                              "folder of `atelier train caption` or a shipped name)")
    beam = 1 if beam is None else beam
    if beam < 1:
        raise InvalidArgument(f"--beam must be 1 or more (1: greedy), got {beam}")
    if max_length is not None and max_length < 2:
        raise InvalidArgument(f"--max-length must be 2 or more (start and end tokens included), got {max_length}")
    if limit is not None and limit < 1:
        raise InvalidArgument(f"--limit must be 1 or more, got {limit}")
    loaded = load_caption_model(model, device=device)  # every model error before any data is read
    if max_length is not None and max_length > loaded.model.config.max_length:
        raise InvalidArgument(f"--max-length must be at most the model's {loaded.model.config.max_length}, got {max_length}")
    with ExitStack() as stack:
        stack.enter_context(warnings_on_one_line())  # uncaptioned or corrupt images: one line each
        bars: list[Callable[..., None]] = []
        shown = [0]

        def progress(done: int, total: int) -> None:
            if not bars:
                bars.append(stack.enter_context(progress_bar("captioning", total=total)))
            bars[0](done - shown[0])
            shown[0] = done

        result = evaluate_captioner(
            loaded, data, split=_split(split), beam=beam, max_length=max_length,
            batch_size=32 if batch_size is None else batch_size, limit=limit, device=device,
            progress=progress,
        )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    decoding = "greedy" if beam == 1 else f"beam {beam}"
    title = f"{model} on {data} [{result['split']}]: {result['n_images']} image(s), {decoding}"
    table = Table(title=escape(title))
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value, last in table_rows(result):
        table.add_row(label, value, end_section=last)
    Console().print(table)
    if result.get("skipped"):
        typer.echo(f"{result['skipped']} corrupt image(s) skipped", err=True)
