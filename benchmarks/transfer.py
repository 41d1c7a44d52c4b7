"""Transfer learning: pretrained features as discriminators, losses and encoders, in one table.

Parts (``--only`` takes a comma-separated subset; each part's module documents its protocol):

- ``projected`` (``_transfer_gan``): the projected discriminator (frozen EfficientNet-Lite0
  features, Sauer et al. 2021) against the plain DCGAN discriminator at equal wall-clock time
  on mnist10k, the 64 px faces and emoji72: FID/KID, and for MNIST the digit classifier's
  Inception Score and digit shares (targets: IS >= 9.0 and every digit 5-15 % within 20
  minutes; lower FID than plain on every data set).
- ``fewshot-gen`` (``_transfer_gan``): the 100 faces, fine-tuned from the MNIST runs of the
  ``projected`` part (FreezeD; projected) against from scratch, at equal time.
- ``fewshot-cls`` (``_transfer_fewshot``): classifier few-shot curves on MNIST and on four
  emoji categories (colour), pretrained backbone vs scratch at 5, 10, 20, 50 images per class.
- ``sr`` (``_transfer_sr``): the perceptual x4 model against the PSNR model on CSet5.
- ``trainer`` (``_transfer_trainer``): the Trainer's overhead over a plain loop of the same
  model and recipe, and achieved FLOP/s against the machine's matmul rate.
- ``zoo`` (``_transfer_zoo``): the shipped MNIST generators, as installed, under the
  generative benchmark's checks.

``projected`` (MNIST) and ``zoo`` need the digit classifier of the generative benchmark; it
is trained first into ``--work`` (``classifier``, 10 epochs) or reused from there.

How to run
----------
    .venv/bin/python benchmarks/transfer.py --quick                  # smoke run, minutes
    .venv/bin/python benchmarks/transfer.py --work runs/transfer     # full (hours on 2 CPU cores)
    .venv/bin/python benchmarks/transfer.py --only projected --datasets mnist --work runs/transfer

Runs go to ``--work`` (kept; a later run with the same settings reuses finished ones) or a
temporary folder. JSON: ``benchmarks/results/transfer.json`` (or ``--json``); a run with
``--only`` merges its parts into an existing JSON file, so parts can be run on different days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PARTS = ("projected", "fewshot-gen", "fewshot-cls", "sr", "trainer", "zoo")
JUDGE_STEPS = 1250  # 10 epochs of the 8,000 MNIST training digits at batch 64


def _judge(work: Path, quick: bool) -> str:
    import _gen_quality as gq

    from _transfer_gan import MNIST

    print("judge: the digit classifier...", flush=True)
    return gq.train("classifier", MNIST, 4 if quick else JUDGE_STEPS, work)["run"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny settings: checks that every part runs")
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    p.add_argument("--datasets", default="mnist,faces,emoji", help="data sets of the projected part")
    p.add_argument("--work", type=Path, default=None, help="keep run folders here (reused when finished)")
    p.add_argument("--json", type=Path, default=HERE / "results" / "transfer.json")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = [x for x in parts if x not in PARTS]
    if unknown:
        p.error(f"unknown part {unknown[0]!r}; parts: {', '.join(PARTS)}")
    from _machine import torch_machine_info
    from _report import finish_report

    from _transfer_gan import DATA

    if not DATA.is_dir():
        print(f"transfer benchmark: {DATA} is missing (../shared/data); nothing to measure")
        return 0
    started = dt.datetime.now(dt.timezone.utc)
    result: dict[str, Any] = {}
    if args.json.is_file() and set(parts) != set(PARTS) and not args.quick:
        result = json.loads(args.json.read_text())  # merge: parts run earlier stay
    result.update({"date": started.isoformat(), "quick": args.quick, "machine": torch_machine_info()})
    result.setdefault("parts", {})
    tmp = None if args.work else tempfile.TemporaryDirectory(prefix="atelier-transfer-")
    work = args.work or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    try:
        judge = _judge(work, args.quick) if {"projected", "zoo"} & set(parts) else None
        for part in parts:
            t0 = time.perf_counter()
            if part == "projected":
                import _transfer_gan

                datasets = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
                r, res = _transfer_gan.run_projected(args.quick, work, args.seed, judge, datasets)
            elif part == "fewshot-gen":
                import _transfer_gan

                r, res = _transfer_gan.run_fewshot(args.quick, work, args.seed)
            elif part == "zoo":
                import _transfer_zoo

                r, res = _transfer_zoo.run(args.quick, work, args.seed, judge)
            else:
                module = __import__({"fewshot-cls": "_transfer_fewshot", "sr": "_transfer_sr",
                                     "trainer": "_transfer_trainer"}[part])
                r, res = module.run(args.quick, work / part, args.seed)
            result["parts"][part] = {"rows": r, "result": res, "seconds": time.perf_counter() - t0,
                                     "date": dt.datetime.now(dt.timezone.utc).isoformat()}
    finally:
        if tmp is not None:
            tmp.cleanup()
    merge = args.json.is_file() and set(parts) != set(PARTS) and not args.quick
    if merge:  # read again: another run of other parts may have written it meanwhile
        latest = json.loads(args.json.read_text()).get("parts", {})
        result["parts"] = {**latest, **{k: result["parts"][k] for k in parts}}
    result["part_seconds"] = {k: v["seconds"] for k, v in result["parts"].items()}
    # the table holds every part in the JSON, those merged from earlier runs too
    rows = [tuple(r) for part in PARTS if part in result["parts"] for r in result["parts"][part]["rows"]]
    title = "transfer benchmark" + (" (quick smoke run: figures are NOT meaningful)" if args.quick else "")
    finish_report(result, rows, started, title, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
