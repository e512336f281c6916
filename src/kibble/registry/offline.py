"""The gate's offline evidence: candidate, baseline and champion scored on the same
held-out users of a lake table, per user, so the registry's paired bootstrap compares like
with like.

The holdout is what the candidate never saw: events at or after the time its training
data ended (``trained_until`` recorded at registration), else the table's last day.
Users with history before that cut are ``warm``, the rest ``cold``: the gate judges each
slice on its own, so a model cannot buy a headline lift by failing new customers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from kibble.errors import UsageError
from kibble.recsys.base import Recommender, create_model
from kibble.recsys.evaluation import score_model
from kibble.recsys.interactions import Interactions
from kibble.recsys.split import Split, relevant_items, temporal_split

DEFAULT_K = 10
METRICS = ("ndcg", "recall", "precision", "map", "hit_rate")


def parse_metric(name: str) -> tuple[str, int]:
    """``ndcg@10`` -> ("ndcg", 10); a bare name uses k=10."""
    metric, _, k = name.partition("@")
    if metric not in METRICS or (k and not k.isdigit()):
        raise UsageError(
            f"the gate metric {name!r} cannot be computed offline",
            hint=f"use one of {', '.join(METRICS)}, optionally @K (e.g. ndcg@10)",
        )
    return metric, int(k) if k else DEFAULT_K


@dataclass
class OfflineEvidence:
    """Per-user values of the gate metric for each model, plus what the sanity gates need."""

    metric: str
    k: int
    cut: datetime
    candidate: dict[str, float]
    baseline: dict[str, float]
    champion: dict[str, float] | None
    slices: dict[str, str]
    recommendations: dict[str, list[str]]
    reference_coverage: int
    protocol: dict[str, Any] = field(default_factory=dict)


def _per_user(
    model: Recommender,
    split: Split,
    metric: str,
    k: int,
    users: npt.NDArray[np.int64],
    relevant: list[npt.NDArray[np.int64]],
) -> tuple[dict[str, float], dict[str, list[str]]]:
    users_out, values, recommended = score_model(model, split, k, users=users, relevant=relevant)
    ids = [split.train.user_ids[u] for u in users_out.tolist()]
    lists = {
        user: [split.train.item_ids[i] for i in row.tolist() if 0 <= i < len(split.train.item_ids)]
        for user, row in zip(ids, recommended, strict=True)
    }
    return {u: float(v) for u, v in zip(ids, values[metric], strict=True)}, lists


Scored = tuple[dict[str, float], dict[str, list[str]]]
Reference = Recommender | Callable[[], Recommender]
"""A reference model (baseline, champion), or how to load it when it must be scored."""
_REFERENCES: OrderedDict[tuple[Any, ...], Scored] = OrderedDict()
"""Reference models' per-user results by (key, holdout): a daily run gating several
candidates against the same champion and baseline scores those two once, not once each."""
_REFERENCES_KEPT = 8


def _reference(
    model: Reference,
    key: str | None,
    split: Split,
    holdout: tuple[Any, ...],
    users: npt.NDArray[np.int64],
    relevant: list[npt.NDArray[np.int64]],
) -> Scored:
    memo = None if key is None else (key, *holdout)
    if memo is not None and memo in _REFERENCES:
        _REFERENCES.move_to_end(memo)
        return _REFERENCES[memo]
    loaded = model if isinstance(model, Recommender) else model()
    scored = _per_user(loaded, split, holdout[0], holdout[1], users, relevant)
    if memo is not None:
        _REFERENCES[memo] = scored
        while len(_REFERENCES) > _REFERENCES_KEPT:
            _REFERENCES.popitem(last=False)
    return scored


def evidence(
    candidate: Recommender,
    frame: pl.DataFrame,
    *,
    metric_name: str,
    champion: Reference | None = None,
    baseline: Reference | None = None,
    cut: datetime | None = None,
    interaction_options: Mapping[str, Any] | None = None,
    max_users: int = 5000,
    seed: int = 0,
    reference_keys: Mapping[str, str] | None = None,
) -> OfflineEvidence:
    """Score the models on the holdout of ``frame`` (an events table).

    Without a registered baseline, a popularity model is fitted on the events before the
    cut: the bar every personalised model must clear. ``reference_keys`` name the
    champion's and baseline's artifact and ``frame``'s table version ("champion",
    "baseline"): with them, their scores on this holdout are computed once per process."""
    metric, k = parse_metric(metric_name)
    events = Interactions.from_events(frame, **dict(interaction_options or {}))
    times = events.times
    if len(times) == 0:
        raise UsageError("the evaluation table has no events", hint="ingest events first")
    if cut is None:
        last = float(times.max())
        cut_ts = last - 86400.0
    else:
        cut_ts = cut.timestamp()
    split = temporal_split(events, cut=cut_ts)
    baseline_kind = "registered baseline" if baseline is not None else "popularity"
    if baseline is None:
        baseline = create_model("popularity").fit(split.train)
    users, relevant = relevant_items(split.test)
    if len(users) > max_users:  # every model is scored on the same sample
        keep = np.sort(np.random.default_rng(seed).choice(len(users), max_users, replace=False))
        users, relevant = users[keep], [relevant[i] for i in keep.tolist()]
    seen_before = np.diff(split.train.matrix.indptr) > 0
    slices = {
        split.train.user_ids[u]: ("warm" if seen_before[u] else "cold") for u in users.tolist()
    }
    keys = dict(reference_keys or {})
    holdout = (metric, k, split.cut_date.isoformat(), max_users, seed, repr(interaction_options))
    cand, lists = _per_user(candidate, split, metric, k, users, relevant)
    base, base_lists = _reference(
        baseline, keys.get("baseline") if baseline_kind != "popularity" else None,
        split, holdout, users, relevant,
    )  # fmt: skip
    champ = None
    ref_lists = base_lists
    if champion is not None:
        champ, ref_lists = _reference(
            champion, keys.get("champion"), split, holdout, users, relevant
        )
    keep_ids = set(slices)
    reference_coverage = len({i for u, v in ref_lists.items() if u in keep_ids for i in v})
    return OfflineEvidence(
        metric=metric_name,
        k=k,
        cut=split.cut_date,
        candidate={u: v for u, v in cand.items() if u in keep_ids},
        baseline={u: v for u, v in base.items() if u in keep_ids},
        champion=None if champ is None else {u: v for u, v in champ.items() if u in keep_ids},
        slices=slices,
        recommendations={u: v for u, v in lists.items() if u in keep_ids},
        reference_coverage=reference_coverage,
        protocol={
            "split": "temporal",
            "cut": split.cut_date.isoformat(),
            "users": len(keep_ids),
            "warm_users": sum(1 for s in slices.values() if s == "warm"),
            "metric": f"{metric}@{k}",
            "baseline": baseline_kind,
        },
    )
