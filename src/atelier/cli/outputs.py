"""Output paths checked up front, before any work: every command that writes calls these first.

A mistake in ``-o`` (a parent that is a file, a suffix atelier cannot write, a folder where a
file should go) is one ``error:`` line and exit code 2 before a model is loaded or an image
is read, and nothing is written. ``edit``, ``upscale`` and ``denoise`` get the same rules
from :func:`atelier.tasks.batch.plan_jobs`.

Example
-------
>>> check_image_output("x.gif")
Traceback (most recent call last):
...
atelier.errors.InvalidArgument: -o x.gif: atelier cannot write GIF files; use .png, .jpg, .jpeg, .webp, .tif, .tiff or .bmp
"""

from __future__ import annotations

import os
from pathlib import Path

from atelier.errors import InvalidArgument
from atelier.tasks.batch import check_output_parent, image_suffix_error

__all__ = ["check_image_output", "check_output_folder", "check_output_parent"]


def check_image_output(output: str | os.PathLike, option: str = "-o", *, overwrite: bool = True) -> None:
    """An image file to write: a suffix atelier writes, no file among its parents, no folder
    in its place, and (``overwrite=False``) no existing file."""
    message = image_suffix_error(output, option)
    if message is not None:
        raise InvalidArgument(message)
    check_output_parent(output)
    path = Path(output)
    if path.is_dir():
        raise InvalidArgument(f"{option} {output} is a folder; give an image file name")
    if not overwrite and path.exists():
        raise InvalidArgument(f"{output} exists; pass --overwrite to replace it")


def check_output_folder(output: str | os.PathLike, option: str = "-o") -> None:
    """A folder to write files into: not an existing file, no file among its parents."""
    check_output_parent(output)
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise InvalidArgument(f"{option} {output} is a file; give a folder")
