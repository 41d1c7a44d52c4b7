"""Tests for atelier.models.classifier: features and logits, one training step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from atelier.models import build_model

from .helpers import TINY, assert_all_grads, assert_finite_scalar


def _clf(resolution=16, channels=1, **kw):
    cfg = {"resolution": resolution, "channels": channels, "width": 8, "num_classes": 4, "feature_dim": 16}
    return build_model("classifier", {**cfg, **kw})


@pytest.mark.parametrize("resolution, channels", TINY + [(128, 3)])
def test_shapes(resolution, channels):
    clf = _clf(resolution, channels).eval()
    x = torch.rand(3, channels, resolution, resolution)
    f = clf.features(x).detach()
    assert f.shape == (3, 16) and float(f.min()) >= 0  # after ReLU
    assert clf(x).shape == (3, 4)


def test_logits_are_last_layer_of_features():
    """In eval mode (no dropout) logits = head(features) = features @ W^T + b."""
    clf = _clf().eval()
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        ref = clf.features(x) @ clf.head.weight.T + clf.head.bias
        assert torch.allclose(clf(x), ref, atol=1e-6)
        assert torch.equal(clf(x), clf(x))  # deterministic in eval mode


@pytest.mark.parametrize("resolution, channels", TINY)
def test_one_step(resolution, channels):
    torch.manual_seed(0)
    clf = _clf(resolution, channels, dropout=0.0).train()
    x, y = torch.rand(6, channels, resolution, resolution), torch.tensor([0, 1, 2, 3, 0, 1])
    loss = F.cross_entropy(clf(x), y)
    assert_finite_scalar(loss)
    loss.backward()
    assert_all_grads(clf)
