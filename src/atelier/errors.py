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


class AtelierError(Exception):
    """Base class of every error atelier raises on bad input."""


class InvalidImage(AtelierError, ValueError):
    """A file or array is not a usable image: corrupt, truncated, empty, NaN, wrong shape."""


class ImageTooLarge(InvalidImage):
    """An image's pixel count is over the configured limit (decompression-bomb guard)."""


class InvalidArgument(AtelierError, ValueError):
    """A parameter is out of range, of the wrong type, or not one of the allowed choices."""


class UnknownName(InvalidArgument):
    """A name (op, metric, format, ...) is not registered; the message lists the known ones."""


class OutputExists(AtelierError, FileExistsError):
    """Writing would overwrite an existing file (or an input) without ``overwrite=True``."""
