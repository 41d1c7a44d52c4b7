"""Pipelines: a chain of registered ops written as text, e.g. ``"equalize | unsharp amount=1.5"``.

Each stage is an op name followed by ``key=value`` pairs (shell-style quoting allowed). Values
are parsed by the op's own parameter specs, so a pipeline is checked in full before any image
is touched.

Example
-------
>>> import numpy as np
>>> from atelier.ops.pipeline import Pipeline
>>> p = Pipeline.parse("flip axis=horizontal | rotate angle=90")
>>> p.apply(np.zeros((2, 3, 3), np.uint8)).shape
(3, 2, 3)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atelier.errors import InvalidArgument
from atelier.ops.registry import OpSpec, get_op


@dataclass(frozen=True)
class Stage:
    """One op with its parsed, checked arguments."""

    op: OpSpec
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        args = " ".join(f"{k}={_format_value(v)}" for k, v in self.kwargs.items())
        return f"{self.op.name} {args}".strip()


def _format_value(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"<image {value.shape[1]}x{value.shape[0]}>"
    if isinstance(value, tuple):
        return ",".join(_format_value(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Pipeline:
    """A parsed chain of stages; ``apply`` runs them in order on one image."""

    stages: tuple[Stage, ...]

    @classmethod
    def parse(cls, text: str, *, allow_files: bool = True) -> "Pipeline":
        """Parse pipeline text; raises ``UnknownName`` or ``InvalidArgument`` on any mistake.

        ``allow_files=False`` refuses parameters that read an image file (the studio takes
        no file-system path from a client)."""
        stages = []
        for part in text.split("|"):
            try:
                tokens = shlex.split(part)
            except ValueError as exc:
                raise InvalidArgument(f"cannot read pipeline stage {part.strip()!r}: {exc}") from None
            if not tokens:
                raise InvalidArgument(
                    f"empty stage in pipeline {text!r}; write e.g. \"equalize | unsharp amount=1.5\""
                )
            op = get_op(tokens[0])
            kwargs: dict[str, Any] = {}
            for token in tokens[1:]:
                key, sep, value = token.partition("=")
                if not sep or not key:
                    raise InvalidArgument(
                        f"op {op.name}: expected key=value, got {token!r}"
                    )
                if key in kwargs:
                    raise InvalidArgument(f"op {op.name}: parameter {key} given twice")
                spec = op.param(key)
                if not allow_files and spec.kind in ("image", "images"):
                    raise InvalidArgument(
                        f"op {op.name}: parameter {key} reads an image file, which this service does not allow"
                    )
                kwargs[key] = spec.check(spec.parse(value))
            for spec in op.params:
                if spec.required and spec.name not in kwargs:
                    raise InvalidArgument(f"op {op.name} needs parameter {spec.name}=...")
            stages.append(Stage(op, kwargs))
        return cls(tuple(stages))

    def apply(self, image: np.ndarray) -> np.ndarray:
        for stage in self.stages:
            image = stage.op.func(image, **stage.kwargs)
        return image

    def __str__(self) -> str:
        return " | ".join(str(s) for s in self.stages)


def apply_pipeline(image: np.ndarray, text: str) -> np.ndarray:
    """Parse ``text`` and apply it to ``image`` (see ``Pipeline``)."""
    return Pipeline.parse(text).apply(image)
