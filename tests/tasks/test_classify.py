"""Classifying images with a classifier run: preparation, top-k, names, the registered task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model, save_model
from atelier.tasks.classify import (
    class_names,
    classify_images,
    load_classifier,
    prepare,
    probabilities,
)
from atelier.tasks.registry import TaskContext, get_task


@pytest.fixture
def run(tmp_path):
    torch.manual_seed(0)
    model = build_model("classifier", {"resolution": 16, "width": 8, "num_classes": 3,
                                       "class_names": ["ant", "bee", "cat"]})
    save_model(model, tmp_path / "runs" / "bugs")
    return tmp_path


def test_prepare_matches_the_training_data():
    """The dataset's preparation (shorter side to R, centre crop, channels) on a 20 x 40 image."""
    from atelier.data.transforms import resize_crop, to_channels, to_tensor

    model = build_model("classifier", {"resolution": 16, "channels": 1})
    image = (np.random.default_rng(0).random((20, 40, 3)) * 255).astype(np.uint8)
    x = prepare(image, model)
    assert x.shape == (1, 16, 16)
    assert torch.equal(x, to_tensor(to_channels(resize_crop(image, 16), 1)))
    rgba = np.zeros((16, 16, 4), np.uint8)  # fully transparent: white after compositing
    assert float(prepare(rgba, model).min()) == 1.0


def test_top_k_sorted_and_named(run):
    model = load_classifier(run / "runs" / "bugs")
    images = [np.zeros((16, 16), np.uint8), np.full((30, 20, 3), 200, np.uint8)]
    probs = probabilities(images, model)
    assert probs.shape == (2, 3) and torch.allclose(probs.sum(1), torch.ones(2))
    results = classify_images(images, model, top=10)  # more than the classes: all of them
    for row, p in zip(results, probs):
        assert [name for name, _ in row] == [class_names(model)[int(i)] for i in p.argsort(descending=True)]
        assert [v for _, v in row] == sorted((v for _, v in row), reverse=True)
    assert len(classify_images(images, model, top=1)[0]) == 1
    with pytest.raises(InvalidArgument, match="top"):
        classify_images(images, model, top=0)


def test_unnamed_classes_are_indices_and_other_models_are_refused(tmp_path):
    save_model(build_model("classifier", {"resolution": 16, "width": 8, "num_classes": 2}), tmp_path / "c")
    assert class_names(load_classifier(tmp_path / "c")) == ["0", "1"]
    save_model(build_model("vae", {"resolution": 16, "width": 8, "latent_dim": 4}), tmp_path / "v")
    with pytest.raises(InvalidArgument, match="not a classifier"):
        load_classifier(tmp_path / "v")


def test_tasks_take_run_names_in_the_studio(run):
    ctx = TaskContext(allow_paths=False, work_dir=run)
    image = np.zeros((20, 20, 3), np.uint8)
    result = get_task("classify").run({"image": image}, {"model": "bugs", "top": 2}, ctx)
    assert len(result.data["top"]) == 2 and result.data["top"][0]["class"] in ("ant", "bee", "cat")
    out = get_task("explain").run({"image": image}, {"model": "bugs", "class_name": "bee"}, ctx)
    assert out.images["image"].shape == (20, 20, 3) and out.data["class"] == "bee"
    assert out.data["method"] == "Grad-CAM"
    with pytest.raises(InvalidArgument, match="not a path"):
        get_task("classify").run({"image": image}, {"model": str(run / "runs" / "bugs")}, ctx)
    with pytest.raises(InvalidArgument, match="unknown class"):
        get_task("explain").run({"image": image}, {"model": "bugs", "class_name": "dog"}, ctx)
