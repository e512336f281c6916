"""Offline evaluation under a temporal split: train before a cut, test after it.

Reports ranking metrics at K, coverage and popularity bias per model, the same metrics
per slice (warm / cold users, new / established items, any user attribute) with the
best-worst gap, and keeps per-user arrays keyed by user id for the registry's bootstrap
gate. ``tune=True`` first picks cheap hyperparameters on a validation split carved from
the end of the training period, so no test event ever influences a choice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from kibble.errors import UsageError
from kibble.recsys import metrics as m
from kibble.recsys.base import RecContext, Recommender, create_model
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import Interactions, to_polars
from kibble.recsys.tuning import CHEAP_GRIDS, hybrid_grid

BASELINE = "popularity"
DEFAULT_MODELS = ("popularity", "als", "item_knn", "content", "hybrid")
COLD_USER_THRESHOLD = 5
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Split:
    train: Interactions
    test: Interactions
    cut: float

    @property
    def cut_date(self) -> datetime:
        return datetime.fromtimestamp(self.cut, UTC)


def temporal_split(
    interactions: Interactions,
    *,
    test_fraction: float = 0.2,
    cut: float | datetime | None = None,
) -> Split:
    """Events before ``cut`` train, the rest test; default cut: the (1 - fraction) quantile
    of event times. Both halves keep the same id mappings."""
    times = interactions.times
    if isinstance(cut, datetime):
        cut = (cut if cut.tzinfo else cut.replace(tzinfo=UTC)).timestamp()
    if cut is None:
        if not 0.0 < test_fraction < 1.0:
            raise UsageError(
                f"test fraction {test_fraction} is not between 0 and 1",
                hint="use e.g. --test-fraction 0.2",
            )
        cut = float(np.quantile(times, 1.0 - test_fraction)) if len(times) else 0.0
    before = times < cut
    if not before.any() or before.all():
        raise UsageError(
            "the temporal split leaves one side empty",
            hint="check the time column (are all timestamps equal?) or move the cut",
        )
    return Split(interactions.select(before), interactions.select(~before), float(cut))


@dataclass
class ModelReport:
    model: str
    params: dict[str, Any]
    metrics: dict[str, float]
    user_ids: list[str]
    per_user: dict[str, npt.NDArray[np.float64]]
    slices: dict[str, dict[str, dict[str, float]]]
    gaps: dict[str, float]
    fit_seconds: float
    tuned: list[dict[str, Any]] = field(default_factory=list)
    beats_baseline: bool | None = None

    def to_dict(self, *, per_user: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "params": self.params,
            "metrics": self.metrics,
            "slices": self.slices,
            "gaps": self.gaps,
            "fit_seconds": round(self.fit_seconds, 3),
            "tuned": self.tuned,
            "beats_baseline": self.beats_baseline,
        }
        if per_user:
            data["per_user"] = {
                name: dict(zip(self.user_ids, values.tolist(), strict=True))
                for name, values in self.per_user.items()
            }
        return data


@dataclass
class EvaluationReport:
    k: int
    cut: str
    n_train: int
    n_test: int
    n_users: int
    baseline: str
    models: list[ModelReport]

    def get(self, name: str) -> ModelReport:
        for report in self.models:
            if report.model == name:
                return report
        raise UsageError(f"model {name!r} was not evaluated", hint="add it with --models")

    def best(self, metric: str | None = None) -> ModelReport:
        key = metric or f"ndcg@{self.k}"
        return max(self.models, key=lambda r: r.metrics.get(key, float("-inf")))

    def verdicts(self) -> dict[str, str]:
        """Plain words per model: does it beat the baseline on NDCG@K?"""
        out = {}
        for report in self.models:
            if report.model == self.baseline:
                out[report.model] = "baseline"
            elif report.beats_baseline:
                out[report.model] = "beats the baseline"
            else:
                out[report.model] = "does NOT beat the baseline (a gate will refuse it)"
        return out

    def to_dict(self, *, per_user: bool = False) -> dict[str, Any]:
        verdicts = self.verdicts()
        return {
            "k": self.k,
            "cut": self.cut,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_users": self.n_users,
            "baseline": self.baseline,
            "best": self.best().model,
            "models": [
                {**r.to_dict(per_user=per_user), "verdict": verdicts[r.model]} for r in self.models
            ],
        }


def relevant_items(test: Interactions) -> tuple[npt.NDArray[np.int64], list[npt.NDArray[np.int64]]]:
    """Users with at least one positive test event, and their test items."""
    matrix = test.matrix
    users = np.flatnonzero(np.diff(matrix.indptr) > 0)
    items = [
        matrix.indices[matrix.indptr[u] : matrix.indptr[u + 1]].astype(np.int64) for u in users
    ]
    return users.astype(np.int64), items


def score_model(
    model: Recommender,
    split: Split,
    k: int,
    *,
    users: npt.NDArray[np.int64] | None = None,
    relevant: Sequence[npt.NDArray[np.int64]] | None = None,
) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.float64]], npt.NDArray[np.int64]]:
    """Recommendations and per-user metrics for the split's test users."""
    if users is None or relevant is None:
        users, relevant = relevant_items(split.test)
    ids = [split.train.user_ids[u] for u in users.tolist()]
    context = RecContext(when=split.cut_date.date())
    indices, _ = model.rank(ids, k, context=context)
    recommended = _to_split_items(model, split, indices)
    return users, m.per_user_metrics(recommended, relevant), recommended


def _to_split_items(
    model: Recommender, split: Split, indices: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Model item positions -> the split's item positions (models may add catalogue items)."""
    if model.item_ids[: len(split.train.item_ids)] == split.train.item_ids:
        out = indices.copy()
        out[out >= len(split.train.item_ids)] = -2  # a catalogue-only item: never relevant
        return out
    lookup = np.array([split.train.item_index(i) or -2 for i in model.item_ids] + [-1])
    return np.asarray(lookup[indices], dtype=np.int64)


def validation_ndcg(
    name: str,
    params: Mapping[str, Any],
    split: Split,
    items: ItemCatalog | None,
    k: int,
) -> float:
    model = create_model(name, **dict(params)).fit(split.train, items)
    _, per_user, _ = score_model(model, split, k)
    return float(per_user["ndcg"].mean()) if len(per_user["ndcg"]) else 0.0


def cheap_tune(
    name: str,
    train: Interactions,
    items: ItemCatalog | None,
    k: int,
    candidates: Sequence[Mapping[str, Any]],
    *,
    validation_fraction: float = 0.15,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Pick the candidate with the best NDCG@K on the last part of the training period."""
    if len(candidates) <= 1:
        return dict(candidates[0]) if candidates else {}, []
    try:
        inner = temporal_split(train, test_fraction=validation_fraction)
    except UsageError:
        return dict(candidates[0]), []
    trials: list[dict[str, Any]] = []
    scored: list[tuple[float, dict[str, Any]]] = []
    for params in candidates:
        score = validation_ndcg(name, params, inner, items, k)
        scored.append((score, dict(params)))
        trials.append({"params": dict(params), f"val_ndcg@{k}": round(score, 6)})
    best = max(range(len(scored)), key=lambda i: scored[i][0])
    return scored[best][1], trials


def choose_filter_seen(
    train: Interactions, items: ItemCatalog | None, k: int, validation_fraction: float
) -> bool:
    """Whether to hide items a user already interacted with.

    Shops see repeat purchases (food, treats); film ratings never repeat. Rather than
    guess per domain, ask the end of the training period: does hiding seen items help
    the popularity baseline there?
    """
    try:
        inner = temporal_split(train, test_fraction=validation_fraction)
    except UsageError:
        return False
    keep = validation_ndcg(BASELINE, {"filter_seen": False}, inner, items, k)
    hide = validation_ndcg(BASELINE, {"filter_seen": True}, inner, items, k)
    return hide > keep


def evaluate(
    interactions: Interactions,
    *,
    items: ItemCatalog | None = None,
    users: Any = None,
    user_col: str = "user_id",
    attribute_cols: Sequence[str] = (),
    models: Sequence[str] = DEFAULT_MODELS,
    k: int = 10,
    test_fraction: float = 0.2,
    cut: float | datetime | None = None,
    tune: bool = True,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    cold_threshold: int = COLD_USER_THRESHOLD,
    progress: Progress | None = None,
) -> EvaluationReport:
    """Evaluate a model suite on one temporal split; the baseline is always included."""
    say = progress or (lambda _msg: None)
    names = list(dict.fromkeys([BASELINE, *models]))
    split = temporal_split(interactions, test_fraction=test_fraction, cut=cut)
    test_users, relevant = relevant_items(split.test)
    if len(test_users) == 0:
        raise UsageError("no user has a test event after the cut", hint="move the cut earlier")
    # the validation window mirrors the test window's share of events
    held_out = len(split.test.rows) / max(1, len(interactions.rows))
    validation_fraction = float(np.clip(held_out / max(1e-9, 1.0 - held_out), 0.05, 0.5))
    train_counts = np.diff(split.train.matrix.indptr)[test_users]
    item_counts = np.diff(split.train.matrix.tocsc().indptr)
    user_slices = _user_slices(split, test_users, train_counts, cold_threshold)
    user_slices.update(_attribute_slices(split, test_users, users, user_col, attribute_cols))
    chosen: dict[str, dict[str, Any]] = {n: dict((params or {}).get(n, {})) for n in names}
    tuned: dict[str, list[dict[str, Any]]] = {}
    reports: list[ModelReport] = []
    percentile = m.popularity_percentile(item_counts.astype(np.float64))
    share = item_counts / max(1, int(item_counts.sum()))
    filter_seen = False
    if tune:
        say("checking whether users come back to the same items")
        filter_seen = choose_filter_seen(split.train, items, k, validation_fraction)
    for name in names:
        if tune and not (params or {}).get(name):
            say(f"tuning {name} on a validation split")
            # every model falls back to (and the hybrid blends in) the tuned popularity
            shared = {"filter_seen": filter_seen}
            if name != BASELINE:
                half_life = chosen[BASELINE].get("half_life_days", 14.0)
                shared["popularity_half_life_days"] = half_life
            grid = [{**c, **shared} for c in _grid(name, chosen, tuned)]
            chosen[name], tuned[name] = cheap_tune(
                name, split.train, items, k, grid, validation_fraction=validation_fraction
            )
        say(f"fitting {name}")
        started = time.perf_counter()
        model = create_model(name, **chosen[name]).fit(split.train, items)
        fit_seconds = time.perf_counter() - started
        say(f"scoring {name}")
        _, per_user, recommended = score_model(model, split, k, users=test_users, relevant=relevant)
        summary = {f"{key}@{k}": float(values.mean()) for key, values in per_user.items()}
        summary["coverage"] = m.coverage(recommended, len(split.train.item_ids))
        summary["popularity_bias"] = m.popularity_bias(recommended, percentile)
        summary["novelty"] = m.novelty(recommended, share)
        slices = {family: _slice_means(per_user, groups) for family, groups in user_slices.items()}
        slices["items"] = _item_slices(recommended, relevant, item_counts)
        reports.append(
            ModelReport(
                model=name,
                params=model.params,
                metrics={key: round(value, 6) for key, value in summary.items()},
                user_ids=[split.train.user_ids[u] for u in test_users.tolist()],
                per_user=per_user,
                slices=slices,
                gaps={
                    family: m.slice_gap({s: v["ndcg"] for s, v in groups.items()})
                    for family, groups in slices.items()
                },
                fit_seconds=fit_seconds,
                tuned=tuned.get(name, []),
            )
        )
    baseline_ndcg = reports[0].metrics[f"ndcg@{k}"]
    for report in reports[1:]:
        report.beats_baseline = report.metrics[f"ndcg@{k}"] > baseline_ndcg
    return EvaluationReport(
        k=k,
        cut=split.cut_date.isoformat(),
        n_train=len(split.train.rows),
        n_test=len(split.test.rows),
        n_users=len(test_users),
        baseline=BASELINE,
        models=reports,
    )


def _grid(
    name: str, chosen: dict[str, dict[str, Any]], tuned: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    if name != "hybrid":
        return [dict(c) for c in CHEAP_GRIDS.get(name, [{}])]
    scores = {
        cf: max(float(t[next(k for k in t if k.startswith("val_"))]) for t in tuned[cf])
        for cf in ("als", "item_knn")
        if tuned.get(cf)
    }
    cf = max(scores, key=lambda c: scores[c]) if scores else "item_knn"
    return hybrid_grid(cf, chosen.get(cf, {}))


def _user_slices(
    split: Split,
    test_users: npt.NDArray[np.int64],
    train_counts: npt.NDArray[np.int64],
    cold_threshold: int,
) -> dict[str, dict[str, npt.NDArray[np.bool_]]]:
    warm = train_counts >= cold_threshold
    return {"users": {"warm": warm, "cold": ~warm}}


def _attribute_slices(
    split: Split,
    test_users: npt.NDArray[np.int64],
    users: Any,
    user_col: str,
    attribute_cols: Sequence[str],
) -> dict[str, dict[str, npt.NDArray[np.bool_]]]:
    if users is None or not attribute_cols:
        return {}
    frame = to_polars(users)
    missing = [c for c in (user_col, *attribute_cols) if c not in frame.columns]
    if missing:
        raise UsageError(
            f"the users table has no column {missing[0]!r}",
            hint=f"choose from: {', '.join(frame.columns)}",
        )
    ids = pl.DataFrame({user_col: [split.train.user_ids[u] for u in test_users.tolist()]})
    joined = ids.join(
        frame.with_columns(pl.col(user_col).cast(pl.String)).unique(user_col),
        on=user_col,
        how="left",
        maintain_order="left",
    )
    out: dict[str, dict[str, npt.NDArray[np.bool_]]] = {}
    for column in attribute_cols:
        values = np.asarray(joined[column].cast(pl.String).fill_null("(unknown)").to_list())
        out[column] = {str(v): values == v for v in np.unique(values)}
    return out


def _slice_means(
    per_user: Mapping[str, npt.NDArray[np.float64]],
    groups: Mapping[str, npt.NDArray[np.bool_]],
) -> dict[str, dict[str, float]]:
    out = {}
    for label, mask in groups.items():
        if not mask.any():
            continue
        out[label] = {key: round(float(v[mask].mean()), 6) for key, v in per_user.items()}
        out[label]["users"] = int(mask.sum())
    return out


def _item_slices(
    recommended: npt.NDArray[np.int64],
    relevant: Sequence[npt.NDArray[np.int64]],
    item_counts: npt.NDArray[np.int64],
) -> dict[str, dict[str, float]]:
    """Metrics counting only new (unseen in training) or only established relevant items."""
    new = item_counts == 0
    out = {}
    for label, keep in (("new", new), ("established", ~new)):
        subset = [r[keep[r]] for r in relevant]
        users = np.array([len(s) > 0 for s in subset])
        if not users.any():
            continue
        chosen = [s for s, u in zip(subset, users, strict=True) if u]
        per_user = m.per_user_metrics(recommended[users], chosen)
        out[label] = {key: round(float(v.mean()), 6) for key, v in per_user.items()}
        out[label]["users"] = int(users.sum())
    return out
