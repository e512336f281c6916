"""Turning summed event weights into training confidences (shared by the CF models)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight

from kibble.errors import UsageError
from kibble.recsys.interactions import Interactions, decay

WEIGHTINGS = ("log", "linear", "bm25")
MIN_RECENCY = 1e-3  # an old event still says "seen" (an underflow would forget it)


def confidence(matrix: sp.csr_matrix, weighting: str, alpha: float) -> sp.csr_matrix:
    """``log``: alpha*log1p(w) tames heavy users and repeat views; ``bm25``: also damps
    popular items; ``linear``: alpha*w as given."""
    if weighting not in WEIGHTINGS:
        raise UsageError(
            f"unknown weighting {weighting!r}", hint=f"choose one of: {', '.join(WEIGHTINGS)}"
        )
    out = matrix.astype(np.float32, copy=True)
    if weighting == "log":
        out.data = np.log1p(out.data)
    elif weighting == "bm25":
        out = sp.csr_matrix(bm25_weight(out, K1=1.2, B=0.75), dtype=np.float32)
    out.data *= np.float32(alpha)
    return out


def recent(interactions: Interactions, half_life_days: float) -> sp.csr_matrix:
    """The interaction matrix with every event halved each ``half_life_days`` before the
    training period's end, so what a user did lately counts most (0: no decay).

    Same sparsity as ``interactions.matrix``: decay is floored, never drops an event."""
    if not half_life_days or len(interactions.rows) == 0:
        return interactions.matrix
    weights = decay(
        interactions.weights,
        interactions.times,
        interactions.reference_time,
        interactions.half_life_days,
    )
    age_days = np.maximum(interactions.reference_time - interactions.times, 0.0) / 86_400.0
    factor = np.maximum(np.exp2(-age_days / float(half_life_days)), MIN_RECENCY)
    values = (weights * factor).astype(np.float32)
    keep = weights > 0
    matrix = sp.csr_matrix(
        (values[keep], (interactions.rows[keep], interactions.cols[keep])),
        shape=interactions.shape,
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    return matrix


def top_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep each row's ``k`` largest entries (neighbour lists of a fixed length)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sum_duplicates()
    counts = np.diff(matrix.indptr)
    if k <= 0 or counts.max(initial=0) <= k:
        return matrix
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    # largest first, then (a stable integer sort, much faster than a lexsort) by row
    order = np.argsort(-matrix.data, kind="stable")
    order = order[np.argsort(rows[order], kind="stable")]
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    keep = order[rank < k]
    return sp.csr_matrix(
        (matrix.data[keep], (rows[keep], matrix.indices[keep])),
        shape=matrix.shape,
        dtype=np.float32,
    )
