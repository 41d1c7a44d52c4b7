"""Hostile files: ``load_image`` and ``image_info`` over a folder of truncated, corrupt,
fuzzed and bomb files, next to plain Pillow (``Image.open(...).load()``) on the same files.

The folder defaults to Pillow's own test corpus, ``Tests/images`` of the Pillow sdist of the
installed version, extracted under /tmp (nothing is downloaded at run time; get it once with
``pip download --no-deps --no-binary :all: pillow==VERSION -d /tmp/pillow-sdist`` and
``tar xzf /tmp/pillow-sdist/pillow-VERSION.tar.gz -C /tmp/pillow-sdist``).

Every file is read in a worker process with a time limit per file and a memory limit, so a
hang, a crash or a runaway allocation is recorded instead of stopping the run. The worker
points its stdout and stderr (file descriptors 1 and 2) at a scratch file while it reads each
file, so any library line that would reach a user's terminal is counted.

What must hold: "other exceptions", timeouts and crashes are 0 for atelier; every error is
one line that starts with the file's path; nothing is written to the terminal. Plain Pillow,
measured in the same worker, is the peer: its exceptions show what atelier has to catch, and
the time ratio shows what the checks cost.

    .venv/bin/python benchmarks/hostile_files.py [FOLDER] [--timeout 20] [--memory-gb 6]

Writes ``benchmarks/results/hostile_files.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import PIL

HERE = Path(__file__).resolve().parent
DEFAULT_FOLDER = Path(f"/tmp/pillow-sdist/pillow-{PIL.__version__}/Tests/images")
WAYS = ("load_image", "image_info", "pillow")


# --- worker: reads one path per line on stdin, answers one JSON line per path --------------


def _run_one(way: str, path: str) -> dict:
    from atelier.errors import AtelierError, InvalidImage
    from atelier.image import image_info, load_image

    start = time.perf_counter()
    record: dict = {}
    try:
        if way == "load_image":
            array = load_image(path)
            record["result"] = f"{array.shape} {array.dtype}"
        elif way == "image_info":
            info = image_info(path)
            record["result"] = f"{info.format} {info.width}x{info.height} {info.mode}"
        else:
            import warnings

            from PIL import Image

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as im:
                    im.load()
                    record["result"] = f"{im.format} {im.size} {im.mode}"
        record["outcome"] = "ok"
    except InvalidImage as exc:
        record["outcome"] = "InvalidImage"
        record["error"] = type(exc).__name__
        record["message"] = str(exc)
        record["one_line"] = "\n" not in str(exc)
        record["names_path"] = str(exc).startswith(path + ": ") and exc.path == path
        record["path_once"] = str(exc).count(path) == 1
    except AtelierError as exc:  # an AtelierError other than InvalidImage: counted apart
        record["outcome"] = "other AtelierError"
        record["error"] = type(exc).__name__
        record["message"] = str(exc)
    except BaseException as exc:  # noqa: BLE001 - the point is to see everything
        if isinstance(exc, KeyboardInterrupt):
            raise
        record["outcome"] = "other exception"
        record["error"] = f"{type(exc).__module__}.{type(exc).__name__}"
        record["message"] = " ".join(str(exc).split())[:300]
    record["seconds"] = time.perf_counter() - start
    return record


def worker(memory_gb: float) -> None:
    if memory_gb > 0:
        import resource

        limit = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    scratch = tempfile.TemporaryFile()
    import atelier.image  # noqa: F401 - import before timing the first file

    for line in sys.stdin:
        way, path = line.rstrip("\n").split("\t", 1)
        saved = os.dup(1), os.dup(2)
        scratch.seek(0)
        scratch.truncate()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(scratch.fileno(), 1)
        os.dup2(scratch.fileno(), 2)
        try:
            record = _run_one(way, path)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        scratch.seek(0)
        noise = scratch.read(2000)
        record["terminal_bytes"] = os.fstat(scratch.fileno()).st_size
        if noise:
            record["terminal_sample"] = noise.decode("utf-8", "replace")[:300]
        protocol.write(json.dumps(record) + "\n")


# --- parent ----------------------------------------------------------------------------------


class Worker:
    def __init__(self, memory_gb: float) -> None:
        self.memory_gb = memory_gb
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--memory-gb", str(self.memory_gb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def ask(self, way: str, path: str, timeout: float) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc and self.proc.stdin and self.proc.stdout
        start = time.perf_counter()
        self.proc.stdin.write(f"{way}\t{path}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if ready:
            line = self.proc.stdout.readline()
            if line:
                return json.loads(line)
            code = self.proc.wait()
            self.proc = None
            return {"outcome": "crash", "error": f"worker exit {code}", "seconds": time.perf_counter() - start}
        self.stop()
        return {"outcome": "timeout", "seconds": time.perf_counter() - start}

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def summarise(records: list[dict], way: str) -> dict:
    rows = [r[way] for r in records]
    outcomes = Counter(r["outcome"] for r in rows)
    errors = Counter(r.get("error") for r in rows if r["outcome"] != "ok")
    invalid = [r for r in rows if r["outcome"] == "InvalidImage"]
    seconds = [r["seconds"] for r in rows]
    slowest = max(records, key=lambda r: r[way]["seconds"])
    return {
        "files": len(rows),
        "ok": outcomes["ok"],
        "invalid_image": outcomes["InvalidImage"],
        "other_atelier_error": outcomes["other AtelierError"],
        "other_exception": outcomes["other exception"],
        "timeout": outcomes["timeout"],
        "crash": outcomes["crash"],
        "errors_by_type": dict(errors.most_common()),
        "messages_not_one_line": sum(not r.get("one_line", True) for r in invalid),
        "messages_not_naming_path_once": sum(
            not (r.get("names_path", True) and r.get("path_once", True)) for r in invalid
        ),
        "files_writing_to_terminal": sum(r.get("terminal_bytes", 0) > 0 for r in rows),
        "max_seconds": max(seconds),
        "slowest_file": slowest["file"],
        "total_seconds": sum(seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per file and way")
    parser.add_argument("--memory-gb", type=float, default=6.0, help="address-space limit of the worker")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "hostile_files.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.memory_gb)
        return 0
    if not args.folder.is_dir():
        print(
            f"{args.folder}: no such folder. Get Pillow's test images once with\n"
            f"  pip download --no-deps --no-binary :all: pillow=={PIL.__version__} -d /tmp/pillow-sdist\n"
            f"  tar xzf /tmp/pillow-sdist/pillow-{PIL.__version__}.tar.gz -C /tmp/pillow-sdist",
            file=sys.stderr,
        )
        return 2
    files = sorted(p for p in args.folder.rglob("*") if p.is_file() and not p.is_symlink())
    pool = Worker(args.memory_gb)
    records = []
    started = time.perf_counter()
    try:
        for i, path in enumerate(files):
            record = {"file": str(path.relative_to(args.folder))}
            for way in WAYS:
                record[way] = pool.ask(way, str(path), args.timeout)
            records.append(record)
            if (i + 1) % 100 == 0:
                print(f"  {i + 1}/{len(files)} files, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    finally:
        pool.stop()
    summary = {way: summarise(records, way) for way in WAYS}
    ratio = summary["load_image"]["total_seconds"] / max(summary["pillow"]["total_seconds"], 1e-9)

    print(f"\nhostile files: {args.folder} ({len(files)} files, Pillow {PIL.__version__})\n")
    head = f"{'':12} {'files':>6} {'ok':>6} {'Invalid':>8} {'other':>6} {'timeout':>8} {'crash':>6} {'noisy':>6} {'max s':>7} {'total s':>8}"
    print(head)
    for way in WAYS:
        s = summary[way]
        other = s["other_exception"] + s["other_atelier_error"]
        print(
            f"{way:12} {s['files']:6d} {s['ok']:6d} {s['invalid_image']:8d} {other:6d} "
            f"{s['timeout']:8d} {s['crash']:6d} {s['files_writing_to_terminal']:6d} "
            f"{s['max_seconds']:7.3f} {s['total_seconds']:8.2f}"
        )
    print(
        "\nInvalid: InvalidImage (or a subclass); other: any other exception (pillow: what "
        "atelier must catch); noisy: files that wrote to stdout/stderr"
    )
    for way in ("load_image", "image_info"):
        s = summary[way]
        print(
            f"{way}: errors {s['errors_by_type']}; not one line: {s['messages_not_one_line']}; "
            f"not naming the path once: {s['messages_not_naming_path_once']}; slowest: {s['slowest_file']}"
        )
    print(f"pillow (peer): errors {summary['pillow']['errors_by_type']}")
    print(f"load_image / plain Pillow time over all files: {ratio:.2f}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "folder": str(args.folder),
        "pillow": PIL.__version__,
        "timeout_s": args.timeout,
        "memory_gb": args.memory_gb,
        "summary": summary,
        "load_vs_pillow_time": ratio,
        "files": records,
    }
    args.out.write_text(json.dumps(payload, indent=1))
    print(f"wrote {args.out}")
    bad = sum(summary[w]["other_exception"] + summary[w]["timeout"] + summary[w]["crash"] for w in ("load_image", "image_info"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
