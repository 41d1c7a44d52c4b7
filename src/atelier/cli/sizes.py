"""Reading an image size written ``WIDTHxHEIGHT`` on the command line (``--size 1024x768``).

Example
-------
>>> parse_size("1024x768")
(1024, 768)
>>> parse_size("1024")
Traceback (most recent call last):
...
atelier.errors.InvalidArgument: --size 1024: give width x height in pixels, e.g. --size 1024x768
"""

from __future__ import annotations

import re

from atelier.errors import InvalidArgument

_SIZE = re.compile(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*")


def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    """``(width, height)`` from ``"WxH"`` (``x``, ``X`` or ``×``); both at least 1."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise InvalidArgument(f"{option} {text}: give width x height in pixels, e.g. {option} 1024x768")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1:
        raise InvalidArgument(f"{option} {text}: width and height must be at least 1 pixel")
    return width, height
