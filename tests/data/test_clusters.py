"""Tests for atelier.data.clusters and training a cgan on k-means clusters (data.clusters)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from atelier.data import make_dataset
from atelier.data.clusters import ClusterLabelled, kmeans_labels
from atelier.errors import InvalidArgument
from atelier.models import load_model
from atelier.models.layers import default_labels
from atelier.tasks.generate import expand_labels
from atelier.tasks.training import resolve_run, train_run

TINY = ["width=8", "batch_size=16", "steps=2", "checkpoint_every=2", "log_every=1"]


def test_kmeans_finds_separated_groups_and_is_seeded():
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 10, (3, 6))
    points = np.concatenate([c + rng.normal(0, 0.1, (n, 6)) for c, n in zip(centres, (5, 10, 15))])
    labels, prior = kmeans_labels(points, 3, seed=0)
    groups = [set(labels[a:b]) for a, b in ((0, 5), (5, 15), (15, 30))]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    assert sorted(prior) == pytest.approx([5 / 30, 10 / 30, 15 / 30])
    again, _ = kmeans_labels(points, 3, seed=0)
    assert np.array_equal(labels, again)


def test_cluster_labels_replace_the_data_labels():
    base = make_dataset("digits", size=16, channels=1, labels=False)
    ds = ClusterLabelled(base, 4, seed=0)
    image, label = ds[3]
    assert torch.equal(image, base[3][0]) and 0 <= label < 4
    assert ds.num_classes == 4 and len(ds) == len(base) and sum(ds.label_prior) == pytest.approx(1.0)
    assert ds.size == base.size and ds.channels == base.channels


@pytest.mark.parametrize("k", [1, 0, True, 2.5, 10_000])
def test_bad_cluster_counts(k):
    with pytest.raises(InvalidArgument, match="clusters"):
        ClusterLabelled(make_dataset("digits", size=16, channels=1, labels=False), k)


def test_default_labels_follow_the_prior_in_every_stretch():
    """Shares within a sample of the prior overall and in each tenth (no blocks of one label,
    which would collapse an Inception Score taken over splits)."""
    prior = (0.2, 0.5, 0.3)
    y = default_labels(1000, 3, prior).numpy()
    assert np.abs(np.bincount(y) - np.array(prior) * 1000).max() <= 1
    for part in y.reshape(10, 100):
        assert np.abs(np.bincount(part, minlength=3) - np.array(prior) * 100).max() <= 3
    assert default_labels(4, 3).tolist() == [0, 1, 2, 0]


def test_cgan_trains_on_clusters_and_samples_by_their_sizes(tmp_path):
    spec = resolve_run("cgan", data="digits", overrides=[*TINY, "data.clusters=3", "resolution=16", "channels=1"])
    assert spec["model_config"]["num_classes"] == 3  # follows the clusters unless set
    run = train_run(spec, tmp_path / "run")
    prior = json.loads((run / "config.json").read_text())["model_config"]["label_prior"]
    model = load_model(run)
    assert list(model.config.label_prior) == pytest.approx(prior) and len(prior) == 3
    y = expand_labels(model, None, 300)
    assert np.bincount(y.numpy(), minlength=3) / 300 == pytest.approx(prior, abs=1 / 300)
    longer = resolve_run("cgan", data="digits", overrides=["steps=3"], base=json.loads((run / "config.json").read_text()))
    train_run(longer, run)  # a resume: the same clusters, the same prior


def test_clusters_errors():
    with pytest.raises(InvalidArgument, match="use cgan"):
        resolve_run("dcgan", data="digits", overrides=["data.clusters=5"])
    with pytest.raises(InvalidArgument, match="drop data.labels"):
        resolve_run("cgan", data="digits", overrides=["data.clusters=5", "data.labels=true"])
    with pytest.raises(InvalidArgument, match="data.clusters"):
        resolve_run("cgan", data="digits", overrides=["data.clusters=1"])
    with pytest.raises(InvalidArgument, match="label_prior"):
        resolve_run("cgan", data="digits", overrides=["num_classes=3", "label_prior=[1, 2]"])
