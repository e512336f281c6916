"""Per-row metric values for tabular models, oriented so higher is better.

The gates bootstrap the paired per-row difference of candidate and reference, so each
metric is written as a per-row value whose mean is the metric: AUC through DeLong's
placement values (a positive's share of negatives scored below it, a negative's share
of positives scored above it: each mean equals the AUC, so the mean over all rows does
too); losses negated (``neg_log_loss``, ``neg_mse`` for RMSE, ``neg_ape`` for MAPE).
Pure.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from kibble.errors import UsageError

Rows = npt.NDArray[np.float64]
RowMetric = Callable[[Rows, Rows], Rows]
"""(labels, predictions) -> one value per row, higher is better."""

EPS = 1e-15


def auc_placements(y: Rows, score: Rows) -> Rows:
    positive = y > 0.5
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise UsageError("AUC needs both classes in the labels", hint="evaluate on more rows")
    ranks = rankdata(score)  # ties count half
    pos_ranks = rankdata(score[positive])
    neg_ranks = rankdata(score[~positive])
    out = np.empty_like(score, dtype=np.float64)
    out[positive] = (ranks[positive] - pos_ranks) / n_neg  # negatives below each positive
    out[~positive] = (n_pos - (ranks[~positive] - neg_ranks)) / n_pos  # positives above
    return out


def neg_log_loss(y: Rows, p: Rows) -> Rows:
    p = np.clip(p, EPS, 1 - EPS)
    return y * np.log(p) + (1 - y) * np.log(1 - p)


def neg_mse(y: Rows, pred: Rows) -> Rows:
    return -((y - pred) ** 2)


def neg_ape(y: Rows, pred: Rows) -> Rows:
    return -np.abs(y - pred) / np.maximum(np.abs(y), EPS)


METRICS: dict[str, tuple[RowMetric, bool]] = {
    "auc": (auc_placements, True),
    "log_loss": (neg_log_loss, True),
    "rmse": (neg_mse, False),
    "mape": (neg_ape, False),
}
"""Name -> (per-row metric, whether it scores probabilities rather than predictions)."""

DEFAULT = {"classifier": "auc", "regressor": "rmse"}


def resolve(name: str, task: str) -> tuple[str, RowMetric, bool]:
    """The metric a policy names; a recommender's default (ndcg) means the task's default."""
    chosen = name if name in METRICS else DEFAULT.get(task, "rmse") if name == "ndcg" else name
    if chosen not in METRICS:
        raise UsageError(
            f"unknown tabular metric {name!r}",
            hint=f"use one of {', '.join(METRICS)} or pass metric=a function (y, pred) -> rows",
        )
    fn, proba = METRICS[chosen]
    return chosen, fn, proba
