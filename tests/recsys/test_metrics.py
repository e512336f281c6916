"""Metric functions against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kibble.recsys import metrics as m

# user 0: relevant {1, 5}; list [1, 2, 5] -> hits at ranks 1 and 3
# user 1: relevant {9};    list [3, 4, -1] -> no hit (padding never counts)
# user 2: relevant {7};    list [8, 7, 6] -> hit at rank 2
RECOMMENDED = np.array([[1, 2, 5], [3, 4, -1], [8, 7, 6]], dtype=np.int64)
RELEVANT = [np.array([1, 5]), np.array([9]), np.array([7])]


def test_precision_recall_hit_rate() -> None:
    assert m.precision_at_k(RECOMMENDED, RELEVANT).tolist() == pytest.approx([2 / 3, 0, 1 / 3])
    assert m.recall_at_k(RECOMMENDED, RELEVANT).tolist() == pytest.approx([1.0, 0.0, 1.0])
    assert m.hit_rate_at_k(RECOMMENDED, RELEVANT).tolist() == [1.0, 0.0, 1.0]


def test_ndcg() -> None:
    dcg0 = 1 / math.log2(2) + 1 / math.log2(4)
    idcg0 = 1 / math.log2(2) + 1 / math.log2(3)
    expected = [dcg0 / idcg0, 0.0, (1 / math.log2(3)) / 1.0]
    assert m.ndcg_at_k(RECOMMENDED, RELEVANT).tolist() == pytest.approx(expected)


def test_map() -> None:
    # user 0: precisions at hits 1/1 and 2/3 over min(2, 3) = 2
    expected = [(1 + 2 / 3) / 2, 0.0, (1 / 2) / 1]
    assert m.map_at_k(RECOMMENDED, RELEVANT).tolist() == pytest.approx(expected)


def test_user_with_nothing_relevant_scores_zero_not_nan() -> None:
    values = m.per_user_metrics(np.array([[1, 2]]), [np.array([], dtype=np.int64)])
    assert all(v.tolist() == [0.0] for v in values.values())


def test_coverage_popularity_bias_novelty_and_gap() -> None:
    assert m.coverage(RECOMMENDED, 20) == pytest.approx(8 / 20)
    percentile = m.popularity_percentile(np.array([0.0, 10.0, 5.0]))
    assert percentile.tolist() == [0.0, 1.0, 0.5]
    assert m.popularity_bias(np.array([[1, 2, -1]]), percentile) == pytest.approx(0.75)
    share = np.array([0.5, 0.25, 0.25])
    assert m.novelty(np.array([[0, 1]]), share) == pytest.approx((1 + 2) / 2)
    assert m.slice_gap({"warm": 0.3, "cold": 0.1, "x": float("nan")}) == pytest.approx(0.2)


def test_bootstrap_interval_covers_a_known_difference() -> None:
    """Paired per-user differences with a true mean of 0.05: the 95% interval holds it
    (and excludes 0), and resampling with one seed is repeatable."""
    rng = np.random.default_rng(3)
    baseline = rng.uniform(0, 1, 2000)
    candidate = np.clip(baseline + 0.05 + rng.normal(0, 0.2, 2000), -1, 2)
    delta = candidate - baseline
    low, high = m.bootstrap_interval(delta, resamples=500, seed=1)
    truth = float(delta.mean())
    assert low < truth < high and low > 0
    assert abs(truth - 0.05) < high - low
    assert m.bootstrap_interval(delta, resamples=500, seed=1) == (low, high)
    wide = m.bootstrap_interval(delta[:50], resamples=500, seed=1)
    assert wide[1] - wide[0] > high - low  # fewer users: a wider interval
