"""Tests for atelier.models.cvae: label conditioning, shapes, errors, one step."""

from __future__ import annotations

import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model

from .helpers import TINY, assert_all_grads, assert_finite_scalar, assert_unit_range


def _cvae(resolution=16, channels=1, **kw):
    cfg = {"resolution": resolution, "channels": channels, "width": 8, "latent_dim": 4, "num_classes": 3}
    return build_model("cvae", {**cfg, **kw})


@pytest.mark.parametrize("resolution, channels", TINY)
def test_shapes_and_range(resolution, channels):
    cvae = _cvae(resolution, channels)
    x, y = torch.rand(3, channels, resolution, resolution), torch.tensor([0, 1, 2])
    mu, logvar = cvae.encode(x, y)
    assert mu.shape == logvar.shape == (3, 4)
    x_rec, _, _ = cvae(x, y)
    assert x_rec.shape == x.shape
    assert_unit_range(x_rec)
    assert_unit_range(cvae.decode(torch.randn(3, 4), y))
    assert cvae.sample(4).shape == (4, channels, resolution, resolution)


def test_one_hot():
    assert _cvae().one_hot(torch.tensor([2, 0])).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_label_conditions_both_halves():
    """Same z, different label -> different image; same x, different label -> different posterior."""
    cvae = _cvae().eval()
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    a = cvae.sample(2, labels=0, generator=g())
    assert torch.equal(a, cvae.sample(2, labels=[0, 0], generator=g()))
    assert not torch.equal(a, cvae.sample(2, labels=1, generator=g()))
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert not torch.equal(cvae.encode(x, torch.tensor([0]))[0], cvae.encode(x, torch.tensor([1]))[0])


def test_label_errors():
    cvae = _cvae()
    with pytest.raises(InvalidArgument, match="0..2"):
        cvae.sample(2, labels=5)
    with pytest.raises(InvalidArgument, match="0..2"):
        cvae.loss(torch.rand(2, 1, 16, 16), torch.tensor([0, 3]))
    with pytest.raises(InvalidArgument, match="integer"):
        cvae.loss(torch.rand(2, 1, 16, 16), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize("resolution, channels", TINY)
def test_one_step(resolution, channels):
    torch.manual_seed(0)
    cvae = _cvae(resolution, channels).train()
    x, y = torch.rand(4, channels, resolution, resolution), torch.tensor([0, 1, 2, 0])
    out = cvae.loss(x, y, generator=torch.Generator().manual_seed(0))
    for v in out.values():
        assert_finite_scalar(v)
    out["total"].backward()
    assert_all_grads(cvae)
