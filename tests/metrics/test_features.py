"""Feature-extractor registry and cached dataset statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from atelier.errors import InvalidArgument, UnknownName
from atelier.metrics.features import (
    FeatureExtractor,
    compute_statistics,
    extractor_names,
    get_extractor,
    register_classifier_loader,
)


class _Counting(nn.Module):
    """Features = per-channel means and maxima (hand-checkable); 2 'classes'; counts images."""

    feature_dim, num_classes = 6, 2

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def forward(self, x, logits=False):
        self.seen += x.shape[0]
        f = torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1)
        return (f, f[:, :2]) if logits else f


def _extractor(name="toy", batch_size=4):
    net = _Counting()
    return FeatureExtractor(name, net, 6, 2, "cpu", batch_size), net


def test_registry_names_and_errors():
    assert {"efficientnet-lite0", "inception-v3", "classifier"} <= set(extractor_names())
    with pytest.raises(UnknownName, match="efficientnet-lite0"):
        get_extractor("efficientnet-lite")
    with pytest.raises(InvalidArgument, match="pt_inception-2015-12-05-6726825d.pth"):
        get_extractor("inception-v3")
    with pytest.raises(InvalidArgument, match="pt_inception-2015-12-05-6726825d.pth"):
        get_extractor("inception-v3:/no/such/file.pth")


def test_default_extractor_features_and_probabilities():
    ex = get_extractor()
    assert (ex.name, ex.feature_dim, ex.num_classes) == ("efficientnet-lite0", 1280, 1000)
    ex.batch_size = 2
    x = torch.rand(3, 3, 32, 32)
    f = ex.features(x)
    p = ex.probabilities(x)
    assert f.shape == (3, 1280) and p.shape == (3, 1000) and not f.requires_grad
    assert torch.allclose(p.sum(1), torch.ones(3), atol=1e-5)
    f2, p2 = ex.features_and_probabilities(x)
    assert torch.allclose(f, f2, atol=1e-6) and torch.allclose(p, p2, atol=1e-6)


def test_features_are_batched_and_exact():
    """Features equal a direct computation (channel means/maxima) whatever the batch size."""
    ex, net = _extractor(batch_size=3)
    x = torch.rand(7, 3, 5, 5)
    expected = torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1)
    assert torch.allclose(ex.features(x), expected)
    probs = ex.probabilities(x)
    assert torch.allclose(probs, torch.softmax(expected[:, :2], 1))
    assert net.seen == 14


def test_no_head():
    ex = FeatureExtractor("headless", _Counting(), 6, None)
    with pytest.raises(InvalidArgument, match="no classifier head"):
        ex.probabilities(torch.rand(1, 3, 4, 4))
    f, p = ex.features_and_probabilities(torch.rand(1, 3, 4, 4))
    assert f.shape == (1, 6) and p is None


def test_statistics_from_dataset_items():
    """(image, label) items, batched; mu and sigma match numpy on the features."""
    ex, net = _extractor()
    images = torch.rand(10, 3, 4, 4)
    data = [(img, i % 3) for i, img in enumerate(images)]
    stats = compute_statistics(data, ex, batch_size=4)

    class MapStyle:  # __len__ + __getitem__ only, like a torch map-style Dataset
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return images[i], 0

    assert np.array_equal(compute_statistics(MapStyle(), ex, batch_size=3).features,
                          stats.features)
    net.seen -= 10
    expected = torch.cat([images.mean((2, 3)), images.amax((2, 3))], 1).numpy()
    np.testing.assert_allclose(stats.features, expected, rtol=1e-6)
    np.testing.assert_allclose(stats.mu, expected.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats.sigma, np.cov(expected.astype(np.float64), rowvar=False),
                               rtol=1e-5, atol=1e-9)
    assert stats.probabilities.shape == (10, 2) and net.seen == 10


def test_cache_hit_and_keys(tmp_path):
    ex, net = _extractor()
    images = torch.rand(9, 3, 4, 4)
    first = compute_statistics(images, ex, cache_dir=tmp_path, key="toy:4x4")
    assert net.seen == 9
    files = sorted(tmp_path.glob("*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    again = compute_statistics(images, ex, cache_dir=tmp_path, key="toy:4x4")
    assert net.seen == 9  # no recomputation
    assert np.array_equal(again.features, first.features)
    assert np.array_equal(again.probabilities, first.probabilities)
    with np.load(files[0], allow_pickle=False) as f:  # a plain npz, no pickles
        assert set(f.files) == {"features", "probabilities", "ident"}
    compute_statistics(images, ex, cache_dir=tmp_path, key="toy:8x8")  # another dataset
    compute_statistics(images[:5], ex, cache_dir=tmp_path, key="toy:4x4")  # another size
    other, _ = _extractor(name="other")
    compute_statistics(images, other, cache_dir=tmp_path, key="toy:4x4")  # another extractor
    assert len(list(tmp_path.glob("*.npz"))) == 4
    assert net.seen == 9 + 9 + 5


def test_corrupt_cache_is_recomputed(tmp_path):
    ex, net = _extractor()
    images = torch.rand(3, 3, 4, 4)
    compute_statistics(images, ex, cache_dir=tmp_path, key="k")
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"garbage")
    stats = compute_statistics(images, ex, cache_dir=tmp_path, key="k")
    assert net.seen == 6 and stats.features.shape == (3, 6)


def test_statistics_errors(tmp_path):
    ex, _ = _extractor()
    with pytest.raises(InvalidArgument, match="key"):
        compute_statistics(torch.rand(2, 3, 4, 4), ex, cache_dir=tmp_path)
    with pytest.raises(InvalidArgument, match="empty"):
        compute_statistics([], ex)
    with pytest.raises(InvalidArgument, match=r"\(C, H, W\)"):
        compute_statistics([torch.rand(4, 4)], ex)


def test_classifier_spec(tmp_path, monkeypatch):
    from atelier.metrics import features

    monkeypatch.setattr(features, "_CLASSIFIER_LOADERS", {})  # keep the registry clean
    with pytest.raises(InvalidArgument, match="no model.json"):
        get_extractor(f"classifier:{tmp_path}")
    (tmp_path / "model.json").write_text(json.dumps({"model": "toy-clf", "config": {"k": 2}}))
    with pytest.raises(InvalidArgument, match="toy-clf"):
        get_extractor(f"classifier:{tmp_path}")
    seen = {}

    def load(folder, config):
        seen.update(folder=folder, config=config)
        return _Counting()

    register_classifier_loader("toy-clf", load)
    ex = get_extractor(f"classifier:{tmp_path}")
    assert seen == {"folder": tmp_path, "config": {"k": 2}}
    assert (ex.feature_dim, ex.num_classes) == (6, 2) and ex.name == f"classifier:{tmp_path}"


def test_classifier_extractor_from_an_atelier_model(tmp_path):
    """`classifier:PATH` loads a folder written by atelier (model.json + model.safetensors)
    and adapts size and channels: 32 px RGB inputs to a 16 px grey classifier."""
    import torch

    from atelier.metrics.features import get_extractor
    from atelier.models import build_model, save_model

    model = build_model("classifier", {"resolution": 16, "channels": 1, "width": 8, "feature_dim": 12})
    save_model(model, tmp_path / "clf")
    extractor = get_extractor(f"classifier:{tmp_path / 'clf'}")
    images = torch.rand(5, 3, 32, 32)
    feats = extractor.features(images)
    probs = extractor.probabilities(images)
    assert tuple(feats.shape) == (5, 12) and tuple(probs.shape) == (5, 10)
    torch.testing.assert_close(probs.sum(1), torch.ones(5))
    grey = torch.nn.functional.interpolate(images.mean(1, keepdim=True), size=(16, 16), mode="bilinear", antialias=True)
    model.eval()
    torch.testing.assert_close(feats, model.features(grey), rtol=1e-4, atol=1e-5)
