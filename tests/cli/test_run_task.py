"""``atelier tasks`` and ``atelier run TASK``: the registry's tasks from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from atelier.image import load_image, save_image
from atelier.tasks.registry import get_task, list_tasks
from tests.cli.test_cli import atelier


@pytest.fixture
def photo(tmp_path, astronaut):
    path = tmp_path / "photo.png"
    save_image(path, astronaut)
    return path


def test_tasks_lists_the_registry(capsys):
    assert atelier("tasks", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in listed] == [t.name for t in list_tasks()]


def test_run_matches_the_task_called_from_python(tmp_path, photo, astronaut):
    out = tmp_path / "big.png"
    assert atelier("run", "upscale", photo, "-p", "scale=2", "-o", out) == 0
    expected = get_task("upscale").run({"image": astronaut}, {"scale": 2}).images["image"]
    np.testing.assert_array_equal(load_image(out), expected)


def test_run_named_inputs_text_and_json(tmp_path, photo, astronaut, capsys):
    mask = np.zeros(astronaut.shape[:2], np.uint8)
    mask[30:40, 50:70] = 255
    save_image(tmp_path / "mask.png", mask)
    out = tmp_path / "fixed.png"
    assert atelier("run", "inpaint", photo, f"mask={tmp_path / 'mask.png'}", "-p", "method=telea", "-o", out) == 0
    fixed = load_image(out)
    assert (fixed[mask == 0] == astronaut[mask == 0]).all()
    assert atelier("run", "compare", photo, f"reference={photo}", "--json") == 0
    assert json.loads(capsys.readouterr().out)["data"]["mse"] == 0.0


@pytest.mark.parametrize(
    "args, needle",
    [
        (("run", "upscal", "x.png", "-o", "y.png"), "unknown task 'upscal'"),
        (("run", "upscale", "{photo}", "-p", "scale=5", "-o", "y.png"), "scale must be one of 2, 3, 4"),
        (("run", "upscale", "{photo}", "-p", "scale", "-o", "y.png"), "write name=value"),
        (("run", "upscale", "{photo}", "-p", "sacle=2", "-o", "y.png"), "no parameter 'sacle'"),
        (("run", "upscale", "-o", "y.png"), "needs the input image"),
        (("run", "upscale", "{photo}", "{photo}", "-o", "y.png"), "takes no more images"),
        (("run", "upscale", "{photo}"), "give -o OUT.png"),
        (("run", "upscale", "{photo}", "-o", "y.gif"), "cannot write GIF"),
    ],
)
def test_run_mistakes_are_one_line(tmp_path, photo, capsys, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    assert atelier(*(a.format(photo=photo) for a in args)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert not (tmp_path / "y.png").exists()
