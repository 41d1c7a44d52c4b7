"""Typed settings: the one type check of every user setting, and checked config dataclasses.

Model configs, scheduler configs, the Trainer's ``TrainConfig`` and the objectives' ``Hyper``
dataclasses all declare typed fields; :func:`check_setting` checks one value against its
declared type, :func:`check_range` its range, and :class:`CheckedConfig` (the base of
``ModelConfig`` and ``SchedulerConfig``) type-checks every field on construction. This module
depends on nothing of atelier's but ``errors``, so models and schedulers share it without one
importing the other (DESIGN.md: dependencies point one way).

Example
-------
>>> from dataclasses import dataclass
>>> @dataclass
... class Blur(CheckedConfig):
...     sigma: float = 1.0
...     def check(self) -> None:
...         self._require(self.sigma > 0, "sigma", "> 0")
>>> Blur(2).sigma
2.0
>>> Blur(-1)
Traceback (most recent call last):
...
atelier.errors.InvalidArgument: Blur.sigma must be > 0, got -1.0
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from atelier.errors import InvalidArgument

__all__ = ["check_int", "check_setting", "check_range", "CheckedConfig", "config_from"]


def check_int(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int when it is an integer (Python or NumPy, not bool) >= ``minimum``;
    otherwise ``InvalidArgument`` naming ``name``.

    >>> check_int(3, "beam", 1)
    3
    >>> check_int(0, "beam", 1)
    Traceback (most recent call last):
    atelier.errors.InvalidArgument: beam must be an integer >= 1, got 0
    """
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_setting(where: str, value: Any, hint: Any) -> Any:
    """Check one setting against its declared type; return it normalised or raise ``InvalidArgument``.

    The one type check of every user setting (model configs, the Trainer's ``TrainConfig``,
    the objectives' ``Hyper`` dataclasses): ``int`` takes integers only (not ``true``, not
    ``1e3``), ``float`` takes finite numbers only (not NaN or infinity; ints are widened),
    ``bool`` takes ``true``/``false``, ``str`` strings, ``Literal[...]`` one of its values,
    ``X | None`` None or an ``X``, ``tuple[float, float]`` a list or tuple of that many
    (returned as a tuple), ``tuple[int, ...]`` a list of any length. ``where`` names the setting in the message (``train.steps``).

    Example
    -------
    >>> check_setting("train.grad_clip", 1, float | None)
    1.0
    >>> check_setting("train.steps", 1e3, int)
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: train.steps must be an integer, got 1000.0
    """
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            raise InvalidArgument(
                f"{where} must be one of {', '.join(map(repr, choices))}, got {value!r}"
            )
        return value
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        if len(options) == 1:
            try:
                return check_setting(where, value, options[0])
            except InvalidArgument as exc:
                raise InvalidArgument(f"{exc} (or null for none)") from None
        raise TypeError(f"{where}: unsupported setting annotation {hint!r}")  # a bug in atelier
    if origin is tuple:
        items = typing.get_args(hint)
        if len(items) == 2 and items[1] is Ellipsis:  # tuple[int, ...]: any length
            if not isinstance(value, (list, tuple)):
                raise InvalidArgument(f"{where} must be a list of {_KIND_NAMES[items[0]]}, got {value!r}")
            return tuple(check_setting(f"{where}[{i}]", v, items[0]) for i, v in enumerate(value))
        if not isinstance(value, (list, tuple)) or len(value) != len(items):
            raise InvalidArgument(f"{where} must be a list of {len(items)} numbers, got {value!r}")
        return tuple(check_setting(f"{where}[{i}]", v, t) for i, (v, t) in enumerate(zip(value, items)))
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidArgument(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"{where} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidArgument(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidArgument(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise InvalidArgument(f"{where} must be a string, got {value!r}")
        return value
    raise TypeError(f"{where}: unsupported setting annotation {hint!r}")  # a bug in atelier


_KIND_NAMES = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}


def check_range(where: str, value: Any, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False) -> None:
    """``InvalidArgument`` naming ``where`` and the allowed range unless ``low <= value <= high``
    (``<`` where open); None means unbounded on that side.

    >>> check_range("train.ema_decay", 1.0, 0, 1, low_open=True, high_open=True)
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: train.ema_decay must be in (0, 1), got 1.0
    """
    ok = True
    if low is not None:
        ok = ok and (value > low if low_open else value >= low)
    if high is not None:
        ok = ok and (value < high if high_open else value <= high)
    if ok:
        return
    def text(bound: float) -> str:
        return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"

    if high is None:
        what = f"{'>' if low_open else '>='} {text(low)}"
    elif low is None:
        what = f"{'<' if high_open else '<='} {text(high)}"
    elif isinstance(value, int) and not low_open and not high_open:
        what = f"an integer from {text(low)} to {text(high)}"
    else:
        what = f"in {'(' if low_open else '['}{text(low)}, {text(high)}{')' if high_open else ']'}"
    raise InvalidArgument(f"{where} must be {what}, got {value!r}")


@dataclass
class CheckedConfig:
    """Base of a config dataclass: type-checks each field (:func:`check_setting`, named
    ``ClassName.field``), then calls :meth:`check`.

    Subclasses declare typed fields with defaults and may override :meth:`check` for ranges,
    using :meth:`_require`. A wrong type or value raises ``InvalidArgument`` naming the field.
    """

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            where = f"{type(self).__name__}.{f.name}"
            setattr(self, f.name, check_setting(where, getattr(self, f.name), hints[f.name]))
        self.check()

    def check(self) -> None:
        """Range checks (override); raise ``InvalidArgument``."""

    def _require(self, ok: bool, field: str, what: str) -> None:
        if not ok:
            raise InvalidArgument(f"{type(self).__name__}.{field} must be {what}, got {getattr(self, field)!r}")


def config_from(config_class: type, config: Any, owner: str) -> Any:
    """An instance of ``config_class`` from None (its defaults) or a mapping of field values
    (missing fields take defaults); ``owner`` (``"model 'vae'"``) names it in the messages.
    Unknown keys raise ``InvalidArgument`` that lists the known ones. What to do with a config
    instance is the caller's choice (a registry takes it as it is, or copies it).

    >>> @dataclass
    ... class Blur(CheckedConfig):
    ...     sigma: float = 1.0
    >>> config_from(Blur, {"sigma": 2}, "op 'blur'")
    Blur(sigma=2.0)
    >>> config_from(Blur, {"sigmma": 2}, "op 'blur'")
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: unknown config key(s) for op 'blur': sigmma; known keys: sigma
    """
    if config is None:
        return config_class()
    if not isinstance(config, Mapping):
        raise InvalidArgument(
            f"config of {owner} must be a mapping or a {config_class.__name__}, got {type(config).__name__}"
        )
    known = [f.name for f in dataclasses.fields(config_class)]
    unknown = [str(k) for k in config if k not in known]
    if unknown:
        raise InvalidArgument(
            f"unknown config key(s) for {owner}: {', '.join(unknown)}; known keys: {', '.join(known)}"
        )
    return config_class(**dict(config))
