"""Image I/O: formats, bit depths, alpha, EXIF orientation, limits, bad files, atomic saves."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from atelier.errors import ImageTooLarge, InvalidArgument, InvalidImage, OutputExists
from atelier.image import (
    composite_alpha,
    from_tensor,
    image_info,
    load_image,
    save_image,
    to_tensor,
)


def _rng_image(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    high = np.iinfo(dtype).max
    return rng.integers(0, high, size=shape, endpoint=True).astype(dtype)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming ``width x height`` pixels with almost no data behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp", ".webp"])
@pytest.mark.parametrize("shape", [(9, 7), (9, 7, 3), (9, 7, 4)])
def test_lossless_round_trip(tmp_path, suffix, shape):
    if suffix == ".bmp" and len(shape) == 3 and shape[2] == 4:
        pytest.skip("BMP has no alpha: composited on save (tested below)")
    image = _rng_image(shape)
    path = tmp_path / f"x{suffix}"
    save_image(path, image, quality=100)  # WebP: lossless at quality 100
    back = load_image(path)
    if suffix == ".webp" and image.ndim == 2:  # WebP stores grey as RGB
        back = back[..., 0]
    np.testing.assert_array_equal(back, image)


def test_jpeg_round_trip_is_close(tmp_path, astronaut):
    save_image(tmp_path / "a.jpg", astronaut, quality=95)
    back = load_image(tmp_path / "a.jpg")
    assert back.shape == astronaut.shape
    assert np.abs(back.astype(int) - astronaut).mean() < 4


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("shape", [(6, 5), (6, 5, 3), (6, 5, 4)])
def test_16bit_round_trip_exact(tmp_path, suffix, shape):
    image = _rng_image(shape, np.uint16)
    save_image(tmp_path / f"x{suffix}", image)
    back = load_image(tmp_path / f"x{suffix}")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, image)
    assert image_info(tmp_path / f"x{suffix}").bit_depth == 16


def test_16bit_to_jpeg_reduces_to_8bit(tmp_path):
    image = np.full((4, 4, 3), 65535, np.uint16)
    save_image(tmp_path / "x.jpg", image)
    assert load_image(tmp_path / "x.jpg").dtype == np.uint8


def test_rgba_alpha_kept_and_composited(tmp_path):
    image = np.zeros((2, 2, 4), np.uint8)
    image[..., 0] = 200
    image[..., 3] = 51  # 20 % opaque
    save_image(tmp_path / "a.png", image)
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), image)
    flat = load_image(tmp_path / "a.png", alpha="composite", background=(0, 0, 255))
    # hand computed: 0.2 * (200, 0, 0) + 0.8 * (0, 0, 255) = (40, 0, 204)
    np.testing.assert_array_equal(flat[0, 0], [40, 0, 204])
    # with mode="rgb" too (the alpha used to be dropped first: transparent came out black)
    flat_rgb = load_image(tmp_path / "a.png", mode="rgb", alpha="composite", background=(0, 0, 255))
    np.testing.assert_array_equal(flat_rgb, flat)


def test_rgba_saved_as_jpeg_is_composited_on_white(tmp_path):
    image = np.zeros((8, 8, 4), np.uint8)  # fully transparent
    save_image(tmp_path / "a.jpg", image)
    back = load_image(tmp_path / "a.jpg")
    assert back.shape == (8, 8, 3) and back.min() >= 250


def test_modes(tmp_path, astronaut):
    save_image(tmp_path / "a.png", astronaut)
    assert load_image(tmp_path / "a.png", mode="grey").shape == astronaut.shape[:2]
    assert load_image(tmp_path / "a.png", mode="rgba").shape == astronaut.shape[:2] + (4,)
    save_image(tmp_path / "g.png", astronaut[..., 0])
    assert load_image(tmp_path / "g.png", mode="rgb").shape == astronaut.shape


def test_palette_and_bilevel_images(tmp_path):
    Image.new("P", (5, 3)).save(tmp_path / "p.png")
    Image.new("1", (5, 3)).save(tmp_path / "b.png")
    assert load_image(tmp_path / "p.png").shape == (3, 5, 3)
    assert load_image(tmp_path / "b.png").shape == (3, 5)


@pytest.mark.parametrize("orientation,expected_shape", [(1, (4, 6, 3)), (6, (6, 4, 3)), (8, (6, 4, 3))])
def test_exif_orientation_applied(tmp_path, orientation, expected_shape):
    """Reference: Pillow's ImageOps.exif_transpose on the same file."""
    from PIL import ImageOps

    array = _rng_image((4, 6, 3))
    im = Image.fromarray(array)
    exif = im.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    im.save(path, exif=exif.tobytes())
    loaded = load_image(path)
    assert loaded.shape == expected_shape
    np.testing.assert_array_equal(loaded, np.asarray(ImageOps.exif_transpose(Image.open(path))))
    assert image_info(path).orientation == orientation


def test_exif_orientation_on_16bit_colour(tmp_path):
    import cv2

    array = _rng_image((4, 6, 3), np.uint16)
    ok, buf = cv2.imencode(".png", array[..., ::-1])
    im_bytes = buf.tobytes()
    # insert an eXIf chunk (orientation 6) after IHDR
    exif = Image.Exif()
    exif[0x0112] = 6
    chunk = _png_chunk(b"eXIf", exif.tobytes()[6:] if exif.tobytes().startswith(b"Exif") else exif.tobytes())
    data = im_bytes[:33] + chunk + im_bytes[33:]
    loaded = load_image(data)
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded, np.rot90(array, -1))


def test_load_from_bytes(astronaut):
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "PNG")
    np.testing.assert_array_equal(load_image(buf.getvalue()), astronaut)


def test_one_pixel_image(tmp_path):
    save_image(tmp_path / "one.png", np.array([[[1, 2, 3]]], np.uint8))
    np.testing.assert_array_equal(load_image(tmp_path / "one.png"), [[[1, 2, 3]]])


# --- bad input: each gives its exact error class and names the file -------------------------


def test_empty_file(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(InvalidImage, match=r"e\.png: file is empty"):
        load_image(tmp_path / "e.png")


def test_truncated_png(tmp_path, astronaut):
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "PNG")
    (tmp_path / "t.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InvalidImage, match=r"t\.png: corrupt or truncated"):
        load_image(tmp_path / "t.png")


def test_text_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("hello, not an image")
    with pytest.raises(InvalidImage, match=r"notes\.jpg: not an image"):
        load_image(tmp_path / "notes.jpg")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InvalidImage, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(InvalidImage, match="folder"):
        load_image(tmp_path)


def test_decompression_bomb_stopped_before_decoding(tmp_path):
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    with pytest.raises(ImageTooLarge, match="10000 megapixels is over the limit of 100"):
        load_image(tmp_path / "bomb.png")
    with pytest.raises(ImageTooLarge):
        image_info(tmp_path / "bomb.png")


def test_pixel_limit_is_configurable(tmp_path):
    save_image(tmp_path / "a.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(ImageTooLarge):
        load_image(tmp_path / "a.png", max_pixels=99)
    assert load_image(tmp_path / "a.png", max_pixels=100).shape == (10, 10)


def test_bad_arguments():
    with pytest.raises(InvalidArgument):
        load_image(b"x", mode="cmyk")


# --- saving ---------------------------------------------------------------------------------


def test_save_never_overwrites_unless_asked(tmp_path):
    path = tmp_path / "a.png"
    save_image(path, np.zeros((3, 3), np.uint8))
    before = path.read_bytes()
    with pytest.raises(OutputExists):
        save_image(path, np.ones((3, 3), np.uint8))
    assert path.read_bytes() == before
    save_image(path, np.ones((3, 3), np.uint8), overwrite=True)
    assert load_image(path).max() == 1


def test_failed_save_leaves_nothing(tmp_path):
    bad = np.full((3, 3), np.nan, np.float32)
    with pytest.raises(InvalidImage, match="NaN"):
        save_image(tmp_path / "a.png", bad)
    assert list(tmp_path.iterdir()) == []


def test_save_unknown_suffix(tmp_path):
    with pytest.raises(InvalidArgument, match="suffix"):
        save_image(tmp_path / "a.xyz", np.zeros((3, 3), np.uint8))


def test_float_saved_as_8bit(tmp_path):
    save_image(tmp_path / "f.png", np.full((2, 2, 3), 0.5, np.float32))
    back = load_image(tmp_path / "f.png")
    assert back.dtype == np.uint8 and back[0, 0, 0] == 128


def test_composite_alpha_keeps_dtype():
    rgba = np.zeros((2, 2, 4), np.uint16)
    assert composite_alpha(rgba).dtype == np.uint16


def test_tensor_round_trip(astronaut):
    t = to_tensor(astronaut)
    assert tuple(t.shape) == (1, 3) + astronaut.shape[:2]
    assert float(t.max()) <= 1.0
    np.testing.assert_array_equal(from_tensor(t), astronaut)
    assert from_tensor(to_tensor(astronaut[..., 0])).shape == astronaut.shape[:2]


def test_write_atomic_gives_the_usual_file_mode(tmp_path):
    """Outputs (and shipped weights) are readable like any file the user's umask allows,
    not left at the 0600 of the temporary file they are written through."""
    import os

    from atelier.image import write_atomic

    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "a.bin").read_bytes() == b"x"
