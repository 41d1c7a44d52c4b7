"""Safe image I/O: load and save with size limits, clear errors and atomic writes.

``load_image`` returns ``H x W`` (grey), ``H x W x 3`` (RGB) or ``H x W x 4`` (RGBA) arrays of
dtype uint8, or uint16 for 16-bit files, with the EXIF orientation applied. ``save_image``
writes through a temporary file renamed into place, so a failed save leaves nothing behind
and never a half-written file.

Example
-------
>>> import numpy as np, tempfile, os
>>> from atelier.image import load_image, save_image
>>> path = os.path.join(tempfile.mkdtemp(), "x.png")
>>> save_image(path, np.zeros((4, 6, 3), np.uint8))
>>> load_image(path).shape
(4, 6, 3)
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import secrets
import socket
import stat
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from atelier.errors import (
    AtelierError,
    CannotWrite,
    ImageTooLarge,
    InvalidArgument,
    InvalidImage,
    OutputExists,
    UnsupportedFormat,
)
from atelier.arrays import check_image, from_float, to_float

#: Default limit on width x height, checked from the header before any pixel is decoded.
DEFAULT_MAX_PIXELS = 100_000_000

#: File suffixes atelier reads and writes, mapped to Pillow format names.
FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}

Source = Union[str, os.PathLike, bytes]

_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageInfo:
    """What ``image_info`` reads from a file header (no pixels decoded)."""

    path: str
    format: str
    width: int
    height: int
    mode: str
    channels: int
    bit_depth: int
    orientation: int
    file_size: int

    def as_dict(self) -> dict:
        return asdict(self)


def is_image_path(path: str | os.PathLike) -> bool:
    """True when the file name ends in a suffix atelier reads (``FORMATS``)."""
    return Path(path).suffix.lower() in FORMATS


def _name(source: Source) -> str:
    return "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)


def _read_bytes(source: Source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.exists():
            raise InvalidImage(f"{path}: no such file")
        if path.is_dir():
            raise InvalidImage(f"{path}: is a folder, not an image file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidImage(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise InvalidImage(f"{_name(source)}: file is empty")
    return data


def _too_large(name: str, pixels: int, limit: int, size: str = "") -> str:
    return (
        f"{name}: {size}{pixels / 1e6:.6g} megapixels is over the limit of {limit / 1e6:.6g}; "
        f"raise max_pixels (--max-pixels) if you trust this file"
    )


def _open_header(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and enforce the pixel limit before decoding."""
    if max_pixels > (Image.MAX_IMAGE_PIXELS or 0):
        # Pillow has its own bomb check inside open(); ours is the one that counts.
        Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        # Pillow only refuses sizes over twice its limit, which we keep >= ours.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else 2 * max_pixels
        raise ImageTooLarge(_too_large(name, pixels, max_pixels)) from None
    except UnidentifiedImageError:
        raise InvalidImage(
            f"{name}: not an image, or a format atelier cannot read "
            f"(supported: PNG, JPEG, WebP, TIFF, BMP)"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImage(f"{name}: corrupt image header ({exc})") from None
    width, height = im.size
    if width * height > max_pixels:
        raise ImageTooLarge(_too_large(name, width * height, max_pixels, f"{width}x{height} = "))
    if width == 0 or height == 0:
        raise InvalidImage(f"{name}: image has zero size ({width}x{height})")
    return im


def _bit_depth(im: Image.Image, data: bytes) -> int:
    """Bits per sample from the file itself (Pillow reports 16-bit colour as 8-bit 'RGB')."""
    if im.format == "PNG" and len(data) > 24:
        return data[24]  # IHDR bit depth
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        return int(bits[0] if isinstance(bits, tuple) else bits)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return 16
    if im.mode == "1":
        return 1
    return 32 if im.mode in ("I", "F") else 8


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # a broken EXIF block must not make a good image unreadable
        return 1


def _apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation (1-8) applied to a numpy array, as ImageOps.exif_transpose does."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2),
        8: lambda a: np.rot90(a, 1),
    }
    fix = ops.get(orientation)
    return np.ascontiguousarray(fix(array)) if fix else array


def _decode_16bit_color(data: bytes, name: str) -> np.ndarray:
    """16-bit RGB(A) PNG/TIFF through OpenCV, since Pillow truncates them to 8 bits."""
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise InvalidImage(f"{name}: corrupt or truncated 16-bit image")
    if array.ndim == 3:
        code = cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB
        array = cv2.cvtColor(array, code)
    return array


def _pil_to_array(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im).astype(np.uint16)
    if mode == "I":  # 32-bit int grey (e.g. some 16-bit PNG/TIFF): keep as uint16
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
    if mode == "F":
        return np.clip(np.asarray(im, np.float32), 0.0, 1.0)
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(im)
    if mode == "1":
        return np.asarray(im.convert("L"))
    if mode in ("LA", "La"):
        return np.asarray(im.convert("RGBA"))
    has_alpha = "A" in mode or (mode == "P" and "transparency" in im.info)
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))


def composite_alpha(
    image: np.ndarray, background: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """Composite an RGBA image over a solid background colour (8-bit units); others unchanged.

    Returns ``H x W x 3`` of the input dtype.
    """
    if image.ndim != 3 or image.shape[2] != 4:
        return image
    f = to_float(image)
    alpha = f[..., 3:4]
    bg = np.asarray(background, np.float32).reshape(1, 1, 3) / 255.0
    return from_float(f[..., :3] * alpha + bg * (1.0 - alpha), image.dtype)


def load_image(
    source: Source,
    *,
    mode: Literal["keep", "rgb", "rgba", "grey"] = "keep",
    alpha: Literal["keep", "composite"] = "keep",
    background: tuple[int, int, int] = (255, 255, 255),
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Load an image file (or its bytes) into a numpy array, safely.

    Parameters
    ----------
    source : path or bytes
        PNG, JPEG, WebP, TIFF or BMP.
    mode : {"keep", "rgb", "rgba", "grey"}
        ``keep`` returns the file's own layout (grey ``H x W``, RGB ``H x W x 3``,
        RGBA ``H x W x 4``); the others convert.
    alpha : {"keep", "composite"}
        ``composite`` flattens transparency onto ``background`` (8-bit RGB).
    max_pixels : int
        Width x height limit, checked from the header before decoding (decompression bombs).

    Returns
    -------
    numpy.ndarray
        uint8, or uint16 for 16-bit files; EXIF orientation applied.

    Raises
    ------
    InvalidImage
        Missing, empty, truncated, corrupt or non-image file (the message names the file).
    ImageTooLarge
        More than ``max_pixels`` pixels.

    Example
    -------
    >>> import io, numpy as np
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGBA", (3, 2)).save(buf, "PNG")
    >>> load_image(buf.getvalue(), alpha="composite").shape
    (2, 3, 3)
    """
    if mode not in ("keep", "rgb", "rgba", "grey"):
        raise InvalidArgument(f"mode must be keep, rgb, rgba or grey; got {mode!r}")
    if alpha not in ("keep", "composite"):
        raise InvalidArgument(f"alpha must be keep or composite; got {alpha!r}")
    name = _name(source)
    data = _read_bytes(source)
    im = _open_header(data, name, max_pixels)
    orientation = _orientation(im)
    try:
        if _bit_depth(im, data) == 16 and im.mode in ("RGB", "RGBA"):
            array = _apply_orientation(_decode_16bit_color(data, name), orientation)
        else:
            im.load()
            if orientation != 1:
                im = ImageOps.exif_transpose(im)
            array = _pil_to_array(im)
    except InvalidImage:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidImage(f"{name}: corrupt or truncated image ({exc})") from None
    array = _convert_mode(array, mode)
    if alpha == "composite":
        array = composite_alpha(array, background)
    return np.ascontiguousarray(array)


def _convert_mode(array: np.ndarray, mode: str) -> np.ndarray:
    if mode == "keep":
        return array
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if mode == "grey":
        if array.ndim == 2:
            return array
        rgb = to_float(array[..., :3])
        grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        return from_float(grey, array.dtype)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if mode == "rgb":
        return array[..., :3]
    if array.shape[2] == 3:  # rgba from rgb: opaque alpha
        full = np.full(array.shape[:2] + (1,), np.iinfo(array.dtype).max, array.dtype)
        return np.concatenate([array, full], axis=2)
    return array


def image_info(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Read size, mode, bit depth, format and EXIF orientation from the header only.

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> save_image(p, np.zeros((2, 5), np.uint16))
    >>> info = image_info(p); (info.width, info.height, info.bit_depth)
    (5, 2, 16)
    """
    data = _read_bytes(path)
    im = _open_header(data, str(path), max_pixels)
    bands = len(im.getbands())
    if im.mode == "P":
        bands = 4 if "transparency" in im.info else 3
    return ImageInfo(
        path=str(path),
        format=im.format or "unknown",
        width=im.size[0],
        height=im.size[1],
        mode=im.mode,
        channels=bands,
        bit_depth=_bit_depth(im, data),
        orientation=_orientation(im),
        file_size=len(data),
    )


def _format_for(path: Path, format: str | None) -> str:
    if format is not None:
        key = "." + format.lower().lstrip(".")
        if key not in FORMATS:
            raise InvalidArgument(
                f"unknown format {format!r}; use one of png, jpg, webp, tif, bmp"
            )
        return FORMATS[key]
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidArgument(
            f"{path}: cannot tell the format from the suffix {suffix or '(none)'}; "
            f"use .png, .jpg, .webp, .tif or .bmp"
        )
    return FORMATS[suffix]


def encode_image(
    image: np.ndarray,
    format: str = "PNG",
    *,
    quality: int = 95,
    background: tuple[int, int, int] = (255, 255, 255),
) -> bytes:
    """Encode an image array to file bytes (PNG, JPEG, WEBP, TIFF or BMP).

    16-bit data is kept in PNG and TIFF and reduced to 8 bits elsewhere; float images are
    written as 8-bit; JPEG and BMP have no alpha, so RGBA is composited onto ``background``.
    WebP at ``quality=100`` is lossless (WebP stores grey as RGB).
    """
    image = check_image(image)
    fmt = format.upper()
    if fmt not in set(FORMATS.values()):
        raise InvalidArgument(f"unknown format {format!r}")
    if not 1 <= quality <= 100:
        raise InvalidArgument(f"quality must be in [1, 100], got {quality}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.dtype.kind == "f":
        image = from_float(image, np.uint8)
    if fmt in ("JPEG", "BMP"):
        image = composite_alpha(image, background)
    if image.dtype == np.uint16 and fmt not in ("PNG", "TIFF"):
        image = from_float(to_float(image), np.uint8)
    if image.dtype == np.uint16 and image.ndim == 3:
        import cv2

        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        ok, buf = cv2.imencode(".png" if fmt == "PNG" else ".tif", cv2.cvtColor(image, code))
        if not ok:
            raise InvalidImage(f"OpenCV could not encode a 16-bit {fmt}")
        return buf.tobytes()
    im = Image.fromarray(image)
    out = io.BytesIO()
    kwargs: dict = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    if fmt == "WEBP" and quality == 100:
        kwargs.update(lossless=True, exact=True)
    if fmt == "PNG":
        kwargs["compress_level"] = 6
    im.save(out, fmt, **kwargs)
    return out.getvalue()


def save_image(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    format: str | None = None,
    quality: int = 95,
    overwrite: bool = False,
    background: tuple[int, int, int] = (255, 255, 255),
) -> None:
    """Write an image atomically: encode fully, write a temporary file, rename into place.

    Parameters
    ----------
    path : path
        Target file; the format comes from its suffix unless ``format`` is given.
    image : numpy.ndarray
        ``H x W``, ``H x W x 3`` or ``H x W x 4``; uint8, uint16 or float in [0, 1].
    overwrite : bool
        Without it an existing file is never replaced (``OutputExists``).

    Raises
    ------
    OutputExists, InvalidArgument, InvalidImage
    """
    path = Path(path)
    fmt = _format_for(path, format)
    if path.exists() and not overwrite:
        raise OutputExists(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    if path.is_dir():
        raise OutputExists(f"{path} is a folder")
    data = encode_image(image, fmt, quality=quality, background=background)
    write_atomic(path, data, overwrite=overwrite)


# --- atomic writes ------------------------------------------------------------------------
#
# A temporary file is named ``.NAME.atelier-PID-HOST-RAND.tmp`` (HOST: 8 hex digits of a hash
# of the host name), so that a later run can tell atelier's own leftovers (a writer killed by
# SIGKILL or a power cut) from anything else and delete them: those whose process is gone
# (same host only; another host's pid says nothing here) or that are older than a day.

#: Age after which any of atelier's temporary files is stale, whoever wrote it (seconds).
STALE_TEMP_AGE = 24 * 3600.0

_TEMP_RE = re.compile(
    r"\.(?P<name>.*)\.atelier-(?P<pid>\d+)-(?P<host>[0-9a-f]{8})-[0-9a-f]{8}\.tmp", re.DOTALL
)
_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
_CLEANED: set[str] = set()
_CLEANED_LOCK = threading.Lock()


def _temp_name(name: str) -> str:
    # Keep the whole temporary name under the usual 255-byte limit on a file name.
    short = os.fsdecode(os.fsencode(name)[:200])
    return f".{short}.atelier-{os.getpid()}-{_HOST}-{secrets.token_hex(4)}.tmp"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by someone else
        return True
    return True


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete atelier's own stale temporary files in ``folder``; return the paths deleted.

    A temporary file is stale when the process that was writing it is no longer running (for
    files written on this host) or when it is older than ``STALE_TEMP_AGE`` (a day). Only
    names atelier makes (``.NAME.atelier-PID-HOST-RAND.tmp``) are considered; everything
    else is left alone, and errors (missing folder, no permission) delete nothing.

    Example
    -------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> dead = os.path.join(folder, ".a.png.atelier-999999999-" + _HOST + "-0123abcd.tmp")
    >>> open(dead, "wb").close()
    >>> [p.name for p in remove_stale_temp_files(folder)] == [os.path.basename(dead)]
    True
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = _TEMP_RE.fullmatch(entry.name)
        if not found:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        old = now - st.st_mtime > STALE_TEMP_AGE
        dead = found.group("host") == _HOST and not _pid_alive(int(found.group("pid")))
        if not (old or dead):
            continue
        try:
            os.unlink(entry.path)
        except OSError:  # gone already (another cleaner) or not ours to delete
            continue
        removed.append(Path(entry.path))
    return removed


def _clean_once(folder: Path) -> None:
    """``remove_stale_temp_files`` at most once per folder per process; never fails."""
    key = os.path.abspath(folder)
    with _CLEANED_LOCK:
        if key in _CLEANED:
            return
        _CLEANED.add(key)
    try:
        remove_stale_temp_files(folder)
    except Exception:  # cleaning up is a courtesy; it must never make a save fail
        pass


def _cannot_write(path: Path, exc: OSError) -> CannotWrite:
    return CannotWrite(f"cannot write {path}: {exc.strerror or exc}")


def _make_parent(path: Path) -> None:
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        for p in reversed([parent, *parent.parents]):
            if p.exists() and not p.is_dir():
                raise CannotWrite(f"cannot write {path}: {p} is a file, not a folder") from None
        raise CannotWrite(f"cannot write {path}: {parent} is not a folder") from None
    except OSError as exc:
        raise CannotWrite(
            f"cannot write {path}: cannot create the folder {parent} ({exc.strerror or exc})"
        ) from None


def _exists_error(path: Path) -> OutputExists:
    return OutputExists(f"{path} exists; pass overwrite=True (--overwrite) to replace it")


# link() is not supported everywhere (FAT, some network and FUSE file systems).
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def _publish_exclusive(tmp: str, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if no file has it: atomic, so of two writers racing
    for one name exactly one wins and the other gets ``OutputExists``."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        # No hard links here: claim the name with O_EXCL (atomic), then move the data onto
        # the claimed (empty) file. A reader may briefly see the empty file.
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise _exists_error(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def write_atomic(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> None:
    """Write bytes to ``path`` through a temporary file in the same folder, then rename.

    With ``overwrite=False`` an existing file is never replaced, even by a concurrent writer:
    the final name is created exclusively (a hard link, atomic) and ``OutputExists`` is raised
    if it is taken. Missing folders are created. Stale temporary files that atelier left in
    the folder (see ``remove_stale_temp_files``) are removed, once per folder per process.

    Raises
    ------
    OutputExists
        ``path`` exists and ``overwrite`` is False, or ``path`` is a folder.
    CannotWrite
        A parent is a file, permission denied, read-only file system, disk full, ...
    """
    path = Path(path)
    _make_parent(path)
    _clean_once(path.parent)
    if path.is_dir():
        raise OutputExists(f"{path} is a folder")
    for _ in range(100):
        tmp = str(path.parent / _temp_name(path.name))
        try:
            # 0o666 and the umask give the usual mode of a new file (mkstemp's is 0600).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise _cannot_write(path, exc) from None
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise CannotWrite(f"cannot write {path}: cannot create a temporary file")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_exclusive(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, IsADirectoryError):
            raise OutputExists(f"{path} is a folder") from None
        if isinstance(exc, OSError) and not isinstance(exc, AtelierError):
            raise _cannot_write(path, exc) from None
        raise


def to_tensor(image: np.ndarray):
    """numpy ``H x W [x C]`` (any supported dtype) -> torch ``(1, C, H, W)`` float32 in [0, 1].

    Example
    -------
    >>> import numpy as np
    >>> to_tensor(np.zeros((4, 5, 3), np.uint8)).shape
    torch.Size([1, 3, 4, 5])
    """
    import torch

    f = to_float(check_image(image))
    if f.ndim == 2:
        f = f[..., None]
    return torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))[None]


def from_tensor(tensor, dtype=np.uint8) -> np.ndarray:
    """torch ``(1, C, H, W)`` or ``(C, H, W)`` in [0, 1] -> numpy ``H x W x C`` of ``dtype``.

    A single channel comes back as ``H x W``.
    """
    t = tensor.detach().float().cpu()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise InvalidArgument(f"from_tensor takes one image, got a batch of {t.shape[0]}")
        t = t[0]
    array = t.permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        array = array[..., 0]
    return from_float(array, dtype)
