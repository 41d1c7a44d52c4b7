"""Network interpolation (ESRGAN section 3.4): weights, checks, and the ``atelier interpolate`` command."""

from __future__ import annotations

import json

import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model, save_model
from atelier.models.interpolate import interpolate_models, interpolate_state
from tests.cli.test_cli import atelier


def _pair(**config):
    torch.manual_seed(0)
    a = build_model("edsr", {"scale": 2, "width": 4, "blocks": 1, **config})
    b = build_model("edsr", {"scale": 2, "width": 4, "blocks": 1, **config})
    return a, b


@pytest.mark.parametrize("alpha", [0.0, 0.25, 1.0])
def test_weights_are_the_linear_blend(alpha):
    a, b = _pair()
    mid = interpolate_models(a, b, alpha).state_dict()
    for key, ta in a.state_dict().items():
        torch.testing.assert_close(mid[key], (1 - alpha) * ta + alpha * b.state_dict()[key])


def test_inputs_are_untouched_and_integer_buffers_come_from_the_first():
    a = {"w": torch.zeros(2), "n": torch.tensor(3)}
    b = {"w": torch.ones(2), "n": torch.tensor(9)}
    out = interpolate_state(a, b, 0.5)
    assert out["w"].tolist() == [0.5, 0.5] and int(out["n"]) == 3 and a["w"].tolist() == [0.0, 0.0]


def test_mismatches_are_one_line_errors():
    a, _ = _pair()
    with pytest.raises(InvalidArgument, match="alpha must be in"):
        interpolate_models(a, a, 1.5)
    with pytest.raises(InvalidArgument, match="different configurations"):
        interpolate_models(a, _pair(width=8)[0], 0.5)
    with pytest.raises(InvalidArgument, match="cannot interpolate a edsr with a dncnn"):
        interpolate_models(a, build_model("dncnn", {"width": 4, "depth": 3}), 0.5)
    with pytest.raises(InvalidArgument, match="different layers"):
        interpolate_state({"x": torch.zeros(1)}, {"y": torch.zeros(1)}, 0.5)
    with pytest.raises(InvalidArgument, match=r"is \(1,\) in the first"):
        interpolate_state({"x": torch.zeros(1)}, {"x": torch.zeros(2)}, 0.5)


def test_cli_writes_a_loadable_model_and_refuses_bad_input(tmp_path, capsys):
    a, b = _pair()
    save_model(a, tmp_path / "a")
    save_model(b, tmp_path / "b")
    assert atelier("interpolate", tmp_path / "a", tmp_path / "b", "--alpha", 0.5, "--out", tmp_path / "mid") == 0
    assert json.loads(capsys.readouterr().out)["alpha"] == 0.5
    key = "head.weight"
    expected = (a.state_dict()[key] + b.state_dict()[key]) / 2
    torch.testing.assert_close(load_model(tmp_path / "mid").state_dict()[key], expected)
    assert atelier("interpolate", tmp_path / "a", tmp_path / "b", "--alpha", 0.5, "--out", tmp_path / "mid") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert atelier("interpolate", tmp_path / "a", tmp_path / "nope", "--alpha", 0.5, "--out", tmp_path / "x") == 2
    assert "no such run folder" in capsys.readouterr().err
    assert atelier("interpolate", tmp_path / "a", tmp_path / "b", "--alpha", -1, "--out", tmp_path / "y") == 2
    assert not (tmp_path / "y").exists()
