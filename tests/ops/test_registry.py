"""The op registry and pipelines: specs read from signatures, checking, parsing, errors."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import pytest

from atelier.errors import InvalidArgument, InvalidImage, UnknownName
from atelier.ops import Pipeline, apply_pipeline, get_op, list_ops
from atelier.ops.registry import Range, param_from_annotation


def test_every_op_is_listed_with_summary_and_typed_params():
    specs = list_ops()
    assert len(specs) >= 26
    assert {s.category for s in specs} == {"color", "filters", "geometry", "composite", "inpaint", "texture"}
    for spec in specs:
        assert spec.summary, f"{spec.name} has no docstring summary"
        for p in spec.params:
            assert p.kind in {"int", "float", "bool", "str", "choice", "tuple", "image", "images"}
            if not p.required and p.default is not None:
                assert p.check(p.default) == p.default or p.kind == "tuple", (spec.name, p.name)


def test_spec_from_annotation():
    p = param_from_annotation("sigma", Annotated[float, Range(0, 10, low_open=True), "blur"], 1.0)
    assert (p.kind, p.default, p.help, str(p.range)) == ("float", 1.0, "blur", "(0, 10]")
    c = param_from_annotation("mode", Literal["a", "b"], "a")
    assert c.kind == "choice" and c.choices == ("a", "b")
    t = param_from_annotation("size", tuple[int, int] | None, None)
    assert (t.kind, t.length, t.optional) == ("tuple", 2, True)


@pytest.mark.parametrize(
    "value,error",
    [(-1.0, "must be in"), (0.0, "must be in"), ("2", "must be float"), (float("nan"), "finite"), (True, "must be float")],
)
def test_checked_call_rejects_bad_values(value, error):
    with pytest.raises(InvalidArgument, match=error):
        get_op("gaussian_blur").func(np.zeros((8, 8), np.uint8), sigma=value)


def test_checked_call_rejects_unknown_and_missing_params():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InvalidArgument, match="no parameter 'sigmaa'"):
        get_op("gaussian_blur").func(img, sigmaa=1.0)
    with pytest.raises(InvalidArgument, match="needs parameter angle"):
        get_op("rotate").func(img)


@pytest.mark.parametrize(
    "image",
    [
        np.full((4, 4), np.nan, np.float32),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((0, 4), np.uint8),
        np.zeros((4, 4), np.int32),
        [[0, 1], [1, 0]],
    ],
)
def test_checked_call_rejects_bad_images(image):
    with pytest.raises(InvalidImage):
        get_op("flip").func(image)


def test_int_param_accepts_integral_float_only():
    spec = get_op("median").param("ksize")
    assert spec.check(5.0) == 5
    with pytest.raises(InvalidArgument):
        spec.check(5.5)


def test_pipeline_parse_and_apply():
    img = np.arange(24, dtype=np.uint8).reshape(4, 6)
    p = Pipeline.parse("flip axis=horizontal | rotate angle=90 | pad top=1 mode=edge")
    assert [s.op.name for s in p.stages] == ["flip", "rotate", "pad"]
    assert str(p) == "flip axis=horizontal | rotate angle=90.0 | pad top=1 mode=edge"
    expected = np.pad(np.rot90(img[:, ::-1]), ((1, 0), (0, 0)), mode="edge")
    np.testing.assert_array_equal(p.apply(img), expected)


def test_pipeline_tuple_and_quoted_values():
    img = np.zeros((10, 10, 3), np.uint8)
    out = apply_pipeline(img, "pad top=1 fill='255,0,0' | crop x=0 y=0 width=10 height=1")
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])


@pytest.mark.parametrize(
    "text,error,match",
    [
        ("gausian_blur", UnknownName, "did you mean gaussian_blur"),
        ("rotate", InvalidArgument, "needs parameter angle"),
        ("rotate angle", InvalidArgument, "expected key=value"),
        ("rotate angle=1 angle=2", InvalidArgument, "given twice"),
        ("rotate angle=1000", InvalidArgument, "must be in"),
        ("gaussian_blur sigma='", InvalidArgument, "cannot read"),
        ("", InvalidArgument, "empty stage"),
        ("alpha_blend overlay=/nonexistent.png", InvalidImage, "no such file"),
    ],
)
def test_pipeline_errors(text, error, match):
    with pytest.raises(error, match=match):
        Pipeline.parse(text)


def test_pipeline_image_params_load_files(tmp_path):
    from atelier.image import save_image

    save_image(tmp_path / "white.png", np.full((4, 4, 3), 255, np.uint8))
    out = apply_pipeline(np.zeros((4, 4, 3), np.uint8), f"alpha_blend overlay={tmp_path / 'white.png'} alpha=0.5")
    assert out[0, 0, 0] in (127, 128)


def test_pipeline_is_picklable_for_worker_pools():
    import pickle

    p = Pipeline.parse("gaussian_blur sigma=2 | flip")
    q = pickle.loads(pickle.dumps(p))
    img = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(p.apply(img), q.apply(img))
