"""A name -> spec table of registered classes: what the model and scheduler registries share.

A package's modules register their classes with a decorator that calls :meth:`ClassRegistry.add`;
:meth:`ClassRegistry.get` and :meth:`ClassRegistry.specs` import the package first, so every
class is registered by the time a name is looked up (through :func:`atelier.errors.lookup`,
the message every registry gives). This module depends on nothing of atelier's but ``errors``.

Example
-------
>>> table = ClassRegistry("sampler", "atelier.errors")  # a package with nothing to register
>>> class Euler:
...     '''The Euler sampler.
...
...     More text.'''
>>> table.add("euler", Euler, (Euler, doc_summary(Euler)))
>>> table.get("euler")[1]
'The Euler sampler.'
>>> table.get("eulr")
Traceback (most recent call last):
...
atelier.errors.UnknownName: unknown sampler 'eulr'; did you mean euler? (known: euler)
"""

from __future__ import annotations

import importlib
from typing import Generic, TypeVar

from atelier.errors import lookup

__all__ = ["ClassRegistry", "doc_summary"]

S = TypeVar("S")


def doc_summary(cls: type) -> str:
    """The first line of ``cls``'s docstring ('' without one): what a listing shows."""
    return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


class ClassRegistry(Generic[S]):
    """Specs of registered classes by name; ``kind`` names them in messages (``"model"``) and
    importing ``package`` registers them all."""

    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.package = package
        self._specs: dict[str, S] = {}
        self._classes: dict[str, type] = {}

    def add(self, name: str, cls: type, spec: S) -> None:
        """Register ``spec`` of ``cls`` under ``name``; ``ValueError`` (a bug in atelier) when
        another class has the name (the same class again, as on a module reload, is fine)."""
        if name in self._classes and self._classes[name] is not cls:
            raise ValueError(f"{self.kind} {name!r} registered twice")  # a bug in atelier
        self._classes[name] = cls
        self._specs[name] = spec

    def get(self, name: str) -> S:
        """The spec of ``name``; ``UnknownName`` (with close matches) if unknown."""
        importlib.import_module(self.package)
        return lookup(self._specs, name, self.kind)

    def specs(self) -> list[S]:
        """Every spec, sorted by name."""
        importlib.import_module(self.package)
        return [self._specs[k] for k in sorted(self._specs)]
