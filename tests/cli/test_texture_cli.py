"""``atelier texture``, ``atelier noise`` and the ``texture_fill`` op from the command line:
files written, the same result as from Python, and one-line mistakes that write nothing."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from atelier.cli.sizes import parse_size
from atelier.errors import InvalidArgument
from atelier.image import load_image, save_image
from atelier.ops import noise_image, quilt, texture_fill
from atelier.tasks.registry import TaskContext, get_task
from tests.cli.test_cli import atelier


@pytest.fixture
def files(tmp_path):
    """gravel.png (a 64 x 64 grey texture), photo.png (the 96 x 128 astronaut) and m.png (its mask)."""
    gravel = np.ascontiguousarray(data.gravel()[:64, :64])
    photo = np.ascontiguousarray(data.astronaut()[::4, ::4][:96])
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[40:70, 30:80] = 255
    for name, image in (("gravel.png", gravel), ("photo.png", photo), ("m.png", mask)):
        save_image(tmp_path / name, image)
    return tmp_path, gravel, photo, mask


def test_texture_writes_the_quilt(files):
    folder, gravel, _, _ = files
    out = folder / "t.png"
    assert atelier("texture", folder / "gravel.png", "-o", out, "--size", "90x70", "--tileable", "--seed", "4",
                   "--patch", "21", "--overlap", "5") == 0
    np.testing.assert_array_equal(load_image(out), quilt(gravel, 70, 90, patch=21, overlap=5, tileable=True, seed=4))
    assert atelier("texture", folder / "gravel.png", "-o", out, "--size", "90x70") == 2  # exists
    assert atelier("texture", folder / "gravel.png", "-o", out, "--size", "50x40", "--overwrite") == 0
    assert load_image(out).shape == (40, 50)


def test_noise_writes_the_image(tmp_path):
    out = tmp_path / "n.png"
    assert atelier("noise", "-o", out, "--size", "64x48", "--kind", "value", "--octaves", "5", "--seed", "3",
                   "--colour", "--tileable") == 0
    expected = noise_image(48, 64, kind="value", octaves=5, seed=3, channels=3, tileable=True)
    np.testing.assert_array_equal(load_image(out), expected)


def test_edit_with_texture_fill(files):
    folder, gravel, photo, mask = files
    out = folder / "filled.png"
    assert atelier("edit", folder / "photo.png", "-o", out,
                   f"texture_fill mask={folder / 'm.png'} sample={folder / 'gravel.png'} seed=2") == 0
    np.testing.assert_array_equal(load_image(out), texture_fill(photo, mask, gravel, seed=2))


def test_tasks_run_and_report(files):
    _, gravel, _, _ = files
    reports = []
    ctx = TaskContext(seed=1, progress=lambda *a: reports.append(a))
    result = get_task("texture").run({"sample": gravel}, {"width": 40, "height": 30, "patch": 16}, ctx)
    np.testing.assert_array_equal(result.images["image"], quilt(gravel, 30, 40, patch=16, seed=1))
    assert reports and reports[-1][0] == reports[-1][1]
    noise = get_task("noise").run({}, {"width": 20, "height": 10, "channels": 3}, TaskContext(seed=2))
    assert noise.images["image"].shape == (10, 20, 3)
    with pytest.raises(InvalidArgument, match="over the limit of 0.0001"):
        get_task("noise").validate({"width": 20, "height": 10}, TaskContext(max_pixels=100))


@pytest.mark.parametrize(
    "args, needle",
    [
        (("texture", "{gravel}", "-o", "{out}", "--size", "64by64"), "--size 64by64: give width x height"),
        (("texture", "{gravel}", "-o", "{out}", "--size", "0x64"), "at least 1 pixel"),
        (("texture", "{gravel}", "-o", "{out}", "--size", "60000x60000"), "over the limit of 100"),
        (("texture", "{gravel}", "-o", "{out}", "--size", "64x64", "--max-pixels", "1000"), "over the limit"),
        (("texture", "{gravel}", "-o", "{out}", "--patch", "100"), "smaller than the 100-pixel patch"),
        (("texture", "{gravel}", "-o", "{out}", "--patch", "30", "--overlap", "20"), "overlap must be in [1, 10]"),
        (("texture", "{gravel}", "-o", "{out}", "--method", "magic"), "method must be one of quilting, gatys"),
        (("texture", "{gravel}", "-o", "{out}", "--size", "8x8", "--tileable"), "tileable output needs"),
        (("texture", "missing.png", "-o", "{out}"), "missing.png"),
        (("noise", "-o", "{out}", "--kind", "pink"), "kind must be one of perlin, value, white"),
        (("noise", "-o", "{out}", "--size", "x"), "--size x: give width x height"),
        (("noise", "-o", "{out}", "--octaves", "0"), "octaves must be in [1, 16]"),
        (("edit", "{photo}", "-o", "{out}", "texture_fill mask={gravel} sample={gravel}"), "mask is 64x64 but"),
    ],
)
def test_mistakes_are_one_line_and_write_nothing(files, capsys, monkeypatch, args, needle):
    folder = files[0]
    monkeypatch.chdir(folder)
    out = folder / "out.png"
    names = {"gravel": folder / "gravel.png", "photo": folder / "photo.png", "out": out}
    assert atelier(*(a.format(**names) for a in args)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert not out.exists()


def test_parse_size():
    assert parse_size("1024x768") == (1024, 768) and parse_size(" 3 X 4 ") == (3, 4)
    for bad in ("1024", "10x", "-1x5", "1.5x2", ""):
        with pytest.raises(InvalidArgument, match="give width x height"):
            parse_size(bad)
