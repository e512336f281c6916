"""Offline ranking metrics as pure functions (no I/O), one value per user.

``recommended`` is an (n_users x k) array of item positions, best first, padded with -1;
``relevant`` is one array of item positions per user (what they interacted with in the
test period). Per-user arrays are returned so callers can average, slice or bootstrap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntMatrix = npt.NDArray[np.int64]
Relevant = Sequence[npt.NDArray[np.int64]]

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")


def _f64(values: object) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def hits(recommended: IntMatrix, relevant: Relevant) -> npt.NDArray[np.bool_]:
    """Which recommended cells are relevant (padding never is). One sorted lookup of
    (row, item) keys for all users: a gate scores thousands of users per model."""
    rows = len(relevant)
    sizes = np.fromiter((len(items) for items in relevant), dtype=np.int64, count=rows)
    if not rows or not sizes.sum():
        return np.zeros(recommended.shape, dtype=bool)
    flat = np.concatenate([np.asarray(items, dtype=np.int64) for items in relevant])
    width = int(max(flat.max(initial=0), recommended.max(initial=0))) + 1
    wanted = np.repeat(np.arange(rows, dtype=np.int64), sizes) * width + flat
    keys = np.arange(rows, dtype=np.int64)[:, None] * width + recommended
    return np.isin(keys, wanted) & (recommended >= 0)


def _n_relevant(relevant: Relevant) -> FloatArray:
    return np.array([len(np.unique(items)) for items in relevant], dtype=np.float64)


Hits = npt.NDArray[np.bool_]


def _precision(h: Hits) -> FloatArray:
    return _f64(h.sum(axis=1) / max(h.shape[1], 1))


def _recall(h: Hits, n: FloatArray) -> FloatArray:
    return _f64(np.divide(h.sum(axis=1), n, out=np.zeros(len(n)), where=n > 0))


def _ndcg(h: Hits, n: FloatArray) -> FloatArray:
    k = h.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (h * discounts).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n, k).astype(np.int64)]
    return _f64(np.divide(dcg, ideal, out=np.zeros(len(dcg)), where=ideal > 0))


def _map(h: Hits, n: FloatArray) -> FloatArray:
    k = h.shape[1]
    precision_at_rank = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    denominator = np.minimum(n, k)
    total = (precision_at_rank * h).sum(axis=1)
    return _f64(np.divide(total, denominator, out=np.zeros(len(total)), where=denominator > 0))


def precision_at_k(recommended: IntMatrix, relevant: Relevant) -> FloatArray:
    return _precision(hits(recommended, relevant))


def recall_at_k(recommended: IntMatrix, relevant: Relevant) -> FloatArray:
    return _recall(hits(recommended, relevant), _n_relevant(relevant))


def ndcg_at_k(recommended: IntMatrix, relevant: Relevant) -> FloatArray:
    """Binary-gain NDCG: DCG of the hits over the DCG of a perfect list."""
    return _ndcg(hits(recommended, relevant), _n_relevant(relevant))


def map_at_k(recommended: IntMatrix, relevant: Relevant) -> FloatArray:
    """Average precision at each hit, over min(#relevant, k)."""
    return _map(hits(recommended, relevant), _n_relevant(relevant))


def hit_rate_at_k(recommended: IntMatrix, relevant: Relevant) -> FloatArray:
    return _f64(hits(recommended, relevant).any(axis=1))


def per_user_metrics(recommended: IntMatrix, relevant: Relevant) -> dict[str, FloatArray]:
    h, n = hits(recommended, relevant), _n_relevant(relevant)  # once for all five
    return {
        "precision": _precision(h),
        "recall": _recall(h, n),
        "ndcg": _ndcg(h, n),
        "map": _map(h, n),
        "hit_rate": _f64(h.any(axis=1)),
    }


def coverage(recommended: IntMatrix, n_items: int) -> float:
    """Share of the catalogue that appears in anyone's list."""
    shown = np.unique(recommended[recommended >= 0])
    return float(len(shown) / n_items) if n_items else 0.0


def popularity_percentile(popularity: npt.NDArray[np.floating]) -> FloatArray:
    """Each item's popularity percentile in [0, 1] (1 = the most popular)."""
    if len(popularity) <= 1:
        return np.ones(len(popularity))
    ranks = np.argsort(np.argsort(popularity, kind="stable"), kind="stable")
    return np.asarray(ranks / (len(popularity) - 1), dtype=np.float64)


def popularity_bias(recommended: IntMatrix, percentile: FloatArray) -> float:
    """Mean popularity percentile of what was recommended (high: plays it safe)."""
    shown = recommended[recommended >= 0]
    return float(percentile[shown].mean()) if len(shown) else 0.0


def novelty(recommended: IntMatrix, item_share: FloatArray) -> float:
    """Mean self-information -log2(p) of recommended items (high: less obvious items)."""
    shown = recommended[recommended >= 0]
    if not len(shown):
        return 0.0
    p = np.clip(item_share[shown], 1e-12, 1.0)
    return float(-np.log2(p).mean())


def slice_gap(values: Mapping[str, float]) -> float:
    """Best minus worst slice: the fairness gap a gate can bound."""
    finite = [v for v in values.values() if np.isfinite(v)]
    return float(max(finite) - min(finite)) if finite else 0.0


BOOTSTRAP_RESAMPLES = 1000
_BOOTSTRAP_BLOCK = 100  # resamples drawn at once (bounded memory on many users)


def bootstrap_means(values: FloatArray, resamples: int, seed: int) -> FloatArray:
    """Means of ``resamples`` resamples of users (with replacement).

    The same ``seed`` draws the same users for every array of the same length, so two
    models' per-user arrays resampled with one seed are paired user by user."""
    n = len(values)
    if n == 0:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, resamples, _BOOTSTRAP_BLOCK):
        size = min(_BOOTSTRAP_BLOCK, resamples - start)
        picks = rng.integers(0, n, (size, n))
        out.append(values[picks].mean(axis=1))
    return _f64(np.concatenate(out))


def bootstrap_interval(
    values: FloatArray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of the mean over users; for a paired difference pass
    ``candidate - baseline`` per user."""
    means = bootstrap_means(_f64(values), resamples, seed)
    if len(means) == 0:
        return (float("nan"), float("nan"))
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)
