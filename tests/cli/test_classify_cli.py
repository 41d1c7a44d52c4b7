"""atelier train classifier (--backbone, freezing, --size), classify and explain, end to end on
a tiny labelled folder; one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from atelier.image import load_image, save_image
from tests.cli.test_cli import atelier




def _folder(root: Path, classes=("red", "green", "blue"), per_class=4) -> Path:
    """One sub-folder per class of 40 x 50 noise images tinted with the class's colour."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        for i in range(per_class):
            img = (rng.random((40, 50, 3)) * 80).astype(np.uint8)
            img[..., k % 3] += 150
            save_image(root / name / f"{i}.png", img)
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return _folder(tmp_path_factory.mktemp("labelled") / "colours")


TINY = ["--set", "steps=2", "--set", "batch_size=4", "--set", "device=cpu"]


@pytest.fixture(scope="module")
def tl_run(data, tmp_path_factory) -> Path:
    """EfficientNet-Lite0 (ImageNet weights) fine-tuned 2 steps at 32 px, last 2 blocks."""
    out = tmp_path_factory.mktemp("tl") / "run"
    code = atelier("train", "classifier", "--data", data, "--backbone", "efficientnet-lite0",
                   "--unfreeze-last", "2", "--size", "32", "--out", out, *TINY)
    assert code == 0
    return out


def test_fine_tuned_run_stores_class_names_and_freezing(tl_run):
    config = json.loads((tl_run / "config.json").read_text())
    assert config["model_config"]["class_names"] == ["blue", "green", "red"]
    assert config["model_config"]["backbone"] == "efficientnet-lite0"
    assert config["model_config"]["resolution"] == 32 and config["model_config"]["channels"] == 3
    assert config["fine_tune"]["freeze"][0] == "backbone.stem" and len(config["fine_tune"]["freeze"]) == 16
    assert config["hyper"]["augment"] is True
    assert (tl_run / "model.safetensors").stat().st_size < 20e6


def test_classify_prints_names_and_json(tl_run, data, capsys):
    assert atelier("classify", data, "--model", tl_run, "--top", "2", "--device", "cpu") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 12
    file, ranked = lines[0].split("\t")
    names = [part.split()[0] for part in ranked.split(", ")]
    assert Path(file).is_file() and len(names) == 2 and set(names) <= {"red", "green", "blue"}
    assert atelier("classify", data / "red" / "0.png", "--model", tl_run, "--json", "--device", "cpu") == 0
    record = json.loads(capsys.readouterr().out)
    assert [t["class"] for t in record["top"]] and len(record["top"]) == 3  # --top 5 > 3 classes
    assert abs(sum(t["probability"] for t in record["top"]) - 1) < 1e-4


def test_explain_writes_a_heat_map_of_the_image_size(tl_run, data, tmp_path, capsys):
    out = tmp_path / "cam.png"
    assert atelier("explain", data / "red" / "1.png", "--model", tl_run, "-o", out, "--class", "green",
                   "--alpha", "0.4", "--device", "cpu") == 0
    assert load_image(out).shape == (40, 50, 3)
    assert "CAM of green" in capsys.readouterr().err
    code = atelier("explain", data / "red" / "1.png", "--model", tl_run, "-o", tmp_path / "x.png", "--class", "pink")
    err = capsys.readouterr().err
    assert code == 2 and "unknown class 'pink'" in err and "blue, green, red" in err


def test_small_cnn_run_classifies_and_explains_with_grad_cam(data, tmp_path, capsys):
    out = tmp_path / "cnn"
    assert atelier("train", "classifier", "--data", data, "--out", out, "--set", "resolution=16",
                   "--set", "width=8", *TINY) == 0
    assert json.loads((out / "model.json").read_text())["config"]["num_classes"] == 3
    assert atelier("classify", data / "blue", "--model", out, "--top", "1", "--device", "cpu") == 0
    assert len(capsys.readouterr().out.splitlines()) == 4
    assert atelier("explain", data / "blue" / "0.png", "--model", out, "-o", tmp_path / "g.png", "--device", "cpu") == 0
    assert "Grad-CAM" in capsys.readouterr().err and load_image(tmp_path / "g.png").shape == (40, 50, 3)


@pytest.mark.parametrize("args, message", [
    (["--unfreeze-last", "2"], "pretrained backbone"),
    (["--backbone", "efficientnet-lite0", "--unfreeze-last", "19"], "from 1 to 18"),
    (["--backbone", "efficientnet-lite0", "--freeze-backbone", "--unfreeze-last", "2"], "exclude each other"),
    (["--backbone", "efficientnet-lite0", "--size", "100"], "multiple of 32"),
    (["--backbone", "resnet"], "backbone must be one of"),
])
def test_bad_training_options_are_one_line(data, tmp_path, capsys, args, message):
    assert atelier("train", "classifier", "--data", data, "--out", tmp_path / "r", *args, *TINY) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_folder_without_class_sub_folders_is_exit_2(tmp_path, capsys):
    flat = tmp_path / "flat"
    save_image(flat / "a.png", np.zeros((20, 20, 3), np.uint8))
    save_image(flat / "b.png", np.zeros((20, 20, 3), np.uint8))
    assert atelier("train", "classifier", "--data", flat, "--out", tmp_path / "r", *TINY) == 2
    assert "sub-folder" in capsys.readouterr().err
    one = _folder(tmp_path / "one", classes=("cat",), per_class=2)
    assert atelier("train", "classifier", "--data", one, "--backbone", "efficientnet-lite0",
                   "--out", tmp_path / "r", *TINY) == 2
    assert "at least 2 classes, found one class (cat)" in capsys.readouterr().err


def test_classify_errors(tl_run, tmp_path, capsys):
    assert atelier("classify", tmp_path / "missing.png", "--model", tl_run) == 2
    assert "no such file" in capsys.readouterr().err
    image = tmp_path / "a.png"
    save_image(image, np.zeros((8, 8, 3), np.uint8))
    assert atelier("classify", image, "--model", tmp_path) == 2
    assert "model.json" in capsys.readouterr().err
    assert atelier("classify", image, "--model", tl_run, "--top", "0") == 2
