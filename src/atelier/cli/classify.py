"""``atelier classify``: the most probable classes of images, by a trained classifier run.

Inputs are files, folders (recursively) and globs, as ``atelier edit`` and ``atelier caption``
take them. The model (a run of ``atelier train classifier``: small CNN or fine-tuned
backbone) is loaded before any image is read, so an unknown model, a bad ``--top`` or a
missing file is one ``error:`` line and exit code 2. Each image prints
``FILE<TAB>name probability, name probability, ...`` (most probable first) on stdout, or with
``--json`` one JSON object per line (``file``, ``top``: ``[{"class", "probability"}, ...]``).
A file that cannot be read is reported on stderr (``skipped FILE: reason``) and the others are
classified: exit code 1 (2 when none could be).

Example
-------
$ atelier classify photo.png --model runs/pets
$ atelier classify pets/ --model runs/pets --top 3 --json > predictions.jsonl
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from atelier.devices import DEVICE_HELP, select_device
from atelier.errors import InvalidArgument
from atelier.image import DEFAULT_MAX_PIXELS


def classify(
    inputs: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    model: str = typer.Option(..., "--model", help="A run folder of `atelier train classifier`."),
    top: int = typer.Option(5, "--top", help="How many classes to print per image, most probable first."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image (file, top)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Limit on input width x height."),
) -> None:
    """Classify images: FILE<TAB>class probability, ... per image (or JSON lines with --json)."""
    from atelier.image import load_image
    from atelier.tasks.batch import _reason, expand_inputs
    from atelier.tasks.classify import BATCH, classify_images, load_classifier

    if top < 1:
        raise InvalidArgument(f"--top must be 1 or more, got {top}")
    dev = str(select_device(device))
    files = expand_inputs(inputs)  # a missing file or an empty folder: one line, before the model
    loaded = load_classifier(model, device=dev)
    failures: list[tuple[Path, str]] = []
    for start in range(0, len(files), BATCH):
        chunk = []
        for source, _ in files[start:start + BATCH]:
            try:
                chunk.append((source, load_image(source, mode="keep", alpha="composite", max_pixels=max_pixels)))
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                failures.append((source, _reason(exc, source)))
                if len(files) > 1:
                    typer.echo(f"skipped {source}: {failures[-1][1]}", err=True)
        if not chunk:
            continue
        results = classify_images([image for _, image in chunk], loaded, top=top, device=dev)
        for (source, _), result in zip(chunk, results):
            if as_json:
                top_list = [{"class": name, "probability": round(p, 6)} for name, p in result]
                typer.echo(json.dumps({"file": str(source), "top": top_list}))
            else:
                typer.echo(f"{source}\t" + ", ".join(f"{name} {p:.3f}" for name, p in result))
    if len(files) == 1 and failures:  # the one file failed: its error is the whole answer
        raise InvalidArgument(f"{failures[0][0]}: {failures[0][1]}")
    if failures:
        done = len(files) - len(failures)
        typer.echo(f"{done} of {len(files)} images classified", err=True)
        raise SystemExit(2 if done == 0 else 1)


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)
