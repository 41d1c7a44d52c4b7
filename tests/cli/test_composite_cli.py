"""`atelier composite`: Poisson cloning and deep blending from the command line; mistakes are one
line, exit 2, and nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.image import load_image, save_image
from atelier.ops.composite import seamless_clone
from atelier.tasks.registry import get_task
from tests.cli.test_cli import atelier


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    fg = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    mask[3:13, 4:12] = 255
    bg = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    paths = {"fg": tmp_path / "fg.png", "mask": tmp_path / "mask.png", "bg": tmp_path / "bg.png",
             "small": tmp_path / "small.png", "empty": tmp_path / "empty.png", "out": tmp_path / "out.png"}
    for key, image in (("fg", fg), ("mask", mask), ("bg", bg), ("small", mask[:8]), ("empty", 0 * mask)):
        save_image(paths[key], image)
    return paths, fg, mask, bg


def test_poisson_is_seamless_clone_at_the_same_point(files):
    paths, fg, mask, bg = files
    assert atelier("composite", paths["fg"], "--mask", paths["mask"], "--onto", paths["bg"], "--at", "15,20",
                   "--mode", "mixed", "-o", paths["out"]) == 0
    np.testing.assert_array_equal(load_image(paths["out"]), seamless_clone(bg, fg, mask, center=(15, 20), mode="mixed"))


def test_deep_writes_the_task_result(files):
    paths, fg, mask, bg = files
    assert atelier("composite", paths["fg"], "--mask", paths["mask"], "--onto", paths["bg"], "--method", "deep",
                   "--steps", 1, "--device", "cpu", "-o", paths["out"]) == 0
    expected = get_task("composite").run({"image": fg, "mask": mask, "background": bg},
                                         {"method": "deep", "steps": 1}).images["image"]
    np.testing.assert_array_equal(load_image(paths["out"]), expected)


@pytest.mark.parametrize(
    "args, message",
    [
        (("--mask", "{small}", "--onto", "{bg}"), "must have its size"),
        (("--mask", "{empty}", "--onto", "{bg}"), "selects no pixels"),
        (("--mask", "{mask}", "--onto", "{bg}", "--at", "2,16"), "outside the 40x32 background"),
        (("--mask", "{mask}", "--onto", "{bg}", "--at", "12;3"), "--at 12;3: give x,y"),
        (("--mask", "{mask}", "--onto", "{bg}", "--at", "1,2,3"), "give x,y"),
        (("--mask", "{mask}", "--onto", "{bg}", "--method", "deep", "--mode", "mixed"), "option of method poisson"),
        (("--mask", "{mask}", "--onto", "{bg}", "--steps", "5"), "option of method deep"),
        (("--mask", "{mask}", "--onto", "{bg}", "--method", "magic"), "method"),
    ],
)
def test_mistakes_are_one_line_and_write_nothing(files, capsys, args, message):
    paths = files[0]
    code = atelier("composite", paths["fg"], *(a.format(**paths) for a in args), "-o", paths["out"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and message in err and len(err.splitlines()) == 1
    assert not paths["out"].exists()


def test_existing_output_needs_overwrite(files, capsys):
    paths = files[0]
    paths["out"].write_bytes(b"keep")
    assert atelier("composite", paths["fg"], "--mask", paths["mask"], "--onto", paths["bg"], "-o", paths["out"]) == 2
    assert "exists" in capsys.readouterr().err and paths["out"].read_bytes() == b"keep"
