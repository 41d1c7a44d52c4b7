"""Batch editing: expand inputs (files, folders, globs), plan outputs, run a pipeline in a pool.

Inputs from a folder keep their path relative to that folder under the output folder; single
files and glob matches land directly in it. Every job loads, edits and saves one image; a bad
file becomes a failed ``JobResult`` and the batch goes on. :func:`run_batch` counts the
results into a :class:`BatchSummary`, whose ``exit_code`` is the batch's verdict (0 all
written, 1 some failed, 2 none); the command line only prints.

Example
-------
>>> import numpy as np, tempfile, os
>>> from atelier.image import save_image
>>> from atelier.ops import Pipeline
>>> root = tempfile.mkdtemp(); save_image(os.path.join(root, "in", "a.png"), np.zeros((4, 4, 3), np.uint8))
>>> jobs = plan_jobs([os.path.join(root, "in")], os.path.join(root, "out"))
>>> [r.ok for r in run_jobs(jobs, Pipeline.parse("flip"), workers=1)]
[True]
>>> summary = run_batch(jobs, Pipeline.parse("flip"), options=SaveOptions(overwrite=True))
>>> summary.done, summary.failed, summary.exit_code
(1, 0, 0)
"""

from __future__ import annotations

import glob
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from atelier.errors import AtelierError, InvalidArgument, OutputExists
from atelier.image import DEFAULT_MAX_PIXELS, FORMATS, is_image_path, load_image, save_image
from atelier.ops.pipeline import Pipeline


@dataclass(frozen=True)
class Job:
    """One file to edit: where it comes from and where the result goes."""

    source: Path
    target: Path


@dataclass(frozen=True)
class JobResult:
    job: Job
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SaveOptions:
    format: str | None = None
    quality: int = 95
    overwrite: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS


def expand_inputs(inputs: Sequence[str]) -> list[tuple[Path, Path]]:
    """Expand files, folders (recursively) and globs into ``(file, relative_output_path)``.

    Raises ``InvalidArgument`` for an input that matches nothing, and when nothing at all is
    found.
    """
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and is_image_path(p))
            found += [(p, p.relative_to(path)) for p in files]
        elif path.is_file():
            found.append((path, Path(path.name)))
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True))
            found += [(p, Path(p.name)) for p in matches if p.is_file() and is_image_path(p)]
        else:
            raise InvalidArgument(f"{item}: no such file or folder")
    if not found:
        raise InvalidArgument(
            f"no images found in {', '.join(inputs)} (looked for {', '.join(sorted(FORMATS))})"
        )
    return found


#: Suffixes of other well-known image formats: a path ending in one of them names an image
#: file (one that atelier cannot write), not a folder.
OTHER_IMAGE_SUFFIXES = (
    ".gif", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".j2k", ".ico", ".icns", ".svg", ".psd",
    ".tga", ".ppm", ".pgm", ".pbm", ".pnm", ".exr", ".hdr", ".dds", ".pcx", ".xcf", ".raw",
    ".dng", ".cr2", ".nef", ".arw", ".apng", ".jfif", ".pdf", ".eps",
)

#: The suffixes atelier writes, for messages: ".png, .jpg, ... or .bmp".
SUPPORTED = ", ".join(list(FORMATS)[:-1]) + " or " + list(FORMATS)[-1]


#: The format names ``format`` takes (a suffix without its dot).
FORMAT_NAMES = "png, jpg, webp, tif or bmp"


def check_format(format: str | None) -> None:
    """One clear line for an unknown ``format`` (or one atelier cannot write, like gif).

    Example
    -------
    >>> check_format("PNG"); check_format(None)
    >>> check_format("gif")
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: format gif: atelier cannot write GIF files; use png, jpg, webp, tif or bmp
    """
    if format is None:
        return
    if not isinstance(format, str):
        raise InvalidArgument(f"format must be a name such as png, got {format!r}")
    key = format.lower().strip().lstrip(".")
    if "." + key in FORMATS:
        return
    if "." + key in OTHER_IMAGE_SUFFIXES:
        raise InvalidArgument(f"format {format}: atelier cannot write {key.upper()} files; use {FORMAT_NAMES}")
    raise InvalidArgument(f"unknown format {format!r}; use {FORMAT_NAMES}")


def image_suffix_error(output: str | os.PathLike, option: str = "output") -> str | None:
    """The one-line error for an image file path atelier cannot write, or None when it can;
    ``option`` is how the message names the path (``-o`` on the command line).

    Example
    -------
    >>> print(image_suffix_error("x.gif"))
    output x.gif: atelier cannot write GIF files; use .png, .jpg, .jpeg, .webp, .tif, .tiff or .bmp
    >>> image_suffix_error("x.PNG") is None
    True
    """
    suffix = Path(output).suffix.lower()
    if suffix in FORMATS:
        return None
    if suffix in OTHER_IMAGE_SUFFIXES:
        return f"{option} {output}: atelier cannot write {suffix[1:].upper()} files; use {SUPPORTED}"
    if not suffix:
        return f"{option} {output}: give a file name ending in {SUPPORTED}"
    return f"{option} {output}: {suffix} is not an image format atelier writes; use {SUPPORTED}"


def check_output_parent(output: str | os.PathLike) -> None:
    """Refuse an output under an existing file (``photo.jpg/x.png``) or in an unwritable folder.

    Example
    -------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "photo.jpg"); open(f, "wb").close()
    >>> check_output_parent(os.path.join(f, "x.png"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: cannot write to .../photo.jpg/x.png: .../photo.jpg is a file, not a folder
    """
    path = Path(output)
    for ancestor in reversed(path.parents):
        if str(ancestor) in ("", "."):
            continue
        if ancestor.exists() and not ancestor.is_dir():
            raise InvalidArgument(f"cannot write to {output}: {ancestor} is a file, not a folder")
    existing = next((a for a in [path.parent, *path.parents] if a.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidArgument(f"cannot write to {output}: the folder {existing} is not writable")


def _with_format(path: Path, format: str | None) -> Path:
    if format is None:
        return path
    return path.with_suffix("." + format.lower().lstrip("."))


def _names_folder(output: str | os.PathLike) -> bool:
    """``-o out/`` (a trailing separator) or an existing folder."""
    text = os.fspath(output)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def plan_jobs(
    inputs: Sequence[str], output: str, *, format: str | None = None, overwrite: bool = False
) -> list[Job]:
    """Map inputs to output paths. ``output`` is a file for one input file, else a folder.

    One input file and an ``output`` with an image suffix writes that file (``output`` without
    a suffix, ending in ``/`` or an existing folder: into that folder). Several inputs, a
    folder or a glob write into the folder ``output``; an ``output`` ending in an image
    suffix is then an error, as is a suffix atelier cannot write (``.gif``) for one file, a
    ``format`` that disagrees with the file's suffix, and a parent of ``output`` that is a file.
    Refuses (``OutputExists``) to write over any input unless ``overwrite`` is given, and
    (``InvalidArgument``) two inputs that would land on the same output.
    """
    check_format(format)
    sources = expand_inputs(inputs)
    out = Path(output)
    check_output_parent(output)
    suffix = out.suffix.lower()
    one_file = len(inputs) == 1 and Path(inputs[0]).is_file()
    if one_file and not _names_folder(output) and suffix:
        message = image_suffix_error(output)
        if message is not None:
            raise InvalidArgument(message)
        if format is not None and FORMATS["." + format.lower().strip().lstrip(".")] != FORMATS[suffix]:
            raise InvalidArgument(
                f"output {output} and format {format} disagree; change the suffix or drop the format"
            )
        jobs = [Job(sources[0][0], out)]
    else:
        if not _names_folder(output) and (suffix in FORMATS or suffix in OTHER_IMAGE_SUFFIXES):
            n = len(sources)
            if n == 1:
                raise InvalidArgument(
                    f"output {output} names a file, but {inputs[0]} is a folder or a glob, whose images "
                    f"go into a folder; give a folder (or the one image file as input)"
                )
            raise InvalidArgument(f"output {output} names a file, but {n} images would be written; give a folder")
        if out.exists() and not out.is_dir():
            raise InvalidArgument(f"{out} is a file; give a folder for {len(sources)} inputs")
        jobs = [Job(src, _with_format(out / rel, format)) for src, rel in sources]
    seen: dict[Path, Path] = {}
    inputs_resolved = {src.resolve() for src, _ in sources}
    for job in jobs:
        target = job.target.resolve()
        if target in seen:
            raise InvalidArgument(
                f"{job.source} and {seen[target]} would both be written to {job.target}"
            )
        seen[target] = job.source
        if target in inputs_resolved and not overwrite:
            raise OutputExists(
                f"{job.target} is an input; choose another output or pass overwrite=True"
            )
    return jobs


@dataclass(frozen=True)
class Edited:
    """What a processor's ``apply`` may return instead of a bare image: the image and a note
    about it for the user (e.g. the noise level ``denoise`` estimated)."""

    image: np.ndarray
    note: str | None = None


class TaskEdit:
    """A registered image-to-image task as a batch's processor: ``apply(image)`` runs it with
    fixed ``params`` and ``ctx`` and returns its ``image`` result, with ``note(result)`` as
    the note for the user when given (the noise level ``denoise`` estimated).

    Example
    -------
    >>> from atelier.tasks.registry import TaskContext, get_task
    >>> edit = TaskEdit(get_task("edit"), {"pipeline": "flip"}, TaskContext())
    >>> edit.apply(np.arange(6, dtype=np.uint8).reshape(2, 3))[0].tolist()
    [2, 1, 0]
    """

    def __init__(self, spec: Any, params: dict[str, Any], ctx: Any,
                 note: Callable[[Any], str] | None = None) -> None:
        self.spec, self.params, self.ctx, self.note = spec, params, ctx, note

    def apply(self, image: np.ndarray) -> np.ndarray | Edited:
        result = self.spec.run({"image": image}, self.params, self.ctx)
        if self.note is None:
            return result.images["image"]
        return Edited(result.images["image"], self.note(result))


def _reason(exc: BaseException, source: Path) -> str:
    """The cause of a failure without the file name (the caller prints the path once)."""
    reason = getattr(exc, "reason", None)
    text = str(reason) if reason else (str(exc) or type(exc).__name__)
    for prefix in (f"{source}: ", f"{source.name}: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    if not isinstance(exc, AtelierError):  # a bug or a machine limit: say which
        text = f"{type(exc).__name__}: {text}" if reason is None and str(exc) else text
    return text


def run_job(job: Job, pipeline: Pipeline, options: SaveOptions) -> JobResult:
    """Load, edit and save one image; any exception becomes a failed result (the batch goes on)."""
    note = None
    try:
        if job.target.exists() and not options.overwrite:
            raise OutputExists(f"{job.target} exists; pass overwrite=True to replace it")
        image = load_image(job.source, max_pixels=options.max_pixels)
        result = pipeline.apply(image)
        if isinstance(result, Edited):
            result, note = result.image, result.note
        save_image(
            job.target,
            result,
            format=options.format,
            quality=options.quality,
            overwrite=options.overwrite,
        )
    except Exception as exc:  # noqa: BLE001 - one bad file (or a bug on it) must not stop a batch
        return JobResult(job, _reason(exc, job.source))
    return JobResult(job, note=note)


def run_jobs(
    jobs: Sequence[Job],
    pipeline: Pipeline,
    *,
    workers: int | None = None,
    options: SaveOptions = SaveOptions(),
    on_result: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Run every job; results are returned in job order (``on_result`` sees them as they end).

    ``workers`` is the number of cores to use (default: all). One image gets them all through
    OpenCV's own threads. Several images are spread over ``workers`` threads, each running
    whole jobs with single-threaded OpenCV: decoding, the ops and encoding all release the
    GIL, and parallelism over files scales better than threading inside each op. Threads, not
    processes: nothing to start or pickle, so even a short batch gains (measured on 2 cores:
    1.5-2.3x for 2 workers, as good as or better than a process pool).
    """
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if len(jobs) == 1:
        results = [run_job(jobs[0], pipeline, options)]
        if on_result is not None:
            on_result(results[0])
        return results
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="atelier-edit") as pool:
            futures = {pool.submit(run_job, job, pipeline, options): i for i, job in enumerate(jobs)}
            ordered: list[JobResult | None] = [None] * len(jobs)
            for future in as_completed(futures):
                result = future.result()
                ordered[futures[future]] = result
                if on_result is not None:
                    on_result(result)
    finally:
        cv2.setNumThreads(threads)
    return ordered  # type: ignore[return-value]


@dataclass
class BatchSummary:
    """The outcome of a batch: how many files were written, which failed, and its verdict.

    ``exit_code``: 0 when every file was written, 1 when some failed, 2 when none could be
    done. ``only_failure``: the failed result of a one-file batch (its error is then the
    whole answer), else None.
    """

    total: int
    failures: list[JobResult]

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def done(self) -> int:
        return self.total - self.failed

    @property
    def only_failure(self) -> JobResult | None:
        return self.failures[0] if self.total == 1 and self.failures else None

    @property
    def exit_code(self) -> int:
        if not self.failures:
            return 0
        return 2 if self.done == 0 else 1


def run_batch(
    jobs: Sequence[Job],
    processor: Any,
    *,
    workers: int | None = None,
    options: SaveOptions = SaveOptions(),
    on_result: Callable[[JobResult], None] | None = None,
) -> BatchSummary:
    """:func:`run_jobs`, counted into a :class:`BatchSummary` (``on_result`` sees each result
    as it ends, e.g. to print it and advance a progress bar)."""
    results = run_jobs(jobs, processor, workers=workers, options=options, on_result=on_result)
    return BatchSummary(len(jobs), [r for r in results if not r.ok])
