"""Errors for people: each says what was wrong and what to do.

The CLI prints ``str(error)`` on one line and exits with code 2. Anything that is not an
``AtelierError`` is a bug in atelier.

Example
-------
>>> from atelier.errors import InvalidArgument
>>> str(InvalidArgument("sigma must be > 0, got -1"))
'sigma must be > 0, got -1'
"""

from __future__ import annotations

import difflib
from typing import Mapping, TypeVar

T = TypeVar("T")


class AtelierError(Exception):
    """Base class of every error atelier raises on bad input."""


class InvalidImage(AtelierError, ValueError):
    """A file or array is not a usable image: corrupt, truncated, empty, NaN, wrong shape.

    ``InvalidImage(reason, path=p)`` reads ``"p: reason"``; ``.path`` and ``.reason`` keep the
    two parts, so a caller that prints the path itself (``skipped p: reason``) can print the
    reason alone. Without ``path``, ``.path`` is None and ``.reason`` is the whole message.

    Example
    -------
    >>> e = InvalidImage("file is empty", path="a.png")
    >>> str(e), e.path, e.reason
    ('a.png: file is empty', 'a.png', 'file is empty')
    """

    def __init__(self, message: str = "", *, path: object = None) -> None:
        self.path = None if path is None else str(path)
        self.reason = message
        super().__init__(message if path is None else f"{self.path}: {message}")


class ImageTooLarge(InvalidImage):
    """An image's pixel count is over the configured limit (decompression-bomb guard)."""


class InvalidArgument(AtelierError, ValueError):
    """A parameter is out of range, of the wrong type, or not one of the allowed choices."""


class UnknownName(InvalidArgument):
    """A name (op, metric, format, ...) is not registered; the message lists the known ones."""


def lookup(table: Mapping[str, T], name: object, kind: str, *, hint: str | None = None) -> T:
    """``table[name]``, or ``UnknownName`` naming the close matches and the known names.

    Every registry (ops, datasets, models, objectives, metrics, feature extractors) looks
    names up through this, so the message reads the same everywhere: ``hint`` replaces the
    list of known names where that list is long (e.g. "`atelier ops` (or GET /api/ops in the studio) lists them").

    Example
    -------
    >>> lookup({"ssim": 1, "psnr": 2}, "ssmi", "metric")
    Traceback (most recent call last):
    ...
    atelier.errors.UnknownName: unknown metric 'ssmi'; did you mean ssim? (known: psnr, ssim)
    """
    if isinstance(name, str) and name in table:
        return table[name]
    close = difflib.get_close_matches(str(name), list(table), n=3)
    suggestion = f"; did you mean {', '.join(close)}?" if close else ""
    where = hint if hint is not None else f"known: {', '.join(sorted(table)) or 'none'}"
    raise UnknownName(f"unknown {kind} {name!r}{suggestion} ({where})")


class OutputExists(AtelierError, FileExistsError):
    """Writing would overwrite an existing file (or an input) without ``overwrite=True``."""


class UnsupportedFormat(InvalidImage):
    """A readable image file in a format atelier does not read (GIF, DDS, PSD, ...)."""


class CannotWrite(InvalidArgument):
    """An output path cannot be written: its folder is a file, permission denied, read-only,
    disk full. The message names the path and the cause."""
