"""The studio under load: API overhead, throughput and latency, and a SIGKILL mid-run.

Parts (``--only overhead,load,crash``), each against a real ``python -m atelier.server`` on
loopback (its own SQLite home in a temporary folder):

1. **overhead**: a 1-megapixel x2 upscale (``sr-x2``) through the API (multipart upload ->
   queue -> worker -> the job's event stream says done -> result PNG downloaded) against the same task called in-process (decode
   the same PNG, ``get_task("upscale").run``, encode the result PNG), with the worker and the
   in-process call on the same number of torch threads, in interleaved rounds after one
   warm-up each. Target: API p50 at most 15 % over the in-process p50.
2. **load**: ``--clients`` concurrent clients for ``--seconds`` submitting small edits
   (256 x 256, ``equalize | gaussian_blur``) and small upscales (128 x 128, x2) and waiting
   for each: throughput, p50/p95 latency, refusals (429), and the queue's audit: every
   accepted job done exactly once.
3. **crash**: the same load, then a burst of 20 more jobs, then the server SIGKILLed (half-way
   through) and started again on its home; clients wait the restart out. Target: nothing lost, nothing completed twice, every
   job in the queue done (the queue's ``completions`` column counts each job's finishes).

How to run
----------
    .venv/bin/python benchmarks/serve_load.py            # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/serve_load.py --quick    # smaller image, shorter runs

JSON goes to ``benchmarks/results/serve_load.json`` unless ``--json`` says otherwise. Run it
on a quiet machine: the server, its workers and the clients share the cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _serve_clients import Ledger, Server, queue_audit, run_clients, submit, wait_done  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
#: Jobs submitted at once just before the kill (nobody waits for them; the audit counts them).
BURST = 20


def _photo(side: int) -> np.ndarray:
    """A ``side`` x ``side`` RGB photo: a centre crop of photos80's first image when the
    shared data is there (resized up when smaller), else scikit-image's astronaut resized."""
    import cv2

    from atelier.image import load_image

    photos = sorted((SHARED / "photos80").glob("*.png")) + sorted((SHARED / "photos80").glob("*.jpg"))
    if photos:
        image = load_image(photos[0], mode="rgb")
    else:
        from skimage import data

        image = data.astronaut()
    h, w = image.shape[:2]
    s = min(h, w)
    crop = image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if s > side else cv2.INTER_CUBIC)


def _png(image: np.ndarray) -> bytes:
    from atelier.image import encode_image

    return encode_image(image, "png")


def part_overhead(side: int, rounds: int, threads: int) -> dict:
    import httpx
    import torch

    from atelier.image import encode_image, load_image
    from atelier.tasks.registry import TaskContext, get_task

    torch.set_num_threads(threads)
    upload = _png(_photo(side))
    task = get_task("upscale")
    ctx = TaskContext(device="cpu")

    def in_process() -> bytes:
        out = task.run({"image": load_image(upload)}, {"scale": 2}, ctx).images["image"]
        return encode_image(out, "png")

    with tempfile.TemporaryDirectory() as home:
        server = Server(Path(home), workers=1, threads=threads)
        try:
            server.start()
            client = httpx.Client(base_url=server.url, timeout=600)

            def through_api() -> bytes:
                r = submit(client, "upscale", {"scale": 2}, {"image": upload})
                job = wait_done(client, r.json()["id"])
                assert job["status"] == "done", job["error"]
                return client.get(f"/api/jobs/{job['id']}/outputs/image").content

            api_first = through_api()  # warm-ups: the worker loads sr-x2, this process too
            local_first = in_process()
            same = np.array_equal(load_image(api_first), load_image(local_first))
            api, local = [], []
            for r in range(rounds):  # interleaved, alternating which goes first
                for name in (("api", "local") if r % 2 == 0 else ("local", "api")):
                    began = time.perf_counter()
                    (through_api if name == "api" else in_process)()
                    (api if name == "api" else local).append(time.perf_counter() - began)
        finally:
            server.close()
    p50_api, p50_local = float(np.median(api)), float(np.median(local))
    return {"megapixels": side * side / 1e6, "threads": threads, "rounds": rounds,
            "api_seconds": api, "in_process_seconds": local, "api_p50": p50_api, "in_process_p50": p50_local,
            "overhead": p50_api / p50_local - 1, "same_result": bool(same)}


def _load_jobs() -> list[tuple[str, dict, dict[str, bytes]]]:
    edit = _png(_photo(256))
    small = _png(_photo(128))
    return [("edit", {"pipeline": "equalize | gaussian_blur sigma=1.5"}, {"image": edit}),
            ("upscale", {"scale": 2}, {"image": small})]


def _busy(home: Path) -> int:
    """Jobs queued or running in the home's queue."""
    import sqlite3

    with sqlite3.connect(home / "studio.db") as db:
        return db.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0]


def _settle(home: Path, timeout: float = 300.0) -> None:
    """Wait until no job in the home's queue is queued or running."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and _busy(home):
        time.sleep(0.2)


def part_load(clients: int, seconds: float, workers: int, crash: bool) -> dict:
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        server = Server(home, workers=workers, threads=1)
        ledger = Ledger()
        restart_seconds = recovered = waiting = None
        try:
            server.start()
            runner = threading.Thread(target=run_clients, args=(server.url, clients, seconds, _load_jobs(), ledger))
            began = time.perf_counter()
            runner.start()
            if crash:
                time.sleep(seconds / 2)
                with httpx.Client(base_url=server.url, timeout=30) as burst:  # a queue to lose
                    for task, params, files in _load_jobs() * (BURST // 2):
                        r = submit(burst, task, params, files)
                        if r.status_code == 202:
                            with ledger.lock:
                                ledger.accepted.append(r.json()["id"])
                server.kill()
                waiting = _busy(home)  # what the dead server left queued or running
                restart_seconds = server.start()
                recovered = httpx.get(server.url + "/api/health", timeout=10).json()["recovered"]
            runner.join()
            _settle(home)
            wall = time.perf_counter() - began
            audit = queue_audit(home, ledger.accepted)
        finally:
            server.close()
    lat = np.array(ledger.latencies) if ledger.latencies else np.array([np.nan])
    return {"clients": clients, "seconds": seconds, "workers": workers, "wall_seconds": wall,
            "accepted": len(ledger.accepted), "finished": len(ledger.latencies), "refused_429": ledger.refused_429,
            "cut_by_kill": ledger.cut, "failed": ledger.failed,
            "throughput_per_s": len(ledger.latencies) / wall, "p50_s": float(np.median(lat)),
            "p95_s": float(np.percentile(lat, 95)), "restart_seconds": restart_seconds,
            "recovered_at_restart": recovered, "waiting_at_kill": waiting, "audit": audit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="overhead,load,crash")
    parser.add_argument("--quick", action="store_true", help="0.25-megapixel upscale, 2 rounds, 8 s loads")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (1..32)")
    parser.add_argument("--seconds", type=float, default=None, help="length of each load run (at most 120)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the overhead part")
    parser.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "results" / "serve_load.json")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 32:
        parser.error("--clients must be in 1..32")
    seconds = min(120.0, args.seconds or (8.0 if args.quick else 30.0))
    parts = [p.strip() for p in args.only.split(",") if p.strip()]

    from _machine import torch_machine_info
    from _report import finish_report

    started = dt.datetime.now(dt.timezone.utc)
    result: dict = {"benchmark": "serve_load", "date": started.isoformat(timespec="seconds"),
                    "machine": torch_machine_info(), "part_seconds": {}}
    rows = []
    if "overhead" in parts:
        t0 = time.perf_counter()
        side = 512 if args.quick else 1024
        o = result["overhead"] = part_overhead(side, 2 if args.quick else 5, args.threads)
        result["part_seconds"]["overhead"] = time.perf_counter() - t0
        rows += [
            ("overhead", f"x2 upscale {o['megapixels']:.2f} MP, p50 API / in-process", "<= 1.15",
             f"{o['api_p50']:.2f} / {o['in_process_p50']:.2f} s = {1 + o['overhead']:.3f}",
             "PASS" if o["overhead"] <= 0.15 else "MISS"),
            ("overhead", "same pixels through the API", "yes", "yes" if o["same_result"] else "no",
             "PASS" if o["same_result"] else "MISS"),
        ]
    for name, crash in (("load", False), ("crash", True)):
        if name not in parts:
            continue
        t0 = time.perf_counter()
        r = result[name] = part_load(args.clients, seconds, workers=2, crash=crash)
        result["part_seconds"][name] = time.perf_counter() - t0
        a = r["audit"]
        ok = not a["lost"] and not a["completed_twice"] and not a["not_done"] and not r["failed"]
        label = f"{args.clients} clients, {seconds:g} s" + (", SIGKILL half-way" if crash else "")
        rows += [
            (name, f"{label}: jobs finished / s", "-", f"{r['throughput_per_s']:.2f}", "-"),
            (name, "latency p50 / p95", "-", f"{r['p50_s']:.2f} / {r['p95_s']:.2f} s", "-"),
            (name, "accepted / in queue / done once", "all equal",
             f"{r['accepted']} / {a['jobs_in_queue']} / {a['statuses'].get('done', 0)}", "PASS" if ok else "MISS"),
            (name, "lost / completed twice / failed", "0 / 0 / 0",
             f"{len(a['lost'])} / {len(a['completed_twice'])} / {len(r['failed']) + len(a['not_done'])}",
             "PASS" if ok else "MISS"),
        ]
        if crash:
            rows.append((name, "jobs waiting at the kill; of them running (queued again)", "-",
                         f"{r['waiting_at_kill']}; {r['recovered_at_restart']}", "-"))
            rows.append((name, "restart: time to answer", "-", f"{r['restart_seconds']:.1f} s", "-"))
            rows.append((name, "submissions cut by the kill (no answer) / of them queued", "-",
                         f"{r['cut_by_kill']} / {a['unanswered_but_done']}", "-"))
    finish_report(result, rows, started, "studio load benchmark" + (" (quick)" if args.quick else ""), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
