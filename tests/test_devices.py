"""atelier.devices: one rule for device names (select_device) and for where a task runs
(resolve_device)."""

from __future__ import annotations

import pytest
import torch

from atelier.devices import model_device, resolve_device, select_device
from atelier.errors import InvalidArgument


def test_select_device_names():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(torch.device("cpu")) == torch.device("cpu")
    assert select_device(" CPU ") == torch.device("cpu")
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(InvalidArgument, match="unknown device 'gpu'; use auto, cpu, cuda"):
        select_device("gpu")
    with pytest.raises(InvalidArgument, match="must be a name"):
        select_device(3)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_select_device_missing_cuda():
    with pytest.raises(InvalidArgument, match="no CUDA GPU is available"):
        select_device("cuda")


class _Wrapper:
    """A loaded model that is not a module but says where it is (as DiffusionModel does)."""

    device = torch.device("cpu")


def test_resolve_device_none_is_where_the_model_is():
    assert resolve_device(None, torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert resolve_device(None, torch.nn.BatchNorm1d(2, affine=False)) == torch.device("cpu")  # buffers only
    assert resolve_device(None, torch.nn.ReLU()) == torch.device("cpu")  # no tensors at all
    assert resolve_device(None, _Wrapper()) == torch.device("cpu")


def test_resolve_device_without_a_loaded_model_uses_the_fallback():
    assert resolve_device(None) == select_device("auto")
    assert resolve_device(None, "runs/some-run") == select_device("auto")  # a path is not a loaded model
    assert resolve_device(None, "runs/some-run", fallback="cpu") == torch.device("cpu")
    assert model_device("runs/some-run") is None


def test_resolve_device_names_go_through_select_device():
    assert resolve_device("cpu", torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert resolve_device("auto") == select_device("auto")
    assert resolve_device() == select_device("auto")
    with pytest.raises(InvalidArgument, match="unknown device 'tpu'"):
        resolve_device("tpu", torch.nn.Linear(2, 2))
