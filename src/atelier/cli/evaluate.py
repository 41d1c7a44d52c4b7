"""``atelier evaluate``: FID, KID, IS and precision/recall of a model, or of real vs real data.

Two shapes:

- ``atelier evaluate RUN --data NAME_OR_PATH [--split a:b]`` — n samples of the run's model
  against the real data (read at the model's resolution);
- ``atelier evaluate sr --data DIR --scale 4 [--model NAME_OR_RUN]`` and ``atelier evaluate
  denoise --data DIR --sigma 25 [--model NAME_OR_RUN]`` — restoration under the benchmark
  protocol (PSNR/SSIM, Y channel for SR, RGB with seeded noise for denoising), with bicubic /
  OpenCV non-local means in the same table (:mod:`atelier.tasks.restoration_eval`);
- ``atelier evaluate caption RUN --data DATA [--split test] [--beam N] [--json]`` (or
  ``--model NAME_OR_RUN`` for RUN) — a captioner's BLEU-1..4, CIDEr-D, ROUGE-L, exact match
  and word F1 on a captioned dataset, attribute accuracy on scenes
  (:mod:`atelier.cli.caption_eval`);
- ``atelier evaluate --data A [--split a:b] --against B [--against-split c:d] [--size 32]`` —
  no RUN: real set B measured against real set A, the floor a model is judged against
  (e.g. ``--data idx:mnist10k --split 0:8000 --against idx:mnist10k --against-split 8000:10000``).

Example
-------
$ atelier evaluate runs/dcgan --data digits --metrics fid,kid -n 2000 --cache ~/.cache/atelier
"""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from atelier.cli.progress import progress_bar
from atelier.devices import DEVICE_HELP, select_device
from atelier.errors import InvalidArgument
from atelier.tasks.tiling import AUTO

_ROWS = (  # (label, keys) in table order
    ("FID", ("fid",)),
    ("KID", ("kid_mean", "kid_std")),
    ("IS", ("is_mean", "is_std")),
    ("precision", ("precision",)),
    ("recall", ("recall",)),
)


def evaluate(
    run: Optional[str] = typer.Argument(None, help="Run folder with model.safetensors + model.json; omit with --against; or sr / denoise / caption."),
    captioner: Optional[str] = typer.Argument(None, metavar="CAPTIONER", help="caption: the run folder or shipped name (or --model)."),
    data: str = typer.Option(..., "--data", help="Real data: a dataset name or path (see `atelier datasets`)."),
    split: Optional[str] = typer.Option(None, "--split", help="Part of --data, START:STOP (0:8000, 0.8:1); caption: a part name too (test, the default; val, train, all, compositional)."),
    against: Optional[str] = typer.Option(None, "--against", help="Second real dataset instead of a RUN (real-vs-real floor)."),
    against_split: Optional[str] = typer.Option(None, "--against-split", help="Part of --against, START:STOP."),
    size: Optional[int] = typer.Option(None, "--size", help="Image size for --against mode (default 32); a RUN uses its model's."),
    metrics: str = typer.Option("fid,kid,is,pr", "--metrics", help="Comma-separated: fid, kid, is, pr."),
    features: str = typer.Option("efficientnet-lite0", "--features", help="efficientnet-lite0, inception-v3:PATH or classifier:PATH."),
    n: int = typer.Option(10_000, "-n", "--num", min=2, help="Samples to generate."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples and KID subsets."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Images per forward pass (default 64; caption: 32)."),
    cache: Optional[str] = typer.Option(None, "--cache", help="Folder caching real-data features."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    model: Optional[str] = typer.Option(None, "--model", help="sr / denoise: a shipped name, run folder, bicubic or nlm (default: shipped); caption: the captioner."),
    scale: int = typer.Option(4, "--scale", help="sr: 2, 3 or 4."),
    sigma: float = typer.Option(25.0, "--sigma", help="denoise: noise level in 8-bit units."),
    tile: int = typer.Option(AUTO, "--tile", min=0, help="sr / denoise: largest tile side in pixels; 0 (default): auto."),
    self_ensemble: bool = typer.Option(False, "--self-ensemble", help="sr / denoise: the model with x8 self-ensemble (8 flips and rotations averaged)."),
    beam: Optional[int] = typer.Option(None, "--beam", help="caption: beam width (default 1, greedy)."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="caption: longest caption in tokens, start and end included."),
    limit: Optional[int] = typer.Option(None, "--limit", help="caption: only the first N images of the split."),
) -> None:
    """Measure a generator against real data (or real data against real data), restoration
    (`atelier evaluate sr ...`, `atelier evaluate denoise ...`) under the benchmark protocol,
    or a captioner (`atelier evaluate caption RUN --data DATA`)."""
    select_device(device)  # an unknown or missing device before any data or weights are read
    if run == "caption":
        from atelier.cli.caption_eval import evaluate_caption

        if captioner is not None and model is not None:
            raise InvalidArgument(f"give the captioner once: {captioner} or --model {model}")
        for flag, value in (("--against", against), ("--against-split", against_split),
                            ("--size", size), ("--cache", cache)):
            if value is not None:
                raise InvalidArgument(f"{flag} is not for `atelier evaluate caption`")
        evaluate_caption(model=captioner or model, data=data, split=split, beam=beam, max_length=max_length,
                         limit=limit, batch_size=batch_size, device=str(select_device(device)), as_json=as_json)
        return
    if captioner is not None:
        raise InvalidArgument(f"unexpected second argument {captioner!r}; only `atelier evaluate caption "
                              "RUN --data DATA` takes two")
    for flag, value in (("--beam", beam), ("--max-length", max_length), ("--limit", limit)):
        if value is not None:
            raise InvalidArgument(f"{flag} is for `atelier evaluate caption`")
    batch_size = 64 if batch_size is None else batch_size
    if run in ("sr", "denoise"):
        from atelier.cli.restore import evaluate_restoration

        evaluate_restoration(run, data=data, model=model, scale=scale, sigma=sigma, seed=seed,
                             tile=tile, device=device, as_json=as_json, self_ensemble=self_ensemble)
        return
    if self_ensemble:
        raise InvalidArgument("--self-ensemble is for `atelier evaluate sr` and `atelier evaluate denoise`")
    if model is not None:
        raise InvalidArgument("--model is for `atelier evaluate sr` / `atelier evaluate denoise`; "
                              "give a RUN folder to evaluate a generator")
    from atelier.tasks.evaluate import evaluate_model, evaluate_real, parse_metrics, parse_split

    names = parse_metrics(metrics)
    if run is None and against is None:
        raise InvalidArgument("give a RUN folder to evaluate a model, or --against DATA2 to "
                              "compare two real datasets")
    if run is not None and against is not None:
        raise InvalidArgument("give either a RUN or --against, not both")
    common = dict(split=parse_split(split), metrics=names, features=features, seed=seed,
                  batch_size=batch_size, cache_dir=cache, device=device)
    if run is not None:
        if size is not None or against_split is not None:
            raise InvalidArgument("--size and --against-split are for --against mode; a RUN is "
                                  "evaluated at its model's resolution")
        with progress_bar("sampling", total=n) as advance:
            def step(k: int) -> None:
                for _ in range(k):
                    advance()

            result = evaluate_model(run, data, n=n, progress=step, **common)
    else:
        result = evaluate_real(data, against, against_split=parse_split(against_split),
                               size=32 if size is None else size, **common)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    def named(name: str, part: Optional[str]) -> str:
        return f"{name}[{part}]" if part else name

    if run is not None:
        title = f"{run} ({result.n_fake} samples) against {named(data, split)} ({result.n_real} images)"
    else:  # --data is the reference set, --against plays the generated one: each with its own size
        title = (f"{named(data, split)} ({result.n_real} images) against "
                 f"{named(against, against_split)} ({result.n_fake} images)")
    table = Table(title=f"{title}; features {result.features}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, keys in _ROWS:
        if keys[0] in result.scores:
            values = [result.scores[k] for k in keys]
            table.add_row(label, " ± ".join(f"{v:.4g}" for v in values))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
