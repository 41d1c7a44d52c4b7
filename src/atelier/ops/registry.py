"""The op registry: every classic edit registers by name with typed, range-checked parameters.

Parameters are read from the function's own signature, so the signature is the single source
of truth for names, types, defaults, ranges and help text::

    @register("gaussian_blur", category="filters")
    def gaussian_blur(image, sigma: Annotated[float, Range(0, 200, low_open=True),
                                              "standard deviation in pixels"] = 1.0):
        ...

Supported annotations: ``int``, ``float``, ``bool``, ``str``, ``Literal[...]`` (choices),
``tuple[int, ...]`` / ``tuple[float, ...]`` (comma-separated on the command line),
``np.ndarray`` (another image; a file path on the command line), ``tuple[np.ndarray, ...]``,
and ``X | None``. The decorated function checks its image and every argument on each call
and raises ``InvalidImage`` / ``InvalidArgument``; ``get_op`` raises ``UnknownName``.

Example
-------
>>> from atelier.ops import get_op
>>> spec = get_op("gaussian_blur")
>>> [p.name for p in spec.params][:1]
['sigma']
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np

from atelier.errors import InvalidArgument, lookup
from atelier.arrays import check_image

_REGISTRY: dict[str, "OpSpec"] = {}


@dataclass(frozen=True)
class Range:
    """Allowed numeric range of a parameter (``None`` = unbounded; open ends are exclusive)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        ):
            return False
        return True

    def __str__(self) -> str:
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{'(' if self.low_open or self.low is None else '['}{lo}, {hi}" + (
            ")" if self.high_open or self.high is None else "]"
        )


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of an op. ``kind`` is int, float, bool, str, choice, tuple, image, images."""

    name: str
    kind: str
    default: Any
    required: bool
    optional: bool = False
    choices: tuple = ()
    range: Range | None = None
    item: type | None = None  # element type of a tuple
    length: int | None = None  # fixed tuple length, None = any
    help: str = ""

    @property
    def type_name(self) -> str:
        if self.kind == "choice":
            return "|".join(map(str, self.choices))
        if self.kind == "tuple":
            n = "..." if self.length is None else str(self.length)
            return f"{self.item.__name__}[{n}]"
        return self.kind + (" or none" if self.optional else "")

    def parse(self, text: str) -> Any:
        """Parse a command-line string into a Python value (then ``check`` it)."""
        if self.optional and text.lower() in ("none", ""):
            return None
        try:
            if self.kind == "int":
                return int(text)
            if self.kind == "float":
                return float(text)
            if self.kind == "bool":
                low = text.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            if self.kind == "tuple":
                return tuple(self.item(t) for t in text.split(",") if t.strip() != "")
        except ValueError:
            raise InvalidArgument(
                f"parameter {self.name}: cannot read {text!r} as {self.type_name}"
            ) from None
        if self.kind == "choice":
            for c in self.choices:  # choices may be numbers
                if str(c) == text:
                    return c
            return text
        if self.kind == "image":
            from atelier.image import load_image

            return load_image(text)
        if self.kind == "images":
            from atelier.image import load_image

            return tuple(load_image(t) for t in text.split(",") if t)
        return text

    def check(self, value: Any) -> Any:
        """Validate (and lightly coerce) a Python value; raise ``InvalidArgument`` if bad."""
        if value is None:
            if self.optional:
                return None
            raise InvalidArgument(f"parameter {self.name} is required")
        kind = self.kind
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise self._type_error(value)
            value = float(value)
            if not np.isfinite(value):
                raise InvalidArgument(f"parameter {self.name} must be finite, got {value}")
        elif kind == "int":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                if isinstance(value, (float, np.floating)) and float(value).is_integer():
                    value = int(value)
                else:
                    raise self._type_error(value)
            value = int(value)
        elif kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise self._type_error(value)
            value = bool(value)
        elif kind == "str":
            if not isinstance(value, str):
                raise self._type_error(value)
        elif kind == "choice":
            if value not in self.choices:
                raise InvalidArgument(
                    f"parameter {self.name} must be one of {', '.join(map(str, self.choices))};"
                    f" got {value!r}"
                )
        elif kind == "tuple":
            if not isinstance(value, (tuple, list, np.ndarray)):
                raise self._type_error(value)
            try:
                value = tuple(self.item(v) for v in value)
            except (TypeError, ValueError):
                raise self._type_error(value) from None
            if self.length is not None and len(value) != self.length:
                raise InvalidArgument(
                    f"parameter {self.name} needs {self.length} values, got {len(value)}"
                )
            if self.range is not None:
                for v in value:
                    self._check_range(v)
            return value
        elif kind == "image":
            return check_image(value, self.name)
        elif kind == "images":
            if not isinstance(value, (tuple, list)) or len(value) == 0:
                raise InvalidArgument(f"parameter {self.name} must be a non-empty list of images")
            return tuple(check_image(v, f"{self.name}[{i}]") for i, v in enumerate(value))
        if self.range is not None and kind in ("int", "float"):
            self._check_range(value)
        return value

    def _check_range(self, value: float) -> None:
        if not self.range.contains(value):
            raise InvalidArgument(
                f"parameter {self.name} must be in {self.range}, got {value:g}"
            )

    def _type_error(self, value: Any) -> InvalidArgument:
        return InvalidArgument(
            f"parameter {self.name} must be {self.type_name}, got {type(value).__name__} {value!r}"
        )


@dataclass(frozen=True)
class OpSpec:
    """A registered op: its name, category, checked callable and parameter specs."""

    name: str
    category: str
    func: Callable[..., np.ndarray]
    params: tuple[ParamSpec, ...]
    summary: str

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise InvalidArgument(f"op {self.name} has no parameter {name!r} (parameters: {known})")

    def __call__(self, image: np.ndarray, **kwargs: Any) -> np.ndarray:
        return self.func(image, **kwargs)


def param_from_annotation(name: str, annotation: Any, default: Any) -> ParamSpec:
    """The ``ParamSpec`` of one annotated parameter (ops and tasks read their signatures so)."""
    rng, help_text = None, ""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *meta = typing.get_args(annotation)
        for m in meta:
            if isinstance(m, Range):
                rng = m
            elif isinstance(m, str):
                help_text = m
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
        origin = typing.get_origin(annotation)
    required = default is inspect.Parameter.empty
    common = dict(
        name=name,
        default=None if required else default,
        required=required,
        optional=optional,
        range=rng,
        help=help_text,
    )
    if origin is Literal:
        return ParamSpec(kind="choice", choices=typing.get_args(annotation), **common)
    if origin is tuple:
        args = typing.get_args(annotation)
        item = args[0]
        if item is np.ndarray:
            return ParamSpec(kind="images", **common)
        length = None if (len(args) == 2 and args[1] is Ellipsis) else len(args)
        return ParamSpec(kind="tuple", item=item, length=length, **common)
    if annotation is np.ndarray:
        return ParamSpec(kind="image", **common)
    kinds = {int: "int", float: "float", bool: "bool", str: "str"}
    if annotation not in kinds:
        raise TypeError(f"parameter {name}: unsupported annotation {annotation!r}")
    return ParamSpec(kind=kinds[annotation], **common)


def register(name: str, category: str) -> Callable[[Callable], Callable]:
    """Register an op. The first parameter is the image; the rest are keyword parameters."""

    def decorate(func: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        if name in _REGISTRY:
            raise ValueError(f"op {name!r} registered twice")
        hints = typing.get_type_hints(func, include_extras=True)
        sig = inspect.signature(func)
        names = list(sig.parameters)
        params = tuple(
            param_from_annotation(p, hints[p], sig.parameters[p].default) for p in names[1:]
        )
        by_name = {p.name: p for p in params}

        @functools.wraps(func)
        def checked(image: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
            check_image(image)
            if len(args) > len(params):
                raise InvalidArgument(f"op {name} takes at most {len(params)} parameters")
            for p, value in zip(params, args):
                kwargs[p.name] = value
            for key in kwargs:
                if key not in by_name:
                    raise InvalidArgument(
                        f"op {name} has no parameter {key!r} "
                        f"(parameters: {', '.join(by_name) or 'none'})"
                    )
            for p in params:
                if p.name in kwargs:
                    kwargs[p.name] = p.check(kwargs[p.name])
                elif p.required:
                    raise InvalidArgument(f"op {name} needs parameter {p.name}")
            return func(image, **kwargs)

        summary = (inspect.getdoc(func) or "").split("\n", 1)[0]
        spec = OpSpec(name=name, category=category, func=checked, params=params, summary=summary)
        _REGISTRY[name] = spec
        checked.spec = spec  # type: ignore[attr-defined]
        return checked

    return decorate


def get_op(name: str) -> OpSpec:
    """Look an op up by name; ``UnknownName`` (with close matches) if it is not registered."""
    return lookup(_REGISTRY, name, "op", hint="`atelier ops` (or GET /api/ops in the studio) lists them")


def list_ops() -> list[OpSpec]:
    """All registered ops, sorted by category then name."""
    return sorted(_REGISTRY.values(), key=lambda s: (s.category, s.name))
