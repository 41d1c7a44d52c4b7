"""Tests for atelier.metrics.distribution: FID, KID, Inception Score and precision/recall."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from scipy.spatial.distance import cdist

from atelier.errors import InvalidArgument
from atelier.metrics import distribution
from atelier.metrics.distribution import (
    feature_statistics,
    fid,
    frechet_distance,
    inception_score,
    kid,
    precision_recall,
)


def _random_covariance(rng: np.random.Generator, dimension: int, rank: int | None = None):
    """A random symmetric positive semi-definite matrix of the given rank (full by default)."""
    factor = rng.normal(size=(dimension, rank or dimension))
    return factor @ factor.T / dimension


def _scipy_frechet(mu1, sigma1, mu2, sigma2) -> float:
    """FID's closed form as pytorch-fid (src/pytorch_fid/fid_score.py) evaluates it with scipy."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


# ----------------------------------------------------------------------------- FID


def test_feature_statistics_matches_numpy():
    """Reference: np.mean and np.cov (N - 1 denominator), as pytorch-fid computes them."""
    features = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    mu, sigma = feature_statistics(features)
    assert mu.dtype == sigma.dtype == np.float64
    assert mu.shape == (6,) and sigma.shape == (6, 6)
    np.testing.assert_allclose(mu, features.astype(np.float64).mean(axis=0))
    np.testing.assert_allclose(sigma, np.cov(features.astype(np.float64), rowvar=False))
    _, sigma1 = feature_statistics(features[:, :1])
    assert sigma1.shape == (1, 1)


@pytest.mark.parametrize(("n", "d"), [(300, 16), (20, 64)])  # full-rank and singular covariance
def test_fid_identical_sets_is_zero(n, d):
    """FID of a set against itself is 0 (d^2 = 0 when both Gaussians are the same)."""
    features = np.random.default_rng(1).normal(size=(n, d)) * 3.0 + 5.0
    _, sigma = feature_statistics(features)
    assert fid(features, features) < 1e-6 * np.trace(sigma)


def test_frechet_distance_diagonal_by_hand():
    """Hand computation: for diagonal covariances the trace term is sum (sqrt(a_i) - sqrt(b_i))^2.

    mu1 = 0, mu2 = (1, 2, 2): ||mu1 - mu2||^2 = 9. sigma1 = diag(1, 4, 9),
    sigma2 = diag(4, 9, 16): (1-2)^2 + (2-3)^2 + (3-4)^2 = 3, total 12. With the singular
    sigma2 = diag(4, 9, 0): 1 + 1 + 9 = 11, total 20 (pytorch-fid needs its eps fallback here).
    """
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
    sigma1 = np.diag([1.0, 4.0, 9.0])
    assert frechet_distance(mu1, sigma1, mu2, np.diag([4.0, 9.0, 16.0])) == pytest.approx(12.0)
    assert frechet_distance(mu1, sigma1, mu2, np.diag([4.0, 9.0, 0.0])) == pytest.approx(20.0)
    # One dimension: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s = 2 and 5.
    assert frechet_distance([1.0], [[4.0]], [3.0], [[25.0]]) == pytest.approx(4.0 + 9.0)


@pytest.mark.parametrize(("d", "rank"), [(5, None), (32, None), (32, 10)])
def test_frechet_distance_matches_scipy_sqrtm(d, rank):
    """Reference: pytorch-fid's formula with scipy.linalg.sqrtm of sigma1 @ sigma2."""
    rng = np.random.default_rng(d + (rank or 0))
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    sigma1 = _random_covariance(rng, d)
    sigma2 = _random_covariance(rng, d, rank)
    expected = _scipy_frechet(mu1, sigma1, mu2, sigma2)
    got = frechet_distance(mu1, sigma1, mu2, sigma2)
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-6)
    # Symmetric up to round-off (sqrt of ~1e-16 eigenvalues of a singular product adds ~1e-8).
    assert frechet_distance(mu2, sigma2, mu1, sigma1) == pytest.approx(got, rel=1e-7)


def test_fid_from_samples_approaches_closed_form():
    """FID of samples of two Gaussians tends to the closed form (scipy sqrtm) as N grows.

    The estimate is biased upwards by O(D / N); the error must shrink from N=200 to N=20000.
    """
    rng = np.random.default_rng(2)
    d = 4
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    sigma1, sigma2 = _random_covariance(rng, d) + 0.5 * np.eye(d), np.eye(d)
    expected = _scipy_frechet(mu1, sigma1, mu2, sigma2)
    errors = []
    for n in (200, 20000):
        a = rng.multivariate_normal(mu1, sigma1, size=n)
        b = rng.multivariate_normal(mu2, sigma2, size=n)
        errors.append(abs(fid(a, b) - expected))
    assert errors[1] < 0.05 * expected
    assert errors[1] < errors[0]


def test_fid_exceptions():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(10, 4))
    with pytest.raises(InvalidArgument, match="feature dimensions"):
        fid(a, rng.normal(size=(10, 5)))
    with pytest.raises(InvalidArgument, match="at least 2"):
        fid(a, a[:1])
    with pytest.raises(InvalidArgument, match="at least 2"):
        feature_statistics(a[:1])
    bad = a.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        fid(a, bad)
    with pytest.raises(InvalidArgument, match=r"shape \(N, D\)"):
        fid(a.ravel(), a)
    with pytest.raises(InvalidArgument, match="numeric"):
        fid(np.array([["a", "b"], ["c", "d"]]), a)
    sigma = np.eye(4)
    with pytest.raises(InvalidArgument, match="negative eigenvalue"):
        frechet_distance(np.zeros(4), sigma, np.zeros(4), np.diag([1.0, 1.0, 1.0, -1.0]))
    with pytest.raises(InvalidArgument, match="sigma1 has a negative eigenvalue"):
        frechet_distance(np.zeros(4), -sigma, np.zeros(4), sigma)
    with pytest.raises(InvalidArgument, match="symmetric"):
        frechet_distance(np.zeros(4), sigma, np.zeros(4), np.triu(np.ones((4, 4))))
    with pytest.raises(InvalidArgument, match="shape"):
        frechet_distance(np.zeros(3), sigma, np.zeros(4), sigma)
    with pytest.raises(InvalidArgument, match="different dimensions"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), sigma)


# ----------------------------------------------------------------------------- KID


def _kernel(x, y, degree=3, gamma=None, coef=1.0) -> float:
    gamma = 1.0 / len(x) if gamma is None else gamma
    return (gamma * sum(a * b for a, b in zip(x, y)) + coef) ** degree


def _mmd2_loop(x, y, unbiased=True, **kernel) -> float:
    """Direct O(m^2) loops of Gretton et al. 2012, eq. 3 (unbiased) and eq. 5 (biased)."""
    m = len(x)
    xx = yy = xy = 0.0
    for i in range(m):
        for j in range(m):
            xy += _kernel(x[i], y[j], **kernel)
            if i != j or not unbiased:
                xx += _kernel(x[i], x[j], **kernel)
                yy += _kernel(y[i], y[j], **kernel)
    pairs = m * (m - 1) if unbiased else m * m
    return (xx + yy) / pairs - 2 * xy / (m * m)


def _biased_mmd2(x, y) -> float:
    """Biased (V-statistic) MMD^2 with the default KID kernel, vectorised."""

    def k(a, b):
        return (a @ b.T / a.shape[1] + 1) ** 3

    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


def test_kid_matches_loop_on_all_rows():
    """Reference: the unbiased MMD^2 computed with explicit loops (subset_size >= N: all rows).

    MMD^2 does not depend on the order of the rows, so every subset gives the same value and
    the standard deviation is 0.
    """
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.3
    mean, std = kid(x, y, subsets=3)
    assert mean == pytest.approx(_mmd2_loop(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-10)
    kernel = {"degree": 2, "gamma": 0.5, "coef": 2.0}
    mean, _ = kid(x, y, subsets=1, **kernel)
    assert mean == pytest.approx(_mmd2_loop(x, y, **kernel), rel=1e-10)


def test_kid_subsets_match_loop():
    """Reference: the loop on the same subsets (the subset size is clipped to min(N_a, N_b))."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(9, 2)), rng.normal(size=(7, 2))
    mean, std = kid(x, y, subsets=4, subset_size=100, seed=11)
    draws = np.random.default_rng(11)
    values = []
    for _ in range(4):
        xs = x[draws.choice(9, 7, replace=False)]
        ys = y[draws.choice(7, 7, replace=False)]
        values.append(_mmd2_loop(xs, ys))
    assert mean == pytest.approx(np.mean(values), rel=1e-10)
    assert std == pytest.approx(np.std(values), rel=1e-8)
    assert std > 0
    first = kid(x, y, subsets=4, subset_size=5, seed=11)
    assert kid(x, y, subsets=4, subset_size=5, seed=11) == first
    assert kid(x, y, subsets=4, subset_size=5, seed=12) != first


def test_kid_is_unbiased():
    """Unbiasedness (Binkowski et al. 2018): over independent sample pairs of one distribution
    the mean of KID is ~0 (within 4 standard errors; single values may be negative), while the
    biased V-statistic of the same pairs is clearly positive."""
    rng = np.random.default_rng(6)
    unbiased, biased = [], []
    for _ in range(300):
        x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
        unbiased.append(kid(x, y, subsets=1)[0])
        biased.append(_biased_mmd2(x, y))
    unbiased, biased = np.array(unbiased), np.array(biased)
    standard_error = unbiased.std() / math.sqrt(len(unbiased))
    assert abs(unbiased.mean()) < 4 * standard_error
    assert (unbiased < 0).any()
    assert (biased > 0).all()
    assert biased.mean() > 10 * standard_error


def test_kid_of_different_distributions_is_positive():
    """Shifted distributions: KID's mean is far above its spread over subsets."""
    rng = np.random.default_rng(7)
    same_mean, _ = kid(
        rng.normal(size=(400, 8)), rng.normal(size=(400, 8)), subsets=20, subset_size=200
    )
    mean, std = kid(
        rng.normal(size=(400, 8)), rng.normal(size=(400, 8)) + 0.5, subsets=20, subset_size=200
    )
    assert mean > 10 * std > 0
    assert mean > 20 * abs(same_mean)


def test_kid_exceptions():
    rng = np.random.default_rng(8)
    a = rng.normal(size=(10, 4))
    with pytest.raises(InvalidArgument, match="feature dimensions"):
        kid(a, rng.normal(size=(10, 3)))
    with pytest.raises(InvalidArgument, match="at least 2"):
        kid(a, a[:1])
    with pytest.raises(InvalidArgument, match="subset_size"):
        kid(a, a, subset_size=1)
    with pytest.raises(InvalidArgument, match="subsets"):
        kid(a, a, subsets=0)
    with pytest.raises(InvalidArgument, match="degree"):
        kid(a, a, degree=1.5)
    with pytest.raises(InvalidArgument, match="gamma"):
        kid(a, a, gamma=-1.0)
    bad = a.copy()
    bad[0, 0] = np.inf
    with pytest.raises(InvalidArgument, match="NaN or infinite"):
        kid(bad, a)


# ----------------------------------------------------------------------------- IS


def _openai_inception_score(probs, splits):
    """Salimans et al.'s improved-gan inception_score/model.py, with scipy.stats.entropy as KL."""
    scores = []
    n = len(probs)
    for i in range(splits):
        part = probs[i * n // splits : (i + 1) * n // splits]
        py = part.mean(axis=0)
        scores.append(np.exp(np.mean([scipy.stats.entropy(pyx, py) for pyx in part])))
    return np.mean(scores), np.std(scores)


def test_inception_score_bounds():
    """Hand cases: confident predictions spread evenly over K classes give K; identical
    predictions give 1 (KL to the marginal is 0)."""
    k = 10
    one_hot = np.tile(np.eye(k), (5, 1))
    assert inception_score(one_hot, splits=1) == pytest.approx((k, 0.0))
    assert inception_score(one_hot, splits=5) == pytest.approx((k, 0.0))
    same = np.tile(np.random.default_rng(9).dirichlet(np.ones(k)), (40, 1))
    assert inception_score(same, splits=4) == pytest.approx((1.0, 0.0))


def test_inception_score_by_hand():
    """Hand computation: rows (1, 0) and (0.5, 0.5), marginal (0.75, 0.25).

    KL1 = log(1 / 0.75) = 0.287682, KL2 = 0.5 log(0.5 / 0.75) + 0.5 log(0.5 / 0.25) = 0.143841,
    IS = exp((KL1 + KL2) / 2) = exp(0.215762) = 1.240806.
    """
    score, std = inception_score(np.array([[1.0, 0.0], [0.5, 0.5]]), splits=1)
    assert score == pytest.approx(1.240806, abs=1e-6)
    assert std == 0.0


def test_inception_score_matches_reference_implementation():
    """Reference: the original split loop with scipy.stats.entropy, 103 rows in 10 unequal parts."""
    rng = np.random.default_rng(10)
    probs = rng.dirichlet(np.full(7, 0.3), size=103)
    assert inception_score(probs, splits=10) == pytest.approx(
        _openai_inception_score(probs, 10), rel=1e-10
    )
    assert inception_score(probs.astype(np.float32), splits=3)[0] == pytest.approx(
        _openai_inception_score(probs, 3)[0], rel=1e-5
    )


def test_inception_score_exceptions():
    probs = np.full((4, 2), 0.5)
    with pytest.raises(InvalidArgument, match="sum to 1"):
        inception_score(np.ones((4, 2)), splits=1)
    with pytest.raises(InvalidArgument, match=r"\[0, 1\]"):
        inception_score(np.array([[1.5, -0.5]]), splits=1)
    with pytest.raises(InvalidArgument, match="splits"):
        inception_score(probs, splits=5)
    with pytest.raises(InvalidArgument, match="splits"):
        inception_score(probs, splits=0)
    probs[1, 1] = np.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        inception_score(probs, splits=1)


# ----------------------------------------------------------------------------- precision/recall


def _precision_recall_reference(real, fake, k):
    """Brute force in float64 with scipy's cdist, as in Kynkäänniemi et al.'s reference code."""

    def radii(points):
        return np.sort(cdist(points, points), axis=1)[:, k]  # column 0 is the point itself

    def coverage(queries, points):
        return float((cdist(queries, points) <= radii(points)[None, :]).any(axis=1).mean())

    return coverage(fake, real), coverage(real, fake)


def test_precision_recall_identical_and_disjoint():
    """Every sample is in its own ball: identical sets give (1, 1); far-apart clusters (0, 0)."""
    rng = np.random.default_rng(12)
    real = rng.normal(size=(200, 8))
    assert precision_recall(real, real) == (1.0, 1.0)
    assert precision_recall(real, rng.normal(size=(150, 8)) + 100.0) == (0.0, 0.0)


def test_precision_recall_by_hand():
    """Hand case, k=1: real 0, 1, 2, 3 (radii 1); fake 0.5, 1.5 (radii 1), 30, 40 (radii 10).

    Precision: 0.5 and 1.5 are within 1 of a real point, 30 and 40 are not -> 2/4.
    Recall: 0, 1, 2 are within 1 of 0.5 or 1.5; 3 is 1.5 from 1.5 and 27 from 30 -> 3/4.
    """
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [1.5], [30.0], [40.0]])
    assert precision_recall(real, fake, k=1) == (0.5, 0.75)


def test_precision_recall_missing_modes():
    """Fake samples from 2 of 4 well-separated real modes: precision ~1, recall ~0.5."""
    rng = np.random.default_rng(13)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    real = np.concatenate([c + rng.normal(size=(100, 2)) for c in centres])
    fake = np.concatenate([c + rng.normal(size=(100, 2)) for c in centres[:2]])
    precision, recall = precision_recall(real, fake)
    assert precision > 0.9
    assert 0.45 < recall <= 0.5


def test_precision_recall_matches_brute_force_and_blocks(monkeypatch):
    """Reference: float64 brute force (cdist); blocked computation (tiny blocks) gives the same."""
    rng = np.random.default_rng(14)
    real = rng.normal(size=(150, 5))
    fake = rng.normal(size=(120, 5)) * 1.3 + 0.4
    expected = _precision_recall_reference(real, fake, 3)
    got = precision_recall(real, fake, k=3)
    assert got == pytest.approx(expected, abs=1.5 / 120)  # float32 may flip a boundary point
    assert 0.3 < got[0] < 1.0 and 0.3 < got[1] < 1.0
    monkeypatch.setattr(distribution, "_BLOCK_ELEMENTS", 7 * 150)
    assert precision_recall(real, fake, k=3) == got


def test_precision_recall_exceptions():
    rng = np.random.default_rng(15)
    a = rng.normal(size=(10, 4))
    with pytest.raises(InvalidArgument, match="feature dimensions"):
        precision_recall(a, rng.normal(size=(10, 3)))
    with pytest.raises(InvalidArgument, match="k=3 needs at least 4"):
        precision_recall(a, a[:3])
    with pytest.raises(InvalidArgument, match="k must be"):
        precision_recall(a, a, k=0)
    bad = a.copy()
    bad[5, 1] = np.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        precision_recall(a, bad)
