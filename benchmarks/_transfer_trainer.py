"""Trainer performance (issue 15): the Trainer's overhead over a plain loop, and training FLOP/s.

1. **Overhead.** DCGAN on MNIST 32 px, the generative benchmark's model and run
   (``atelier train dcgan --data idx:../shared/data/mnist10k --set data.split=0:8000``,
   default recipe, fp32, CPU) through atelier's Trainer, against :class:`PlainDCGAN`, a plain
   PyTorch loop doing exactly the same work (same model object and initial weights, Adam
   settings, EMA, data set, ``DataLoader`` batch/workers/drop_last, one log line every 50
   steps and one checkpoint every 500, as the Trainer's defaults). That the plain step does
   the objective's arithmetic is checked, not assumed: from the same weights, batch and noise,
   one step of each leaves bit-identical weights and counts the same FLOPs. Each candidate
   runs in its own spawned process, alternating (A B, B A, ...) for several rounds.

   Figures, per candidate: images/s from the median step time of each run, best run (the
   machine is shared: another job can only slow a run down, and the median step ignores the
   steps it stalled); images/s over the whole timed window (log steps included), best run;
   and the checkpoint event (the Trainer's: checkpoint + model export + 64-sample grid, as
   ``atelier train`` writes them; the plain loop's: its ``torch.save`` checkpoint) timed at
   the run's last step and amortized over the default interval of 500 steps. Ratio
   Trainer/plain, target >= 0.95 (overhead <= 5 %), both without and with checkpoints.
   One-off start-up (building the run, the first ``DataLoader``) is outside the window.
   Also reported: the ratio of each round's pair, and the ratio of process CPU time per step
   (``time.process_time``): on a machine busy with other jobs, run with ``--threads 1`` and
   read that one, which another job's share of the cores barely moves.

2. **FLOP/s.** One training step's FLOPs, counted with ``torch.utils.flop_counter`` around
   the objective's ``step`` (forward + backward of G and D as the GAN objective runs them;
   matmul and convolution FLOPs, 2 per multiply-add), divided by the Trainer's median step
   time, as a fraction of this machine's fp32 matmul rate measured in the same run
   (``torch.mm`` of 2048 x 2048, same thread count, best sample, one spawned run per round).
   For DCGAN and for the VAE (``atelier train vae``, same data).

3. **GPU** (when ``torch.cuda.is_available()``): the same overhead and FLOP/s with bf16
   autocast + channels-last + ``nn.Module.compile()`` in both candidates, images/s and the
   fraction of the GPU's dense bf16 peak (NVIDIA's datasheet figure by device name, see
   ``PEAK_BF16``) and of a measured bf16 ``torch.mm`` of 8192 x 8192. Without a GPU these
   rows say "no GPU".

Run alone: ``.venv/bin/python benchmarks/_transfer_trainer.py [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table
from _spawned import alternating, call_spawned
from _trainer_runs import FAST_NOTE, flops_run, matmul_run, plain_run, trainer_run

DATA = HERE.parent.parent / "shared" / "data" / "mnist10k"
PART = "trainer"
TARGET = 0.95

#: Dense bf16 tensor-core peak, FLOP/s, by a substring of ``torch.cuda.get_device_name()``
#: (first match wins). Source: NVIDIA H100 Tensor Core GPU datasheet (SXM 1,979 / PCIe 1,513
#: / NVL 1,671 TFLOPS "with sparsity", halved for dense) and NVIDIA H200 datasheet (SXM 1,979
#: / NVL 1,671 TFLOPS with sparsity).
PEAK_BF16 = (("H200 NVL", 835.5e12), ("H200", 989.5e12), ("H100 NVL", 835.5e12),
             ("H100 PCIe", 756.5e12), ("H100", 989.5e12))  # fmt: skip
PEAK_SOURCE = "NVIDIA H100/H200 Tensor Core GPU datasheets, bf16 dense (sparsity figure / 2)"


def _settings(quick: bool, gpu: bool) -> dict[str, Any]:
    if gpu:  # ms-scale steps; compile needs warm-up steps (and one recompile for frozen D)
        return {"warmup": 5 if quick else 30, "steps": 20 if quick else 400, "rounds": 1 if quick else 3,
                "matmul_seconds": 0.5 if quick else 3.0, "matmul_n": 8192}
    return {"warmup": 1 if quick else 10, "steps": 3 if quick else 60, "rounds": 1 if quick else 3,
            "matmul_seconds": 0.3 if quick else 3.0, "matmul_n": 2048}


def _others() -> list[str]:
    """The busiest processes now (what else shared the machine), from ``ps``."""
    try:
        text = subprocess.run(["ps", "-eo", "pcpu,etime,args", "--sort=-pcpu"], check=False, capture_output=True,
                              text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip()[:160] for line in text.splitlines()[1:7]]


def overhead(trainer: list[dict[str, Any]], plain: list[dict[str, Any]], every: int) -> dict[str, Any]:
    """Trainer/plain ratios from the runs of each (see the module docstring).

    >>> r = {"median_step_images_per_s": 100.0, "images_per_s": 90.0, "median_step_seconds": 0.64,
    ...      "final_checkpoint_seconds": 1.0, "round": 0}
    >>> p = {**r, "median_step_images_per_s": 128.0, "median_step_seconds": 0.5,
    ...      "final_checkpoint_seconds": 0.0}
    >>> o = overhead([r], [p], 500)
    >>> round(o["ratio_steps"], 4), round(o["ratio_window"], 4), round(o["ratio_with_checkpoints"], 4)
    (0.7812, 1.0, 0.7788)
    """
    out: dict[str, Any] = {"checkpoint_every": every}
    per: dict[str, dict[str, float]] = {}
    for name, runs in (("trainer", trainer), ("plain", plain)):
        fastest = max(runs, key=lambda r: r["median_step_images_per_s"])
        step_s = fastest["median_step_seconds"]
        checkpoint = min(r["final_checkpoint_seconds"] for r in runs)
        per[name] = {
            "images_per_s": fastest["median_step_images_per_s"],
            "step_seconds": step_s,
            "window_images_per_s": max(r["images_per_s"] for r in runs),
            "checkpoint_seconds": checkpoint,
            "images_per_s_with_checkpoints": fastest["median_step_images_per_s"] * step_s
            / (step_s + checkpoint / every),
        }
    out.update(per)
    if all("cpu_median_step_seconds" in r for r in trainer + plain):  # process CPU time
        cpu = {name: min(r["cpu_median_step_seconds"] for r in runs)
               for name, runs in (("trainer", trainer), ("plain", plain))}
        out["cpu_time_median_step_seconds"] = cpu
        out["ratio_steps_cpu_time"] = cpu["plain"] / cpu["trainer"]
    out["ratio_steps"] = per["trainer"]["images_per_s"] / per["plain"]["images_per_s"]
    out["ratio_window"] = per["trainer"]["window_images_per_s"] / per["plain"]["window_images_per_s"]
    out["ratio_with_checkpoints"] = (per["trainer"]["images_per_s_with_checkpoints"]
                                     / per["plain"]["images_per_s_with_checkpoints"])
    paired = sorted(t["median_step_images_per_s"] / p["median_step_images_per_s"]
                    for t, p in zip(sorted(trainer, key=lambda r: r["round"]), sorted(plain, key=lambda r: r["round"])))
    out["paired_round_ratios"] = paired
    out["median_paired_ratio"] = paired[len(paired) // 2]
    return out


def _verdict(ok: bool, quick: bool) -> str:
    return "-" if quick else ("PASS" if ok else "MISS")


def _overhead_rows(rows: list, tag: str, o: dict[str, Any], quick: bool) -> None:
    t, p = o["trainer"], o["plain"]
    rows.append((PART, f"{tag} images/s Trainer / plain (median step, best run)", "",
                 f"{t['images_per_s']:.1f} / {p['images_per_s']:.1f}", "-"))
    rows.append((PART, f"{tag} Trainer/plain, steps only", f">= {TARGET}", f"{o['ratio_steps']:.3f}",
                 _verdict(o["ratio_steps"] >= TARGET, quick)))
    rows.append((PART, f"{tag} Trainer/plain, whole window (logs in), best run", "",
                 f"{o['ratio_window']:.3f}", "-"))
    rows.append((PART, f"{tag} Trainer/plain, rounds paired (median step)", "",
                 " ".join(f"{r:.3f}" for r in o["paired_round_ratios"]), "-"))
    if "ratio_steps_cpu_time" in o:
        rows.append((PART, f"{tag} Trainer/plain by process CPU time per step (load-robust at --threads 1)", "",
                     f"{o['ratio_steps_cpu_time']:.3f}", "-"))
    rows.append((PART, f"{tag} checkpoint event s Trainer / plain", "",
                 f"{t['checkpoint_seconds']:.3f} / {p['checkpoint_seconds']:.3f}", "-"))
    rows.append((PART, f"{tag} Trainer/plain, checkpoint every {o['checkpoint_every']} amortized",
                 f">= {TARGET}", f"{o['ratio_with_checkpoints']:.3f}",
                 _verdict(o["ratio_with_checkpoints"] >= TARGET, quick)))


def _flops_rows(rows: list, tag: str, model: str, flops: dict[str, Any], step_s: float,
                rate: float, unit: str = "GFLOP/s", scale: float = 1e9) -> dict[str, float]:
    achieved = flops["flops_per_step"] / step_s
    rows.append((PART, f"{tag} {model} training GFLOP per step (FlopCounterMode)", "",
                 f"{flops['flops_per_step'] / 1e9:.2f}", "-"))
    rows.append((PART, f"{tag} {model} achieved {unit} (Trainer)", "", f"{achieved / scale:.2f}", "-"))
    rows.append((PART, f"{tag} {model} fraction of measured matmul rate", "", f"{100 * achieved / rate:.1f} %", "-"))
    return {"achieved_flops_per_s": achieved, "fraction_of_matmul": achieved / rate}


def _cpu_part(data: str, quick: bool, seed: int, threads: int | None, rows: list) -> dict[str, Any]:
    s = _settings(quick, gpu=False)
    w, n = s["warmup"], s["steps"]
    models = ("dcgan",) if quick else ("dcgan", "vae")  # quick: the VAE rows are left out
    print(f"trainer: FLOP counts and the plain-loop check ({', '.join(models)})...", flush=True)
    flops = {m: call_spawned(flops_run, m, data, seed, "cpu", m == "dcgan", threads=threads) for m in models}
    candidates = {
        "trainer": (trainer_run, ("dcgan", data, w, n, seed, "cpu", False)),
        "plain": (plain_run, (data, w, n, seed, "cpu", False)),
        "matmul": (matmul_run, (s["matmul_seconds"], s["matmul_n"], "cpu", "float32")),
    }
    if "vae" in models:
        candidates["vae_trainer"] = (trainer_run, ("vae", data, w, n, seed, "cpu", False, False))
    print(f"trainer: {s['rounds']} round(s) of {' / '.join(candidates)}, {w} warm-up + {n} timed steps...",
          flush=True)

    def show(name: str, out: dict[str, Any]) -> None:
        fig = (f"{out['best_gflops']:.1f} GFLOP/s" if name == "matmul"
               else f"{out['median_step_images_per_s']:.1f} images/s (median step)")
        print(f"  round {out['round']} {name}: {fig}, load {os.getloadavg()[0]:.2f}", flush=True)

    runs = alternating(candidates, s["rounds"], after=show, threads=threads)
    every = runs["trainer"][0]["train"]["checkpoint_every"]
    o = overhead(runs["trainer"], runs["plain"], every)
    loads = [r["load_avg_before"][0] for v in runs.values() for r in v]
    busy = max(loads) >= (os.cpu_count() or 1)
    rows.append((PART, f"load average (1 min) before each run, {os.cpu_count()} CPUs", "",
                 f"{min(loads):.1f}..{max(loads):.1f}" + (" (busy: wall-time figures unreliable)" if busy else ""),
                 "-"))
    mirror = flops["dcgan"]
    rows.append((PART, "cpu plain loop = objective (same FLOPs, same weights after 1 step)", "exact",
                 "yes" if mirror["plain_mirrors_objective"] else
                 f"no (weight diff {mirror['plain_max_weight_difference_after_one_step']:.3g})",
                 "PASS" if mirror["plain_mirrors_objective"] else "MISS"))
    _overhead_rows(rows, "cpu fp32 dcgan", o, quick)
    mm = max(r["best_gflops"] for r in runs["matmul"]) * 1e9
    threads_used = runs["matmul"][0]["threads"]
    rows.append((PART, f"cpu fp32 matmul GFLOP/s (torch.mm {s['matmul_n']}, {threads_used} threads)", "",
                 f"{mm / 1e9:.1f}", "-"))
    fl: dict[str, Any] = {}
    for model, key in (("dcgan", "trainer"), ("vae", "vae_trainer")):
        if key in runs:
            step = min(r["median_step_seconds"] for r in runs[key])
            fl[model] = _flops_rows(rows, "cpu fp32", model, flops[model], step, mm)
            fl[model]["images_per_s"] = max(r["median_step_images_per_s"] for r in runs[key])
    fl["dcgan"]["plain_achieved_flops_per_s"] = flops["dcgan"]["flops_per_step"] / min(
        r["median_step_seconds"] for r in runs["plain"])
    return {"settings": s, "flops": flops, "runs": runs, "overhead": o, "matmul_flops_per_s": mm,
            "flops_per_s": fl, "commands": {k: v[0].get("command") for k, v in runs.items() if "command" in v[0]}}


def _gpu_part(data: str, quick: bool, seed: int, flops: dict[str, Any], rows: list,
              device: str = "cuda") -> dict[str, Any]:
    """The GPU rows. ``device="cpu"`` runs the same code path on the CPU (``--fast-on-cpu``:
    a check that it works, its figures mean nothing)."""
    import torch

    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (code-path check only)"
    peak = next((v for k, v in PEAK_BF16 if k in name), None)
    s = _settings(quick, gpu=True)
    if device != "cuda":
        s.update(warmup=2, steps=3, rounds=1, matmul_seconds=0.3, matmul_n=1024)
    w, n = s["warmup"], s["steps"]
    print(f"trainer: GPU {name}, {FAST_NOTE}, {s['rounds']} round(s), {w} warm-up + {n} timed steps...",
          flush=True)
    candidates = {
        "trainer": (trainer_run, ("dcgan", data, w, n, seed, device, True)),
        "plain": (plain_run, (data, w, n, seed, device, True)),
        "matmul": (matmul_run, (s["matmul_seconds"], s["matmul_n"], device, "bfloat16")),
    }
    runs = alternating(candidates, s["rounds"])
    o = overhead(runs["trainer"], runs["plain"], runs["trainer"][0]["train"]["checkpoint_every"])
    tag = "gpu bf16+cl+compile dcgan"
    _overhead_rows(rows, tag, o, quick)
    mm = max(r["best_gflops"] for r in runs["matmul"]) * 1e9
    rows.append((PART, f"gpu bf16 matmul TFLOP/s (torch.mm {s['matmul_n']})", "", f"{mm / 1e12:.1f}", "-"))
    step = min(r["median_step_seconds"] for r in runs["trainer"])
    fl = _flops_rows(rows, "gpu", "dcgan", flops, step, mm, "TFLOP/s", 1e12)
    if peak is not None:
        fl["fraction_of_peak"] = fl["achieved_flops_per_s"] / peak
        rows.append((PART, f"gpu dcgan fraction of {name} bf16 dense peak ({peak / 1e12:.0f} TFLOP/s)", "",
                     f"{100 * fl['fraction_of_peak']:.2f} %", "-"))
    else:
        rows.append((PART, "gpu dcgan fraction of peak", "", f"no datasheet peak for {name}", "-"))
    return {"device": name, "peak_bf16_flops_per_s": peak, "peak_source": PEAK_SOURCE, "settings": s,
            "recipe": FAST_NOTE, "runs": runs, "overhead": o, "matmul_flops_per_s": mm, "flops_per_s": fl}


def run(quick: bool, work: Path, seed: int = 0, threads: int | None = None,
        fast_on_cpu: bool = False) -> tuple[list, dict[str, Any]]:
    """The Trainer-performance rows ``(part, measure, target, measured, result)`` and every
    figure. ``work`` is unused (the runs write to temporary folders); ``threads``: torch
    threads of every candidate (None: torch's default, the same for all); ``fast_on_cpu``:
    without a GPU, run the GPU rows' code path on the CPU instead of the CPU rows."""
    import torch

    rows: list = []
    if not DATA.is_dir():
        rows.append((PART, "all", "", f"SKIP: {DATA} is absent (MNIST IDX, ../shared/data/README.md)", "-"))
        return rows, {"skipped": str(DATA)}
    data = f"idx:{DATA.resolve()}"
    result: dict[str, Any] = {
        "quick": quick, "seed": seed, "threads_requested": threads, "data": data,
        "load_avg_at_start": list(os.getloadavg()), "busiest_processes_at_start": _others(),
        "judged": "Trainer/plain images/s, each the best run's median step (and amortized "
                  "checkpoint cost); quick runs are not judged",
    }
    if fast_on_cpu:
        flops = call_spawned(flops_run, "dcgan", data, seed, "cpu", False, threads=threads)
        result["gpu_code_path_on_cpu"] = _gpu_part(data, True, seed, flops, rows, device="cpu")
        return rows, result
    result["cpu"] = _cpu_part(data, quick, seed, threads, rows)
    if torch.cuda.is_available():
        result["gpu"] = _gpu_part(data, quick, seed, result["cpu"]["flops"]["dcgan"], rows)
    else:
        rows.append((PART, f"gpu rows ({FAST_NOTE})", "", "no GPU", "-"))
        result["gpu"] = "no GPU: torch.cuda.is_available() is False"
    result["load_avg_at_end"] = list(os.getloadavg())
    result["busiest_processes_at_end"] = _others()
    return rows, result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: a few steps, nothing judged")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads per candidate (default: torch's)")
    p.add_argument("--fast-on-cpu", action="store_true",
                   help="check the GPU rows' code path on the CPU (figures meaningless)")
    p.add_argument("--json", type=Path, default=HERE / "results" / "transfer_trainer.json")
    args = p.parse_args(argv)
    import torch

    started = dt.datetime.now(dt.timezone.utc)
    rows, result = run(args.quick, HERE / "results", args.seed, args.threads, args.fast_on_cpu)
    result.update({"date": started.isoformat(timespec="seconds"), "torch": torch.__version__,
                   "command": " ".join([sys.executable, *sys.argv]),
                   "total_seconds": (dt.datetime.now(dt.timezone.utc) - started).total_seconds()})
    print(f"\nTrainer performance ({'quick smoke run: figures NOT meaningful' if args.quick else 'full'}), "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {result.get('load_avg_at_start')}")
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, default=str))
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
