"""atelier.tasks.evaluate: model vs real and real vs real metrics, with a tiny fake extractor."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atelier.errors import AtelierError, InvalidArgument
from atelier.metrics.features import FeatureExtractor, extractor_names, register_extractor
from atelier.models import build_model, save_model
from atelier.tasks.evaluate import evaluate_model, evaluate_real, parse_metrics, parse_split


class _Toy(nn.Module):
    """Features: 4x4 average-pooled luminance (16-d); logits: 4 of them, sharpened."""

    def __init__(self, head: bool) -> None:
        super().__init__()
        self.head = head

    def forward(self, x, logits=False):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        f = F.adaptive_avg_pool2d(x.mean(1, keepdim=True), 4).flatten(1)
        return (f, 20.0 * f[:, :4]) if logits else f


for _name, _head in (("toy-eval", True), ("toy-eval-nohead", False)):
    if _name not in extractor_names():
        register_extractor(_name)(
            lambda arg, *, device, batch_size, weights_path, _n=_name, _h=_head: FeatureExtractor(
                _n, _Toy(_h), 16, 4 if _h else None, device, batch_size))


@pytest.fixture
def run(tmp_path):
    torch.manual_seed(0)
    model = build_model("dcgan", {"resolution": 16, "width": 8, "latent_dim": 8})
    save_model(model, tmp_path / "run")
    return tmp_path / "run"


def test_evaluate_run_returns_finite_metrics(run):
    result = evaluate_model(run, "digits", split=(0, 64), features="toy-eval", n=32, seed=0)
    keys = {"fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall"}
    assert set(result.scores) == keys
    assert all(math.isfinite(v) for v in result.scores.values())
    assert result.scores["fid"] > 0 and 1.0 <= result.scores["is_mean"] <= 4.0
    assert 0 <= result.scores["precision"] <= 1 and 0 <= result.scores["recall"] <= 1
    assert (result.n_fake, result.n_real) == (32, 64)
    again = evaluate_model(run, "digits", split=(0, 64), features="toy-eval", n=32, seed=0)
    assert again.scores == result.scores  # seeded end to end


def test_real_vs_itself_is_zero_and_vs_other_split_is_not():
    """FID of identical feature sets is 0 (mu and sigma equal); KID's unbiased estimate of a
    set against itself is ~0 up to the diagonal terms it excludes; P = R = 1 (each point is
    inside its own ball)."""
    same = evaluate_real("digits", "digits", split=(0, 100), against_split=(0, 100), size=16,
                         features="toy-eval", metrics="fid,pr")
    assert same.scores["fid"] == pytest.approx(0.0, abs=1e-6)
    assert same.scores["precision"] == same.scores["recall"] == 1.0
    other = evaluate_real("digits", "digits", split=(0, 100), against_split=(100, 200), size=16,
                          features="toy-eval", metrics="fid,kid")
    assert other.scores["fid"] > 1e-4


def test_real_statistics_cached(tmp_path, run):
    cache = tmp_path / "cache"
    a = evaluate_real("digits", "digits", split=(0, 50), against_split=(50, 100), size=16,
                      features="toy-eval", metrics="fid", cache_dir=cache)
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 2
    b = evaluate_real("digits", "digits", split=(0, 50), against_split=(50, 100), size=16,
                      features="toy-eval", metrics="fid", cache_dir=cache)
    assert a.scores == b.scores and sorted(cache.glob("*.npz")) == files
    evaluate_model(run, "digits", split=(0, 50), features="toy-eval", metrics="fid", n=8,
                   cache_dir=cache)
    assert sorted(cache.glob("*.npz")) == files  # same set, size, channels, split: reused
    evaluate_model(run, "digits", split=(0, 40), features="toy-eval", metrics="fid", n=8,
                   cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 3  # another split: another file


def test_conditional_labels_cycle_uniformly(monkeypatch):
    model = build_model("cgan", {"resolution": 16, "width": 8, "latent_dim": 8, "num_classes": 3})
    seen = []
    original = type(model).sample

    def spy(self, n, *, labels=None, generator=None, device=None):
        seen.extend(torch.as_tensor(labels).tolist())
        return original(self, n, labels=labels, generator=generator, device=device)

    monkeypatch.setattr(type(model), "sample", spy)
    evaluate_model(model, "digits", split=(0, 32), features="toy-eval", metrics="fid", n=10,
                   batch_size=4)
    assert seen == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]


def test_inception_score_needs_a_head(run):
    with pytest.raises(InvalidArgument, match="classifier head"):
        evaluate_model(run, "digits", split=(0, 32), features="toy-eval-nohead", n=8)
    r = evaluate_model(run, "digits", split=(0, 32), features="toy-eval-nohead", n=8,
                       metrics="fid,kid")
    assert set(r.scores) == {"fid", "kid_mean", "kid_std"}


def test_errors(tmp_path):
    with pytest.raises(AtelierError, match="no such run folder"):
        evaluate_model(tmp_path / "nope", "digits", features="toy-eval", n=8)
    with pytest.raises(InvalidArgument, match="unknown metric"):
        parse_metrics("fid,bogus")
    with pytest.raises(InvalidArgument, match="START:STOP"):
        parse_split("12")
    assert parse_split("10:") == slice(10, None) and parse_split(":0.5") == (0.0, 0.5)
