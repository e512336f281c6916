"""Fitting the hybrid's blend weights: pure numpy, no models, no I/O.

Input is, per validation user, a pool of candidate items with one standardised score
per member (trending popularity, CF, sequence, content) and whether the user touched
the item in the validation period. Coordinate ascent over a fixed grid maximises
NDCG@K directly: deterministic, a handful of weights, nothing to overfit with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

GRID = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
ROUNDS = 3

Floats = npt.NDArray[np.float32]
Bools = npt.NDArray[np.bool_]


def blend_ndcg(
    features: Floats,
    valid: Bools,
    hits: Bools,
    n_relevant: npt.NDArray[np.int64],
    k: int,
    weights: npt.NDArray[np.float64],
) -> float:
    """Mean NDCG@K of the lists the weighted sum of ``features`` ranks from each pool."""
    if len(features) == 0:
        return 0.0
    scores = features @ weights.astype(np.float32)
    scores[~valid] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    gain = np.take_along_axis(hits & valid, top, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (gain * discounts).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_relevant, k)]
    return float(np.divide(dcg, ideal, out=np.zeros(len(dcg)), where=ideal > 0).mean())


def fit_weights(
    features: Floats,
    valid: Bools,
    hits: Bools,
    n_relevant: npt.NDArray[np.int64],
    k: int,
    grid: Sequence[float] = GRID,
    rounds: int = ROUNDS,
) -> tuple[npt.NDArray[np.float64], float]:
    """Weights (one per member, the last axis of ``features``) and their validation NDCG.

    Starts from the best single member, then tries each grid value for each weight in
    turn, keeping a change only when it strictly helps."""
    n_members = features.shape[-1]

    def score(w: npt.NDArray[np.float64]) -> float:
        return blend_ndcg(features, valid, hits, n_relevant, k, w)

    singles = [np.eye(n_members)[m] for m in range(n_members)]
    values = [score(w) for w in singles]
    best_w = singles[int(np.argmax(values))].copy()
    best = max(values)
    for _ in range(rounds):
        improved = False
        for member in range(n_members):
            for value in grid:
                trial = best_w.copy()
                trial[member] = value
                if not trial.any():
                    continue
                result = score(trial)
                if result > best + 1e-9:
                    best, best_w, improved = result, trial, True
        if not improved:
            break
    return best_w, best
