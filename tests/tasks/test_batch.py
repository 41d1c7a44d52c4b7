"""Batch planning and running: inputs, output tree, refusal to overwrite, worker pool."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.errors import InvalidArgument, OutputExists
from atelier.image import load_image, save_image
from atelier.ops import Pipeline
from atelier.tasks.batch import expand_inputs, plan_jobs, run_jobs


@pytest.fixture
def tree(tmp_path, astronaut):
    save_image(tmp_path / "in" / "a.png", astronaut)
    save_image(tmp_path / "in" / "x" / "b.png", astronaut[:, ::-1])
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    return tmp_path


def test_expand_inputs_recurses_and_ignores_non_images(tree):
    found = expand_inputs([str(tree / "in")])
    assert [rel.as_posix() for _, rel in found] == ["a.png", "x/b.png"]


def test_expand_inputs_errors(tree):
    with pytest.raises(InvalidArgument, match="no such file"):
        expand_inputs([str(tree / "missing")])
    (tree / "empty").mkdir()
    with pytest.raises(InvalidArgument, match="no images found"):
        expand_inputs([str(tree / "empty")])


def test_plan_single_file_and_format(tree):
    jobs = plan_jobs([str(tree / "in" / "a.png")], str(tree / "o.jpg"))
    assert [j.target.name for j in jobs] == ["o.jpg"]
    jobs = plan_jobs([str(tree / "in")], str(tree / "out"), format="webp")
    assert sorted(j.target.relative_to(tree / "out").as_posix() for j in jobs) == ["a.webp", "x/b.webp"]


def test_plan_refuses_collisions_and_inputs(tree):
    save_image(tree / "other" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(InvalidArgument, match="would both be written"):
        plan_jobs([str(tree / "in" / "a.png"), str(tree / "other" / "a.png")], str(tree / "out"))
    with pytest.raises(OutputExists, match="is an input"):
        plan_jobs([str(tree / "in")], str(tree / "in"))


@pytest.mark.parametrize("workers", [1, 2])
def test_run_jobs_matches_direct_application(tree, workers):
    pipeline = Pipeline.parse("gaussian_blur sigma=1.5 | rotate angle=90")
    jobs = plan_jobs([str(tree / "in")], str(tree / f"out{workers}"))
    results = run_jobs(jobs, pipeline, workers=workers)
    assert [r.ok for r in results] == [True, True]
    for job in jobs:
        np.testing.assert_array_equal(load_image(job.target), pipeline.apply(load_image(job.source)))


@pytest.mark.parametrize("exc", [NotImplementedError("no 16-bit path"), MemoryError()])
@pytest.mark.parametrize("workers", [1, 2])
def test_run_jobs_reports_any_exception_and_goes_on(tree, exc, workers):
    jobs = plan_jobs([str(tree / "in")], str(tree / "out"))
    bad = jobs[1].source

    target = load_image(bad)

    class Processor:
        def apply(self, image):
            if image.shape == target.shape and np.array_equal(image, target):
                raise exc
            return image

    seen = []
    results = run_jobs(jobs, Processor(), workers=workers, on_result=seen.append)
    assert len(seen) == 2 and [r.ok for r in results] == [True, False]
    expected = "MemoryError" if isinstance(exc, MemoryError) else "NotImplementedError: no 16-bit path"
    assert results[1].error == expected
    assert (tree / "out" / "a.png").exists() and not (tree / "out" / "x" / "b.png").exists()


def test_failure_reason_names_the_file_once(tree):
    (tree / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    jobs = plan_jobs([str(tree / "in")], str(tree / "out"))
    results = {r.job.source.name: r for r in run_jobs(jobs, Pipeline.parse("flip"), workers=1)}
    assert not results["broken.png"].ok and "broken.png" not in results["broken.png"].error


def test_plan_output_file_or_folder(tree):
    src = str(tree / "in" / "a.png")
    with pytest.raises(InvalidArgument, match="cannot write GIF"):
        plan_jobs([src], str(tree / "x.gif"))
    with pytest.raises(InvalidArgument, match="names a file, but 2 images"):
        plan_jobs([str(tree / "in")], str(tree / "one.png"))
    with pytest.raises(InvalidArgument, match="is a file, not a folder"):
        plan_jobs([src], str(tree / "in" / "a.png" / "x.png"))
    assert plan_jobs([src], str(tree / "o") + "/")[0].target == tree / "o" / "a.png"
