"""Safe image I/O: load and save with size limits, clear errors and atomic writes.

``load_image`` returns ``H x W`` (grey), ``H x W x 3`` (RGB) or ``H x W x 4`` (RGBA) arrays of
dtype uint8, or uint16 for 16-bit files (float32 in [0, 1] for float TIFFs), with the EXIF
orientation applied. It reads PNG, JPEG, WebP, TIFF and BMP only, from regular files under a
byte limit, and turns every decoder failure into one ``InvalidImage`` line ("<path>: <reason>").
``save_image`` writes through a temporary file renamed into place, so a failed save leaves
nothing behind and never a half-written file; without ``overwrite`` the final name is created
exclusively, so concurrent writers never replace each other's files.

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
import logging
import os
import re
import secrets
import socket
import stat
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Literal, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

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


# --- reading -------------------------------------------------------------------------------
#
# Hostile files (truncated, corrupt, fuzzed, bombs, other formats in disguise) were probed with
# Pillow's own test corpus (benchmarks/hostile_files.py): every failure of a decoder becomes an
# InvalidImage naming the file, and nothing but that one line reaches the terminal.

#: Pillow format names atelier reads (a JPEG with extra frames, MPO, is read as JPEG).
READ_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP")
_FORMAT_NAMES = "PNG, JPEG, WebP, TIFF and BMP"

#: Bytes a file may have per allowed pixel (4 channels x 32 bits: more than any format atelier
#: reads needs, uncompressed), plus room for metadata; see ``byte_limit``.
BYTES_PER_PIXEL = 16
METADATA_BYTES = 16 * 2**20


def byte_limit(max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """The largest file ``load_image`` reads by default: ``16 * max_pixels + 16 MiB``.

    A larger file cannot hold an image within ``max_pixels`` in the formats atelier reads
    (even uncompressed), so it is refused before a byte is read; raising ``max_pixels`` raises
    it too. ``DEFAULT_MAX_BYTES`` is the value for ``DEFAULT_MAX_PIXELS`` (about 1.6 GB).
    """
    return BYTES_PER_PIXEL * max_pixels + METADATA_BYTES


DEFAULT_MAX_BYTES = byte_limit(DEFAULT_MAX_PIXELS)


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.4g} MB"


def _too_many_bytes(size: str, max_bytes: int) -> str:
    megapixels = (max_bytes - METADATA_BYTES) / BYTES_PER_PIXEL / 1e6
    return (
        f"file is {size}, over the limit of {_megabytes(max_bytes)} for images of up to "
        f"{megapixels:.6g} megapixels; raise max_pixels if you trust this file"
    )


def _open_file(source: str | os.PathLike, path: str, max_bytes: int) -> tuple[int, os.stat_result]:
    """An open descriptor on a regular file (no pipe, device or folder) of at most ``max_bytes``.

    The file is opened without blocking (a named pipe would otherwise wait for a writer) and
    checked with fstat on the open descriptor, so it cannot be swapped between check and read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(source, flags)
    except FileNotFoundError:
        raise InvalidImage("no such file", path=path) from None
    except IsADirectoryError:
        raise InvalidImage("is a folder, not an image file", path=path) from None
    except OSError as exc:
        raise InvalidImage(f"cannot read ({exc.strerror or exc})", path=path) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InvalidImage("is a folder, not an image file", path=path)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidImage(f"not a regular file ({_file_kind(st.st_mode)})", path=path)
        if st.st_size > max_bytes:
            raise ImageTooLarge(_too_many_bytes(_megabytes(st.st_size), max_bytes), path=path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _read_bytes(source: Source, path: str | None, max_bytes: int) -> bytes:
    """All bytes of a regular file (see ``_open_file``), or of ``source`` itself."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise ImageTooLarge(_too_many_bytes(_megabytes(len(data)), max_bytes), path=path)
    else:
        assert path is not None
        fd, st = _open_file(source, path, max_bytes)
        try:
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(st.st_size + 1)
                if len(data) > st.st_size:  # growing, or a size-0 /proc file: read on, bounded
                    data += f.read(max_bytes + 1 - len(data))
        except OSError as exc:
            raise InvalidImage(f"cannot read ({exc.strerror or exc})", path=path) from None
        finally:
            os.close(fd)
        if len(data) > max_bytes:
            raise ImageTooLarge(_too_many_bytes(f"over {_megabytes(max_bytes)}", max_bytes), path=path)
    if not data:
        raise InvalidImage("file is empty", path=path)
    return data


# Library noise must not reach the terminal: an error is one line. Three sources, each
# silenced only in the thread that is decoding (the batch runner decodes in threads, and
# warnings.catch_warnings() swaps process-wide state, so it is not used):
# - Python warnings (Pillow's UserWarnings, DecompressionBombWarning, "possibly corrupt EXIF"):
#   a wrapper around warnings.showwarning drops them while this thread decodes;
# - Pillow's logging (e.g. logger.error("More samples per pixel ...") for a hostile TIFF), which
#   Python prints through its last-resort handler when no logging is configured: a filter on
#   the PIL loggers drops those records while this thread decodes (configured logging still
#   gets them);
# - libtiff's error handler, which prints "file.tif: <message>" on stderr from C (Pillow
#   itself switches libtiff's warnings off, not its errors): atelier installs a handler in
#   Pillow's libtiff (Linux, best effort) that keeps the message for the InvalidImage reason
#   while this thread decodes, and prints it on stderr as libtiff would otherwise.
_quiet_state = threading.local()
_hook_lock = threading.Lock()
_logger_count = -1


def _quiet_now() -> bool:
    return bool(getattr(_quiet_state, "depth", 0))


def _install_warning_hook() -> None:
    current = warnings.showwarning
    if getattr(current, "_atelier_quiet", False):
        return
    with _hook_lock:
        current = warnings.showwarning
        if getattr(current, "_atelier_quiet", False):
            return

        def showwarning(message, category, filename, lineno, file=None, line=None):
            if _quiet_now():
                return
            current(message, category, filename, lineno, file, line)

        showwarning._atelier_quiet = True  # type: ignore[attr-defined]
        warnings.showwarning = showwarning


def _quiet_log_filter(record: logging.LogRecord) -> bool:
    return not (_quiet_now() and not logging.getLogger(record.name).hasHandlers())


def _install_log_filter() -> None:
    global _logger_count
    loggers = logging.root.manager.loggerDict
    if len(loggers) == _logger_count:
        return
    with _hook_lock:
        _logger_count = len(loggers)
        for name in list(loggers):
            if name == "PIL" or name.startswith("PIL."):
                logger = logging.getLogger(name)
                if _quiet_log_filter not in logger.filters:
                    logger.addFilter(_quiet_log_filter)


_tiff_handler = None  # keeps the ctypes callback alive
_tiff_tried = False


def _install_tiff_handler() -> None:
    """Route Pillow's libtiff error messages through ``_tiff_error`` (once; Linux only)."""
    global _tiff_handler, _tiff_tried
    if _tiff_tried:
        return
    with _hook_lock:
        if _tiff_tried:
            return
        _tiff_tried = True
        try:
            import ctypes

            with open("/proc/self/maps") as maps:
                libs = {line.split()[-1] for line in maps if "/libtiff" in line}
            libc = ctypes.CDLL(None)
            vsnprintf = libc.vsnprintf
            vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
            kind = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)

            def handler(module, fmt, args):
                buf = ctypes.create_string_buffer(512)
                vsnprintf(buf, len(buf), fmt, args)
                text = buf.value.decode("utf-8", "replace")
                if _quiet_now():
                    _quiet_state.tiff_error = text
                else:
                    where = module.decode("utf-8", "replace") + ": " if module else ""
                    sys.stderr.write(f"{where}{text}\n")

            callback = kind(handler)
            for path in libs:
                lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
                lib.TIFFSetErrorHandler.restype = ctypes.c_void_p
                lib.TIFFSetErrorHandler.argtypes = [kind]
                lib.TIFFSetErrorHandler(callback)
            _tiff_handler = callback
        except Exception:  # not Linux, no libtiff loaded, symbols missing: libtiff prints
            pass


class _quiet_warnings:
    """Silence library noise raised in this thread inside the block (see above)."""

    def __enter__(self) -> None:
        _install_warning_hook()
        _install_log_filter()
        _install_tiff_handler()
        depth = getattr(_quiet_state, "depth", 0)
        if depth == 0:
            _quiet_state.tiff_error = None
        _quiet_state.depth = depth + 1

    def __exit__(self, *exc) -> None:
        _quiet_state.depth -= 1


def _decoder_message(exc: BaseException) -> str:
    """The exception as one line; libtiff's own message where Pillow only says "decoder error"."""
    tiff = getattr(_quiet_state, "tiff_error", None)
    if tiff and str(exc).startswith(("decoder error", "encoder error")):
        return _one_line(Exception(tiff))
    return _one_line(exc)


def _too_large(pixels: int, limit: int, size: str = "") -> str:
    return (
        f"{size}{pixels / 1e6:.6g} megapixels is over the limit of {limit / 1e6:.6g}; "
        f"raise max_pixels if you trust this file"
    )


def _sniff(prefix: bytes) -> str | None:
    """Which Pillow format claims these first bytes (its ``accept`` test, no decoding)."""
    Image.init()
    ordered = list(READ_FORMATS) + [f for f in Image.ID if f not in READ_FORMATS]
    for fmt in ordered:
        factory_accept = Image.OPEN.get(fmt)
        if not factory_accept or not factory_accept[1]:
            continue
        try:
            if factory_accept[1](prefix):
                return fmt
        except Exception:
            continue
    return None


def _open_header(fp: IO[bytes], path: str | None, max_pixels: int) -> Image.Image:
    """Open lazily (header only), only as a format atelier reads, and enforce the pixel limit
    before decoding. Call inside ``_quiet_warnings``."""
    if max_pixels > (Image.MAX_IMAGE_PIXELS or 0):
        # Pillow has its own bomb check inside open(); ours is the one that counts.
        Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        im = Image.open(fp, formats=list(READ_FORMATS))
    except Image.DecompressionBombError as exc:
        # Pillow only refuses sizes over twice its limit, which we keep >= ours.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else 2 * max_pixels
        raise ImageTooLarge(_too_large(pixels, max_pixels), path=path) from None
    except UnidentifiedImageError:
        fp.seek(0)
        fmt = _sniff(fp.read(16))
        if fmt in READ_FORMATS:
            raise InvalidImage(f"corrupt or truncated {fmt} header", path=path) from None
        # Some formats have no signature (TGA) or a weak one: a known suffix names them better.
        by_suffix = Image.registered_extensions().get(os.path.splitext(path or "")[1].lower())
        if by_suffix and by_suffix not in READ_FORMATS:
            fmt = by_suffix
        if fmt is not None:
            raise UnsupportedFormat(
                f"unsupported image format {fmt!r}; atelier reads {_FORMAT_NAMES}", path=path
            ) from None
        raise InvalidImage(
            f"not an image, or a format atelier cannot read (it reads {_FORMAT_NAMES})",
            path=path,
        ) from None
    except MemoryError:
        raise InvalidImage("not enough memory to read the image header", path=path) from None
    except Exception as exc:  # any decoder failure on a hostile header (OSError, ValueError,
        # SyntaxError, struct.error, NotImplementedError, ...) is a bad file, not a bug
        raise InvalidImage(f"corrupt image header ({_one_line(exc)})", path=path) from exc
    width, height = im.size
    if width * height > max_pixels:
        raise ImageTooLarge(_too_large(width * height, max_pixels, f"{width}x{height} = "), path=path)
    if width <= 0 or height <= 0:
        raise InvalidImage(f"image has zero size ({width}x{height})", path=path)
    return im


def _bit_depth(im: Image.Image, head: bytes) -> int:
    """Bits per sample from the file itself (Pillow reports 16-bit colour as 8-bit 'RGB');
    ``head``: the file's first bytes."""
    if im.format == "PNG" and len(head) > 24:
        return head[24]  # IHDR bit depth
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        return int(bits[0] if isinstance(bits, tuple) else bits)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return 16
    if im.mode == "1":
        return 1
    return 32 if im.mode in ("I", "F") else 8


def _png_exif(im: Image.Image, fp: IO[bytes]) -> bytes | None:
    """The eXIf chunk of a PNG without decoding pixels (Pillow's getexif() decodes the whole
    image when the chunk follows the pixel data): walk the chunk headers."""
    if "exif" in im.info:
        return im.info["exif"]
    pos = 8
    for _ in range(1_000_000):  # bounded: a hostile file may hold millions of tiny chunks
        fp.seek(pos)
        header = fp.read(8)
        if len(header) < 8:
            break
        length = int.from_bytes(header[:4], "big")
        kind = header[4:]
        if kind == b"eXIf":
            return fp.read(min(length, 2**20))
        if kind == b"IEND":
            break
        pos += 12 + length
    return None


def _orientation(im: Image.Image, fp: IO[bytes]) -> int:
    """EXIF orientation (1-8) from the header, without decoding pixels; 1 if none or broken."""
    try:
        if im.format == "PNG":
            raw = _png_exif(im, fp)
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = im.getexif()
        value = int(exif.get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # a broken EXIF block must not make a good image unreadable
        return 1
    return value if 1 <= value <= 8 else 1


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


def _decode_16bit_color(data: bytes, path: str | None, size: tuple[int, int]) -> np.ndarray:
    """16-bit RGB(A) PNG/TIFF through OpenCV, since Pillow truncates them to 8 bits."""
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise InvalidImage("corrupt or truncated 16-bit image", path=path)
    if array.shape[1::-1] != tuple(size) or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise InvalidImage(
            f"corrupt 16-bit image (the header says {size[0]}x{size[1]}, the data decode "
            f"as {array.shape[1]}x{array.shape[0]})",
            path=path,
        )
    code = cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(array, code)


def _pil_to_array(im: Image.Image, path: str | None) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im).astype(np.uint16)
    if mode == "I":  # 32-bit int grey (e.g. some 16-bit PNG/TIFF): keep as uint16
        array = np.asarray(im)
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 65535:
            raise InvalidImage(
                f"32-bit integer image with values in [{low}, {high}]; atelier reads integer "
                f"images of up to 16 bits (0..65535) and does not guess a scale",
                path=path,
            )
        return array.astype(np.uint16)
    if mode == "F":
        # A float image is taken as [0, 1] data; other ranges (0-255, HDR radiance) would be
        # silently clipped, so they are refused rather than guessed at.
        array = np.asarray(im, np.float32)
        if not np.isfinite(array).all():
            raise InvalidImage("float image holds NaN or infinite values", path=path)
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise InvalidImage(
                f"float image with values in [{low:.6g}, {high:.6g}]; atelier reads float "
                f"images as values in [0, 1]: rescale it first",
                path=path,
            )
        return array
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(im)
    if mode == "1":
        return np.asarray(im.convert("L"))
    if mode in ("LA", "La"):
        return np.asarray(im.convert("RGBA"))
    has_alpha = "A" in mode or "a" in mode or (mode == "P" and "transparency" in im.info)
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))


def _decode(im: Image.Image, data: bytes, path: str | None, max_pixels: int) -> np.ndarray:
    orientation = _orientation(im, io.BytesIO(data))
    if im.format in ("PNG", "TIFF") and im.mode in ("RGB", "RGBA") and _bit_depth(im, data) == 16:
        array = _decode_16bit_color(data, path, im.size)
    else:
        im.load()
        width, height = im.size  # some decoders learn the size only now
        if width * height > max_pixels:
            raise ImageTooLarge(_too_large(width * height, max_pixels, f"{width}x{height} = "), path=path)
        array = _pil_to_array(im, path)
    return _apply_orientation(array, orientation)


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
    max_bytes: int | None = None,
) -> np.ndarray:
    """Load an image file (or its bytes) into a numpy array, safely.

    Parameters
    ----------
    source : path or bytes
        PNG, JPEG, WebP, TIFF or BMP (``READ_FORMATS``); other formats Pillow knows (GIF,
        DDS, PSD, ...) are refused with ``UnsupportedFormat``, so that only the decoders
        atelier documents ever see untrusted bytes.
    mode : {"keep", "rgb", "rgba", "grey"}
        ``keep`` returns the file's own layout (grey ``H x W``, RGB ``H x W x 3``,
        RGBA ``H x W x 4``); the others convert.
    alpha : {"keep", "composite"}
        ``composite`` flattens transparency onto ``background`` (8-bit RGB).
    max_pixels : int
        Width x height limit, checked from the header before decoding (decompression bombs).
    max_bytes : int, optional
        File size limit, checked before reading; default ``byte_limit(max_pixels)``
        (16 bytes per allowed pixel + 16 MiB, about 1.6 GB for the default ``max_pixels``).

    Returns
    -------
    numpy.ndarray
        uint8, or uint16 for 16-bit files, or float32 in [0, 1] for 32-bit float TIFFs;
        EXIF orientation applied.

    Raises
    ------
    InvalidImage
        Missing, empty, truncated, corrupt or non-image file, a named pipe or device, a float
        image with values outside [0, 1] (never clipped silently). The message reads
        ``"<path>: <reason>"``; ``.path`` and ``.reason`` hold the parts.
    UnsupportedFormat
        An image in a format atelier does not read (GIF, DDS, PSD, ...): an InvalidImage.
    ImageTooLarge
        More than ``max_pixels`` pixels, or a file over ``max_bytes``: an InvalidImage.

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
    path = None if isinstance(source, (bytes, bytearray, memoryview)) else str(source)
    data = _read_bytes(source, path, byte_limit(max_pixels) if max_bytes is None else max_bytes)
    with _quiet_warnings():
        im = _open_header(io.BytesIO(data), path, max_pixels)
        try:
            array = _decode(im, data, path, max_pixels)
        except AtelierError:
            raise
        except Image.DecompressionBombError as exc:  # a decoder that learns its size late
            raise ImageTooLarge(f"over the pixel limit ({_one_line(exc)})", path=path) from None
        except MemoryError:
            raise InvalidImage("not enough memory to decode the image", path=path) from None
        except Exception as exc:  # any decoder failure on hostile data is a bad file
            raise InvalidImage(
                f"corrupt or truncated {im.format or 'image'} ({_decoder_message(exc)})", path=path
            ) from exc
        finally:
            im.close()
    if alpha == "composite":  # before the mode: mode="rgb" would drop the alpha it needs
        array = composite_alpha(array, background)
    array = _convert_mode(array, mode)
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


def image_info(
    path: str | os.PathLike,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
) -> ImageInfo:
    """Read size, mode, bit depth, format and EXIF orientation from the header only.

    No pixel is decoded (the EXIF block of a PNG is found by walking its chunks), so this is
    fast even for a large file; the same checks as ``load_image`` apply (regular file, byte
    and pixel limits, formats atelier reads).

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> save_image(p, np.zeros((2, 5), np.uint16))
    >>> info = image_info(p); (info.width, info.height, info.bit_depth)
    (5, 2, 16)
    """
    name = str(path)
    fd, st = _open_file(path, name, byte_limit(max_pixels) if max_bytes is None else max_bytes)
    with os.fdopen(fd, "rb") as f, _quiet_warnings():
        if st.st_size == 0:
            raise InvalidImage("file is empty", path=name)
        try:
            head = f.read(32)
            f.seek(0)
        except OSError as exc:
            raise InvalidImage(f"cannot read ({exc.strerror or exc})", path=name) from None
        im = _open_header(f, name, max_pixels)
        try:
            bands = len(im.getbands())
            if im.mode == "P":
                bands = 4 if "transparency" in im.info else 3
            return ImageInfo(
                path=name,
                format=im.format or "unknown",
                width=im.size[0],
                height=im.size[1],
                mode=im.mode,
                channels=bands,
                bit_depth=_bit_depth(im, head),
                orientation=_orientation(im, f),
                file_size=st.st_size,
            )
        except AtelierError:
            raise
        except Exception as exc:  # a hostile header that opened but breaks on inspection
            raise InvalidImage(f"corrupt image header ({_one_line(exc)})", path=name) from exc
        finally:
            im.close()


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
        raise OutputExists(f"{path} exists; pass overwrite=True to replace it")
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
    return OutputExists(f"{path} exists; pass overwrite=True to replace it")


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
