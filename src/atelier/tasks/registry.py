"""The task registry: every user-facing job (edit, upscale, denoise, stylize, inpaint, caption,
generate, sample, train, compare) registers here once, and the command line and the studio's
HTTP API are thin layers over it.

A task is one function. Its first parameter is the :class:`TaskContext` (seed, device,
progress, cancellation, where models come from); the next ones are its declared inputs
(images, a mask, a prompt), by the names of its :class:`InputSpec`; the rest are keyword
parameters whose names, types, defaults, ranges and help are read from the signature, as the
op registry reads an op's (``Annotated[int, Range(2, 4), "help"]``). It returns a
:class:`TaskResult` (images, text, JSON-able data)::

    @register_task("upscale", inputs=[InputSpec("image", "image")], category="restore")
    def upscale_task(ctx, image, *, scale: Annotated[Literal[2, 3, 4], "factor"] = 4):
        ...
        return TaskResult(images={"image": out})

:meth:`TaskSpec.check_params` turns raw values (from JSON or the command line) into checked
ones, :meth:`TaskSpec.json_schema` is the JSON Schema the web form and the OpenAPI document
show, and :meth:`TaskSpec.run` checks everything, then runs.

Example
-------
>>> import numpy as np
>>> spec = get_task("edit")
>>> [i.name for i in spec.inputs], [p.name for p in spec.params]
(['image'], ['pipeline'])
>>> out = spec.run({"image": np.zeros((8, 8, 3), np.uint8)}, {"pipeline": "brightness amount=1"})
>>> int(out.images["image"][0, 0, 0])
255
>>> spec.check_params({"pipeline": 3})
Traceback (most recent call last):
...
atelier.errors.InvalidArgument: parameter pipeline must be str, got int 3
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np

from atelier.errors import AtelierError, InvalidArgument, lookup
from atelier.ops.registry import ParamSpec, param_from_annotation

__all__ = [
    "InputSpec", "TaskContext", "TaskResult", "TaskSpec", "TaskCancelled",
    "register_task", "get_task", "list_tasks", "param_schema",
]

#: ``progress(done, total, stage)``: what a task reports as it goes.
ProgressFn = Callable[[int, int, str], None]
InputKind = Literal["image", "mask", "text"]

_REGISTRY: dict[str, "TaskSpec"] = {}
#: The package whose modules register the tasks (imported on the first lookup).
_CATALOG = "atelier.tasks.catalog"


class TaskCancelled(AtelierError):
    """The task was asked to stop (a cancelled job) and stopped at its next report."""


@dataclass(frozen=True)
class InputSpec:
    """One input of a task: an ``image`` (``H x W [x C]``), a ``mask`` (``H x W``, nonzero =
    selected) or a ``text`` (a prompt)."""

    name: str
    kind: InputKind
    required: bool = True
    help: str = ""


@dataclass
class TaskResult:
    """What a task made: named images (numpy, the input's layout), a text, JSON-able data."""

    images: dict[str, np.ndarray] = field(default_factory=dict)
    text: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskContext:
    """How a task is run: the same task runs from the CLI, from Python and in a studio worker.

    ``progress(done, total, stage)`` receives reports; ``should_stop()`` True makes the next
    :meth:`report` raise :class:`TaskCancelled`; ``emit(kind, data)`` passes events a task
    makes as it goes (training's loss records and sample grids). ``work_dir`` is where a task
    that makes files (a training run) writes them. ``allow_paths`` False (the studio) makes
    :meth:`model_source` accept names only: shipped models and runs under ``work_dir/runs``.
    """

    seed: int = 0
    device: str = "auto"
    progress: ProgressFn | None = None
    should_stop: Callable[[], bool] | None = None
    emit: Callable[[str, dict[str, Any]], None] | None = None
    work_dir: Path | None = None
    allow_paths: bool = True
    max_pixels: int | None = None

    def report(self, done: int, total: int, stage: str = "") -> None:
        """Report progress; raises :class:`TaskCancelled` when the caller asked to stop."""
        if self.should_stop is not None and self.should_stop():
            raise TaskCancelled("the job was cancelled")
        if self.progress is not None:
            self.progress(int(done), int(total), stage)

    def event(self, kind: str, data: dict[str, Any]) -> None:
        """Pass an event (``log``, ``sample``) to whoever runs the task."""
        if self.emit is not None:
            self.emit(kind, data)

    def torch_device(self) -> str:
        """The checked device name (``auto`` resolved)."""
        from atelier.devices import select_device

        return str(select_device(self.device))

    def runs_dir(self) -> Path:
        """Where training runs go: ``work_dir/runs`` (the current folder's ``runs`` without one)."""
        return (self.work_dir or Path(".")) / "runs"

    def model_source(self, name: str, what: str = "model") -> str:
        """A model the user named, as a loader takes it. With ``allow_paths`` any name or path
        passes through; without, a shipped name passes and a run name becomes its folder under
        :meth:`runs_dir`; a path or an unknown name is ``InvalidArgument``."""
        if self.allow_paths:
            return name
        from atelier.pretrained import PRETRAINED

        if name in PRETRAINED:
            return name
        if not is_safe_name(name):
            raise InvalidArgument(f"{what} {name!r}: give a model's name, not a path")
        run = self.runs_dir() / name
        if (run / "model.json").is_file():
            return str(run)
        known = sorted(PRETRAINED) + list_run_names(self.runs_dir())
        raise InvalidArgument(f"unknown {what} {name!r} (known: {', '.join(known)})")


def is_safe_name(name: str) -> bool:
    """True for a plain name: letters, digits, ``-``, ``_``, ``.``; no separator, not ``..``."""
    return (
        isinstance(name, str) and 0 < len(name) <= 100 and name not in (".", "..")
        and all(c.isalnum() or c in "-_." for c in name)
    )


def list_run_names(runs: Path) -> list[str]:
    """Names of the runs under ``runs`` that hold an exported model."""
    if not runs.is_dir():
        return []
    return sorted(p.name for p in runs.iterdir() if (p / "model.json").is_file())


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: name, one-line summary, category, inputs, parameters, the function,
    the names of the images it returns, and whether it is long work (training)."""

    name: str
    summary: str
    category: str
    inputs: tuple[InputSpec, ...]
    params: tuple[ParamSpec, ...]
    func: Callable[..., TaskResult]
    outputs: tuple[str, ...] = ("image",)
    long: bool = False
    precheck: Callable[[TaskContext, dict[str, Any]], None] | None = None

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise InvalidArgument(f"task {self.name} has no parameter {name!r} (parameters: {known})")

    def check_params(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Checked values for every parameter: the given ones checked, the rest defaulted.
        Unknown names, wrong types and out-of-range values are ``InvalidArgument``."""
        if not isinstance(raw, Mapping):
            raise InvalidArgument(f"parameters of task {self.name} must be an object of name: value")
        values = {}
        for key in raw:
            self.param(key)  # an unknown name is one line naming the known ones
        for p in self.params:
            if p.name in raw:
                values[p.name] = p.check(raw[p.name])
            elif p.required:
                raise InvalidArgument(f"task {self.name} needs parameter {p.name}")
            else:
                values[p.name] = p.default
        return values

    def validate(self, raw: Mapping[str, Any], ctx: TaskContext) -> dict[str, Any]:
        """:meth:`check_params`, then the task's own quick checks (an edit's pipeline, a
        training's dataset and settings) that need no model: what a server checks before it
        queues a job, so a mistake is an answer, not a failed job."""
        values = self.check_params(raw)
        if self.precheck is not None:
            self.precheck(ctx, values)
        return values

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The inputs by name, each present when required; unknown names are an error."""
        names = {i.name for i in self.inputs}
        for key in inputs:
            if key not in names:
                raise InvalidArgument(
                    f"task {self.name} has no input {key!r} (inputs: {', '.join(sorted(names)) or 'none'})"
                )
        out = {}
        for spec in self.inputs:
            value = inputs.get(spec.name)
            if value is None and spec.required:
                raise InvalidArgument(f"task {self.name} needs the input {spec.name} ({spec.kind})")
            if value is not None and spec.kind == "text" and not isinstance(value, str):
                raise InvalidArgument(f"input {spec.name} must be text")
            out[spec.name] = value
        return out

    def run(self, inputs: Mapping[str, Any], params: Mapping[str, Any] | None = None,
            ctx: TaskContext | None = None) -> TaskResult:
        """Check ``inputs`` and ``params``, then run the task."""
        ctx = ctx or TaskContext()
        checked = self.validate(params or {}, ctx)
        given = self.check_inputs(inputs)
        result = self.func(ctx, **given, **checked)
        if not isinstance(result, TaskResult):  # a bug in the task, not the user's mistake
            raise TypeError(f"task {self.name} returned {type(result).__name__}, not TaskResult")
        return result

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of the parameters object (what a form and the API document show)."""
        return {
            "title": self.name,
            "type": "object",
            "properties": {p.name: param_schema(p) for p in self.params},
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }

    def describe(self) -> dict[str, Any]:
        """JSON-able description: summary, inputs, outputs, parameter schema."""
        return {
            "name": self.name,
            "summary": self.summary,
            "category": self.category,
            "long": self.long,
            "inputs": [dataclasses.asdict(i) for i in self.inputs],
            "outputs": list(self.outputs),
            "params": self.json_schema(),
        }


def param_schema(p: ParamSpec) -> dict[str, Any]:
    """The JSON Schema of one parameter (``minimum``/``exclusiveMinimum`` from its range)."""
    kinds = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}
    if p.kind == "choice":
        schema: dict[str, Any] = {"enum": list(p.choices)}
    elif p.kind == "tuple":
        item = {"type": kinds[p.item.__name__]}
        schema = {"type": "array", "items": item}
        if p.length is not None:
            schema |= {"minItems": p.length, "maxItems": p.length}
    elif p.kind in kinds:
        schema = {"type": kinds[p.kind]}
    else:
        raise TypeError(f"parameter {p.name}: kind {p.kind} has no JSON form")  # a bug in a task
    if p.range is not None and p.kind in ("int", "float", "tuple"):
        target = schema["items"] if p.kind == "tuple" else schema
        if p.range.low is not None:
            target["exclusiveMinimum" if p.range.low_open else "minimum"] = p.range.low
        if p.range.high is not None:
            target["exclusiveMaximum" if p.range.high_open else "maximum"] = p.range.high
    if p.optional:
        schema = {"anyOf": [schema, {"type": "null"}]}
    if not p.required:
        schema["default"] = list(p.default) if isinstance(p.default, tuple) else p.default
    if p.help:
        schema["description"] = p.help
    return schema


def register_task(
    name: str,
    *,
    inputs: Sequence[InputSpec] = (),
    category: str = "edit",
    outputs: Sequence[str] = ("image",),
    long: bool = False,
    precheck: Callable[[TaskContext, dict[str, Any]], None] | None = None,
) -> Callable[[Callable[..., TaskResult]], Callable[..., TaskResult]]:
    """Register ``func(ctx, *inputs, **params) -> TaskResult`` as the task ``name``;
    ``precheck(ctx, params)`` raises ``InvalidArgument`` for what is wrong before any work."""

    def decorate(func: Callable[..., TaskResult]) -> Callable[..., TaskResult]:
        old = _REGISTRY.get(name)
        if old is not None and old.func.__qualname__ != func.__qualname__:
            raise ValueError(f"task {name!r} registered twice")  # a bug in atelier
        hints = typing.get_type_hints(func, include_extras=True)
        names = list(inspect.signature(func).parameters)
        declared = [i.name for i in inputs]
        if names[1:1 + len(declared)] != declared:
            raise TypeError(f"task {name}: parameters after ctx must be the inputs {declared}")
        sig = inspect.signature(func)
        params = tuple(
            param_from_annotation(p, hints[p], sig.parameters[p].default)
            for p in names[1 + len(declared):]
        )
        summary = (inspect.getdoc(func) or "").split("\n", 1)[0]
        _REGISTRY[name] = TaskSpec(name, summary, category, tuple(inputs), params, func,
                                   tuple(outputs), long, precheck)
        return func

    return decorate


def get_task(name: str) -> TaskSpec:
    """Look a task up by name; ``UnknownName`` (with close matches) if it is not registered."""
    importlib.import_module(_CATALOG)
    return lookup(_REGISTRY, name, "task")


def list_tasks() -> list[TaskSpec]:
    """Every registered task, sorted by category then name."""
    importlib.import_module(_CATALOG)
    return sorted(_REGISTRY.values(), key=lambda s: (s.category, s.name))
