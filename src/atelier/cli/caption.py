"""``atelier caption``: describe images in words with a trained captioner.

Inputs are files, folders (recursively) and globs, as ``atelier edit`` takes them. The model
(and its tokenizer) is loaded before any image is read, so an unknown model, a shipped one
not trained yet (the error says how to train it), a bad ``--beam`` or a missing file is one
``error:`` line and exit code 2. Each image then prints ``FILE<TAB>caption`` on stdout, or
with ``--json`` one JSON object per line (``file``, ``caption``, ``log_prob``, ``score``,
``alternatives``: the other beams, best first). A file that cannot be read is reported on
stderr (``skipped FILE: reason``) and the others are captioned: exit code 1 (2 when none
could be). ``--attention DIR`` writes one PNG per image: for each generated word the image
under its attention heat map, the word below (``DIR/<name>-attention.png``, folders keep
their tree).

Example
-------
$ atelier caption photo.png --model runs/cap
$ atelier caption emoji/ --json --beam 5 > captions.jsonl
$ atelier caption 'shots/*.png' --attention maps/
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from atelier.devices import DEVICE_HELP, select_device
from atelier.errors import InvalidArgument
from atelier.image import DEFAULT_MAX_PIXELS

DEFAULT_MODEL = "caption-emoji"


def _strip_targets(files: list[tuple[Path, Path]], folder: Path) -> list[Path]:
    """``folder/<relative stem>-attention.png`` per input; ``<name>`` when two stems clash."""
    stems = [rel.with_name(rel.stem) for _, rel in files]
    clash = {s for s in stems if stems.count(s) > 1}
    return [
        folder / rel.with_name(f"{rel.name if stem in clash else rel.stem}-attention.png")
        for (_, rel), stem in zip(files, stems)
    ]


def caption(
    inputs: List[str] = typer.Argument(..., help="Image files, folders or globs."),
    model: Optional[str] = typer.Option(
        None, "--model", help=f"A run folder of `atelier train caption`, its model.safetensors, or a "
        f"shipped name (caption-emoji, caption-scenes); default: {DEFAULT_MODEL}."
    ),
    beam: int = typer.Option(3, "--beam", help="Beam width (1: greedy)."),
    max_length: Optional[int] = typer.Option(
        None, "--max-length", help="Longest caption in tokens, start and end included (default: the model's)."
    ),
    no_repeat_ngram: int = typer.Option(0, "--no-repeat-ngram", help="Forbid repeating any n-gram of this size (0: off)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image (file, caption, log_prob, score, alternatives)."),
    attention: Optional[str] = typer.Option(None, "--attention", help="Folder for one attention strip PNG per image."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Limit on input width x height."),
) -> None:
    """Caption images: FILE<TAB>caption per image (or JSON lines with --json)."""
    from atelier.image import load_image, save_image
    from atelier.tasks.batch import _reason, expand_inputs
    from atelier.tasks.caption import BATCH, attention_strip, caption_images, load_caption_model

    if beam < 1:
        raise InvalidArgument(f"--beam must be 1 or more (1: greedy), got {beam}")
    if max_length is not None and max_length < 2:
        raise InvalidArgument(f"--max-length must be 2 or more (start and end tokens included), got {max_length}")
    if no_repeat_ngram < 0:
        raise InvalidArgument(f"--no-repeat-ngram must be 0 (off) or more, got {no_repeat_ngram}")
    dev = str(select_device(device))
    files = expand_inputs(inputs)  # a missing file or an empty folder: one line, before the model
    folder = Path(attention) if attention is not None else None
    if folder is not None and folder.exists() and not folder.is_dir():
        raise InvalidArgument(f"--attention {attention} is a file; give a folder")
    loaded = load_caption_model(model or DEFAULT_MODEL, device=dev)  # every model error first
    limit = loaded.model.config.max_length
    if max_length is not None and max_length > limit:
        raise InvalidArgument(f"--max-length must be at most the model's {limit}, got {max_length}")
    targets = _strip_targets(files, folder) if folder is not None else [None] * len(files)
    failures: list[tuple[Path, str]] = []

    def skip(source: Path, reason: str) -> None:
        failures.append((source, reason))
        if len(files) > 1:
            typer.echo(f"skipped {source}: {reason}", err=True)

    for start in range(0, len(files), BATCH):
        chunk = []
        for (source, _), target in zip(files[start:start + BATCH], targets[start:start + BATCH]):
            try:
                chunk.append((source, target, load_image(source, max_pixels=max_pixels)))
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                skip(source, _reason(exc, source))
        if not chunk:
            continue
        results = caption_images(
            [image for _, _, image in chunk], loaded, beam=beam, max_length=max_length,
            no_repeat_ngram=no_repeat_ngram, device=dev,
        )
        for (source, target, image), result in zip(chunk, results):
            if target is not None:
                try:
                    save_image(target, attention_strip(image, result), overwrite=True)
                except Exception as exc:  # noqa: BLE001 - e.g. a read-only folder
                    skip(source, f"attention strip not written: {_reason(exc, target)}")
            if as_json:
                record = {
                    "file": str(source), "caption": result["caption"],
                    "log_prob": round(result["log_prob"], 4), "score": round(result["score"], 4),
                    "alternatives": [
                        {**a, "log_prob": round(a["log_prob"], 4), "score": round(a["score"], 4)}
                        for a in result["alternatives"]
                    ],
                }
                if target is not None:
                    record["attention"] = str(target)
                typer.echo(json.dumps(record))
            else:
                typer.echo(f"{source}\t{result['caption']}")
    if len(files) == 1 and failures:  # the one file failed: its error is the whole answer
        raise InvalidArgument(f"{failures[0][0]}: {failures[0][1]}")
    if failures:
        done = len(files) - len({f for f, _ in failures})
        typer.echo(f"{done} of {len(files)} images captioned", err=True)
        raise SystemExit(2 if done == 0 else 1)


def register(app: typer.Typer) -> None:
    app.command("caption")(caption)
