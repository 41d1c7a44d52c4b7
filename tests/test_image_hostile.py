"""Hostile inputs to load_image / image_info: each gives one InvalidImage line naming the file
once, nothing on the terminal, no hang. Small synthesized files stand in for Pillow's corpus
(benchmarks/hostile_files.py runs the corpus itself)."""

import io
import os
import struct
import threading
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from atelier.errors import ImageTooLarge, InvalidImage, UnsupportedFormat
from atelier.image import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    byte_limit,
    image_info,
    load_image,
    save_image,
)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(width: int, height: int, rows: bytes = b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")


def _saved(fmt: str, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (4, 4)).save(buf, fmt)
    return buf.getvalue()


def _check(exc: InvalidImage, path) -> None:
    """The message reads "<path>: <reason>" once, on one line; .path/.reason hold the parts."""
    assert exc.path == str(path) and str(exc) == f"{path}: {exc.reason}"
    assert str(exc).count(str(path)) == 1 and "\n" not in str(exc)


def test_error_parts_for_callers(tmp_path):
    path = tmp_path / "t.png"
    path.write_bytes(_png(4, 4, b"\0" * 20)[:40])
    with pytest.raises(InvalidImage) as info:
        load_image(path)
    _check(info.value, path)
    assert "corrupt or truncated" in info.value.reason


@pytest.mark.parametrize("fmt", ["DDS", "GIF", "PPM", "ICO"])
def test_other_formats_are_refused_by_name(tmp_path, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    path.write_bytes(_saved(fmt))
    with pytest.raises(UnsupportedFormat, match=rf"unsupported image format '{fmt}'; atelier reads PNG, JPEG") as info:
        load_image(path)
    _check(info.value, path)
    with pytest.raises(UnsupportedFormat):
        image_info(path)


def test_hostile_dds_header(tmp_path):
    """A DDS header with a pixel format Pillow does not implement raised NotImplementedError
    from Image.open; atelier never hands DDS bytes to a decoder."""
    path = tmp_path / "bad.png"  # the suffix lies too
    path.write_bytes(b"DDS " + struct.pack("<7I", 124, 0x1007, 4, 4, 0, 0, 0) + b"\xff" * 120)
    with pytest.raises(UnsupportedFormat, match="'DDS'"):
        load_image(path)


def test_format_known_by_suffix_only(tmp_path):
    """TGA has no signature: the suffix names it."""
    path = tmp_path / "x.tga"
    path.write_bytes(_saved("TGA"))
    with pytest.raises(UnsupportedFormat, match="unsupported image format 'TGA'"):
        load_image(path)


def test_truncated_header_of_a_supported_format(tmp_path):
    path = tmp_path / "t.png"
    path.write_bytes(_png(4, 4)[:20])
    with pytest.raises(InvalidImage, match="t.png: corrupt"):
        load_image(path)


def test_named_pipe_does_not_hang(tmp_path):
    path = tmp_path / "fifo.png"
    os.mkfifo(path)
    outcome = []

    def read():
        for call in (load_image, image_info):
            try:
                call(path)
            except InvalidImage as exc:
                outcome.append(str(exc))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock the reader before failing
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a named pipe blocked")
    assert outcome == [f"{path}: not a regular file (a named pipe)"] * 2


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_device_is_refused_before_reading():
    start = time.perf_counter()
    with pytest.raises(InvalidImage, match=r"/dev/zero: not a regular file \(a character device\)"):
        load_image("/dev/zero")
    with pytest.raises(InvalidImage, match="character device"):
        image_info("/dev/zero")
    assert time.perf_counter() - start < 1


def test_folder(tmp_path):
    with pytest.raises(InvalidImage, match="is a folder") as info:
        load_image(tmp_path)
    _check(info.value, tmp_path)
    with pytest.raises(InvalidImage, match="is a folder"):
        image_info(tmp_path)


def test_byte_limit(tmp_path):
    assert DEFAULT_MAX_BYTES == byte_limit(DEFAULT_MAX_PIXELS) == 16 * DEFAULT_MAX_PIXELS + 16 * 2**20
    path = tmp_path / "a.png"
    save_image(path, np.zeros((8, 8), np.uint8))
    size = path.stat().st_size
    assert load_image(path, max_bytes=size).shape == (8, 8)
    with pytest.raises(ImageTooLarge, match="file is .* over the limit"):
        load_image(path, max_bytes=size - 1)
    with pytest.raises(ImageTooLarge):
        image_info(path, max_bytes=size - 1)
    with pytest.raises(ImageTooLarge):
        load_image(path.read_bytes(), max_bytes=size - 1)


def test_huge_sparse_file_is_refused_without_reading(tmp_path):
    path = tmp_path / "huge.png"
    with open(path, "wb") as f:
        f.write(_png(4, 4))
        f.truncate(DEFAULT_MAX_BYTES + 1)  # sparse: no disk used
    start = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="raise max_pixels"):
        load_image(path)
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF"])
def test_huge_dimensions_in_the_header(tmp_path, fmt):
    if fmt == "PNG":
        data = _png(200_000, 200_000)
    else:
        data = _saved(fmt, "L")
        if fmt == "BMP":  # width, height at offsets 18 and 22
            data = data[:18] + struct.pack("<ii", 200_000, 200_000) + data[26:]
        else:
            im = Image.open(io.BytesIO(data))
            buf = io.BytesIO()
            im.save(buf, "TIFF")
            data = buf.getvalue().replace(struct.pack("<HHII", 256, 4, 1, 4), struct.pack("<HHII", 256, 4, 1, 200_000))
            data = data.replace(struct.pack("<HHII", 257, 4, 1, 4), struct.pack("<HHII", 257, 4, 1, 200_000))
    path = tmp_path / f"big.{fmt.lower()}"
    path.write_bytes(data)
    with pytest.raises(ImageTooLarge, match="over the limit") as info:
        load_image(path)
    _check(info.value, path)
    with pytest.raises(ImageTooLarge):
        image_info(path)


def _float_tiff(path, values: np.ndarray) -> None:
    Image.fromarray(values.astype(np.float32), mode="F").save(path, "TIFF")


def test_float_tiff_in_range_loads_as_float(tmp_path):
    values = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    _float_tiff(tmp_path / "f.tif", values)
    loaded = load_image(tmp_path / "f.tif")
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, values)


@pytest.mark.parametrize(
    "values,message",
    [
        (np.full((3, 4), 200.0), r"float image with values in \[200, 200\]"),
        (np.full((3, 4), -0.5), r"values in \[-0.5, -0.5\]"),
        (np.array([[0.5, np.nan]]), "NaN or infinite"),
        (np.array([[0.5, np.inf]]), "NaN or infinite"),
    ],
)
def test_float_tiff_out_of_range_is_refused_not_clipped(tmp_path, values, message):
    _float_tiff(tmp_path / "f.tif", values)
    with pytest.raises(InvalidImage, match=message):
        load_image(tmp_path / "f.tif")


def test_decoder_exceptions_become_invalid_image(tmp_path, monkeypatch):
    """Whatever a decoder raises on hostile data (seen in Pillow's corpus) is InvalidImage."""
    from PIL import ImageFile

    path = tmp_path / "a.png"
    save_image(path, np.zeros((4, 4, 3), np.uint8))
    for error in (NotImplementedError("x"), struct.error("x"), IndexError("x"), KeyError("x"),
                  ZeroDivisionError("x"), TypeError("x"), EOFError("x"), SyntaxError("x"),
                  MemoryError(), Image.DecompressionBombError("x")):
        def load(self, error=error):
            raise error

        monkeypatch.setattr(ImageFile.ImageFile, "load", load)
        with pytest.raises(InvalidImage) as info:
            load_image(path)
        _check(info.value, path)


def test_library_warnings_do_not_escape(tmp_path, monkeypatch):
    """A warning raised while decoding is dropped; one raised outside is not."""
    from PIL import ImageFile

    path = tmp_path / "a.png"
    save_image(path, np.zeros((4, 4, 3), np.uint8))
    real = ImageFile.ImageFile.load

    def noisy(self):
        warnings.warn("noise from the decoder", UserWarning)
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", noisy)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        load_image(path)
        warnings.warn("the caller's own warning", UserWarning)
    assert [str(w.message) for w in seen] == ["the caller's own warning"]


def test_pillow_log_lines_do_not_escape(tmp_path, capfd):
    """Pillow logs "More samples per pixel than can be decoded" for such a TIFF header."""
    data = _saved("TIFF", "L")
    path = tmp_path / "spp.tif"
    spp = data.replace(struct.pack("<HHIHH", 284, 3, 1, 1, 0), struct.pack("<HHIHH", 277, 3, 1, 65535, 0))
    assert spp != data
    path.write_bytes(spp)
    with pytest.raises(InvalidImage):
        load_image(path)
    out, err = capfd.readouterr()
    assert out == err == ""


def test_info_reads_late_exif_without_decoding(tmp_path, monkeypatch):
    """An eXIf chunk after the pixel data: Pillow's getexif() decodes the image to find it;
    image_info walks the chunk headers instead."""
    from PIL import ImageFile

    exif = Image.Exif()
    exif[0x0112] = 6
    good = io.BytesIO()
    Image.new("RGB", (6, 4)).save(good, "PNG")
    data = good.getvalue()
    iend = data.rindex(b"IEND") - 4
    path = tmp_path / "late.png"
    path.write_bytes(data[:iend] + _chunk(b"eXIf", exif.tobytes()[6:]) + data[iend:])

    def no_decoding(self):
        raise AssertionError("image_info decoded pixels")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    info = image_info(path)
    assert (info.width, info.height, info.orientation) == (6, 4, 6)
    monkeypatch.undo()
    assert load_image(path).shape == (6, 4, 3)
