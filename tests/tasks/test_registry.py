"""The task registry: specs read from signatures, checks, JSON Schema, cancellation, the
studio's name-only model lookup, and each registered task run once on a small image."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.errors import InvalidArgument, UnknownName
from atelier.tasks.model_cache import ModelCache
from atelier.tasks.registry import TaskCancelled, TaskContext, get_task, list_tasks


@pytest.fixture
def photo():
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[::8, ::8])  # 64 x 64 RGB


def test_every_task_has_a_summary_and_a_json_schema():
    names = [t.name for t in list_tasks()]
    assert len(names) == len(set(names)) >= 10
    for spec in list_tasks():
        assert spec.summary, spec.name
        schema = spec.json_schema()
        assert schema["type"] == "object" and set(schema["properties"]) == {p.name for p in spec.params}


def test_schema_carries_ranges_choices_and_nullable():
    props = get_task("denoise").json_schema()["properties"]
    assert props["sigma"] == {"anyOf": [{"type": "number", "minimum": 0, "maximum": 255}, {"type": "null"}],
                              "default": None, "description": props["sigma"]["description"]}
    assert get_task("inpaint").json_schema()["properties"]["method"]["enum"][:2] == ["inpaint", "telea"]


def test_checks_name_the_mistake():
    with pytest.raises(UnknownName, match="did you mean upscale"):
        get_task("upscal")
    spec = get_task("upscale")
    with pytest.raises(InvalidArgument, match="no parameter 'scael'"):
        spec.check_params({"scael": 2})
    with pytest.raises(InvalidArgument, match="tile must be in"):
        spec.check_params({"tile": -4})
    with pytest.raises(InvalidArgument, match="needs the input image"):
        spec.run({}, {})
    assert spec.check_params({})["scale"] == 4


def test_studio_context_takes_names_not_paths(tmp_path):
    ctx = TaskContext(allow_paths=False, work_dir=tmp_path)
    assert ctx.model_source("sr-x4") == "sr-x4"
    with pytest.raises(InvalidArgument, match="not a path"):
        ctx.model_source("/etc/passwd")
    with pytest.raises(InvalidArgument, match="unknown model 'mine'"):
        ctx.model_source("mine")
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    (tmp_path / "runs" / "mine" / "model.json").write_text("{}")
    assert ctx.model_source("mine") == str(tmp_path / "runs" / "mine")
    with pytest.raises(InvalidArgument, match="not a path"):
        get_task("train").validate({"data": "/data/photos"}, ctx)
    assert TaskContext().model_source("/any/path") == "/any/path"  # the CLI's context takes paths


def test_cancel_stops_at_the_next_report(photo):
    calls = []
    ctx = TaskContext(should_stop=lambda: len(calls) >= 1, progress=lambda *a: calls.append(a))
    with pytest.raises(TaskCancelled):
        get_task("edit").run({"image": photo}, {"pipeline": "equalize | flip | equalize"}, ctx)
    assert len(calls) == 1


def test_model_cache_is_bounded_and_keeps_old_entries_when_a_load_fails():
    cache = ModelCache(max_items=2)
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    with pytest.raises(RuntimeError):
        cache.get("c", lambda: (_ for _ in ()).throw(RuntimeError("corrupt")))
    assert cache.keys() == ["a", "b"]
    cache.get("a", lambda: 0)  # a hit: a becomes the newest
    cache.get("d", lambda: 4)
    assert cache.keys() == ["a", "d"]


@pytest.mark.parametrize(
    "task, inputs, params, check",
    [
        ("denoise", ["image"], {"sigma": 25}, lambda r, x: r.images["image"].shape == x.shape),
        ("stylize", ["image"], {}, lambda r, x: r.images["image"].shape == x.shape),
        ("inpaint", ["image", "mask"], {"method": "telea"}, lambda r, x: r.images["image"].dtype == x.dtype),
        ("sample", [], {"n": 4, "steps": 2, "label": 7}, lambda r, x: r.images["image"].ndim == 3),
        ("generate", ["prompt"], {"n": 2, "steps": 2}, lambda r, x: r.images["image"].ndim == 3),
        ("texture", ["sample"], {"width": 80, "height": 70}, lambda r, x: r.images["image"].shape == (70, 80, 3)),
        ("noise", [], {"width": 80, "height": 70}, lambda r, x: r.images["image"].shape == (70, 80)),
    ],
)
def test_registered_tasks_run(photo, task, inputs, params, check):
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[20:30, 20:30] = 255
    given = {"image": photo, "mask": mask, "prompt": "a red circle", "sample": photo}
    reports = []
    result = get_task(task).run({k: given[k] for k in inputs}, params, TaskContext(progress=lambda *a: reports.append(a)))
    assert check(result, photo)
    assert reports and reports[-1][0] == reports[-1][1]  # the last report says it is complete
