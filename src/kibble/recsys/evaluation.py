"""Offline evaluation under a global temporal split: train before a cut, test after it.

The headline is measured on warm users (those with history before the cut), because
cold users are served by the fallback and would otherwise dominate the figure; cold
users are reported beside them (``population`` picks warm, cold or all). Every ranking
metric carries a bootstrap 95% interval over users, and every model its paired interval
for the difference from the popularity baseline; a model beats the baseline only when
that whole interval is above zero (what the registry gate requires). The report states
its protocol: split, cut, who counts, what is filtered.

Per-user arrays, keyed by user id and labelled warm / cold, are kept for the registry's
gate. ``tune=True`` first picks cheap hyperparameters on a validation split carved from
the end of the training period, so no test event ever influences a choice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from kibble.errors import UsageError
from kibble.recsys import metrics as m
from kibble.recsys.base import RecContext, Recommender, create_model
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import Interactions, to_polars
from kibble.recsys.split import Split, relevant_items, temporal_split
from kibble.recsys.tuning import CF_MODELS, CHEAP_GRIDS, hybrid_grid

BASELINE = "popularity"
DEFAULT_MODELS = ("popularity", "als", "item_knn", "sequence", "rp3beta", "content", "hybrid")
COLD_USER_THRESHOLD = 1  # warm: at least this many training events before the cut
POPULATIONS = ("warm", "cold", "all")
Progress = Callable[[str], None]


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
    intervals: dict[str, list[float]] = field(default_factory=dict)
    vs_baseline: dict[str, dict[str, float]] = field(default_factory=dict)
    beats_baseline: bool | None = None
    learned: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, per_user: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "params": self.params,
            "metrics": self.metrics,
            "intervals": self.intervals,
            "vs_baseline": self.vs_baseline,
            "slices": self.slices,
            "gaps": self.gaps,
            "fit_seconds": round(self.fit_seconds, 3),
            "tuned": self.tuned,
            "learned": self.learned,
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
    population: str = "warm"
    user_segments: list[str] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> ModelReport:
        for report in self.models:
            if report.model == name:
                return report
        raise UsageError(f"model {name!r} was not evaluated", hint="add it with --models")

    def best(self, metric: str | None = None) -> ModelReport:
        key = metric or f"ndcg@{self.k}"
        return max(self.models, key=lambda r: r.metrics.get(key, float("-inf")))

    def segments(self) -> dict[str, str]:
        """user id -> ``warm`` / ``cold``: the slices the registry gate compares."""
        ids = self.models[0].user_ids if self.models else []
        return dict(zip(ids, self.user_segments, strict=True))

    def verdicts(self) -> dict[str, str]:
        """Plain words per model: is its NDCG@K lift's interval above zero?"""
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
        data = {
            "k": self.k,
            "cut": self.cut,
            "population": self.population,
            "protocol": self.protocol,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_users": self.n_users,
            "baseline": self.baseline,
            "best": self.best().model,
            "models": [
                {**r.to_dict(per_user=per_user), "verdict": verdicts[r.model]} for r in self.models
            ],
        }
        if per_user:
            data["user_segments"] = self.segments()
        return data


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
    """NDCG@K of a fresh fit on the split's warm users (tuning's objective)."""
    return warm_ndcg(create_model(name, **dict(params)).fit(split.train, items), split, k)


def warm_ndcg(model: Recommender, split: Split, k: int) -> float:
    """NDCG@K on the split's warm users (all of them when none is warm): the headline."""
    users, per_user, _ = score_model(model, split, k)
    warm = np.diff(split.train.matrix.indptr)[users] >= COLD_USER_THRESHOLD
    values = per_user["ndcg"][warm] if warm.any() else per_user["ndcg"]
    return float(values.mean()) if len(values) else 0.0


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
    population: str = "warm",
    cold_threshold: int = COLD_USER_THRESHOLD,
    resamples: int = m.BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    progress: Progress | None = None,
) -> EvaluationReport:
    """Evaluate a model suite on one temporal split; the baseline is always included.

    ``population`` (warm, cold or all) is who the headline metrics, intervals and
    verdicts are measured on; the per-user arrays keep every test user, labelled."""
    if population not in POPULATIONS:
        raise UsageError(
            f"unknown user population {population!r}", hint="use --users warm, cold or all"
        )
    say = progress or (lambda _msg: None)
    names = list(dict.fromkeys([BASELINE, *models]))
    split = temporal_split(interactions, test_fraction=test_fraction, cut=cut)
    test_users, relevant = relevant_items(split.test)
    if len(test_users) == 0:
        raise UsageError("no user has a test event after the cut", hint="move the cut earlier")
    train_counts = np.diff(split.train.matrix.indptr)[test_users]
    warm = train_counts >= cold_threshold
    counted = {"warm": warm, "cold": ~warm, "all": np.ones(len(warm), bool)}[population]
    if not counted.any():
        raise UsageError(
            f"no {population} user has a test event after the cut",
            hint="choose another population with --users, or move the cut",
        )
    # the validation window mirrors the asked-for test share (never the test events)
    validation_fraction = float(np.clip(test_fraction / (1.0 - test_fraction), 0.05, 0.5))
    item_counts = np.diff(split.train.matrix.tocsc().indptr)
    user_slices = {"users": {"warm": warm, "cold": ~warm}}
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
        summary = {f"{key}@{k}": float(values[counted].mean()) for key, values in per_user.items()}
        shown = recommended[counted]
        summary["coverage"] = m.coverage(shown, len(split.train.item_ids))
        summary["popularity_bias"] = m.popularity_bias(shown, percentile)
        summary["novelty"] = m.novelty(shown, share)
        slices = {family: _slice_means(per_user, groups) for family, groups in user_slices.items()}
        slices["items"] = _item_slices(recommended, relevant, item_counts)
        intervals = {
            f"{key}@{k}": _rounded(
                m.bootstrap_interval(values[counted], resamples=resamples, seed=seed)
            )
            for key, values in per_user.items()
        }
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
                intervals=intervals,
                learned=_learned(model),
            )
        )
    _compare_with_baseline(reports, counted, k, resamples, seed)
    protocol = _protocol(
        split,
        k,
        population,
        cold_threshold,
        warm,
        test_fraction,
        cut,
        filter_seen,
        tune,
        validation_fraction,
        resamples,
    )
    return EvaluationReport(
        k=k,
        cut=split.cut_date.isoformat(),
        n_train=len(split.train.rows),
        n_test=len(split.test.rows),
        n_users=int(counted.sum()),
        baseline=BASELINE,
        models=reports,
        population=population,
        user_segments=np.where(warm, "warm", "cold").tolist(),
        protocol=protocol,
    )


def _learned(model: Recommender) -> dict[str, Any]:
    """What a model chose on its own validation period (the blend: its weights)."""
    learned = dict(getattr(model, "validation", {}) or {})
    weights = getattr(model, "weights", None)
    if isinstance(weights, dict):
        learned["weights"] = dict(weights)
    return learned


def _rounded(pair: tuple[float, float]) -> list[float]:
    return [round(pair[0], 6), round(pair[1], 6)]


def _compare_with_baseline(
    reports: list[ModelReport], counted: npt.NDArray[np.bool_], k: int, resamples: int, seed: int
) -> None:
    """Paired bootstrap of each model's per-user difference from the baseline."""
    base = reports[0]
    for report in reports[1:]:
        for key, values in report.per_user.items():
            delta = values[counted] - base.per_user[key][counted]
            low, high = m.bootstrap_interval(delta, resamples=resamples, seed=seed)
            report.vs_baseline[f"{key}@{k}"] = {
                "difference": round(float(delta.mean()), 6),
                "low": round(low, 6),
                "high": round(high, 6),
            }
        report.beats_baseline = report.vs_baseline[f"ndcg@{k}"]["low"] > 0.0


def _protocol(
    split: Split,
    k: int,
    population: str,
    cold_threshold: int,
    warm: npt.NDArray[np.bool_],
    test_fraction: float,
    cut: float | datetime | None,
    filter_seen: bool,
    tune: bool,
    validation_fraction: float,
    resamples: int,
) -> dict[str, Any]:
    """The evaluation's protocol in words and numbers, stored with every report."""
    how = (
        f"at {split.cut_date.isoformat()}"
        if cut is not None
        else (
            f"at the {1 - test_fraction:.0%} quantile of event times ({split.cut_date.isoformat()})"
        )
    )
    return {
        "split": f"global temporal: train on events before the cut, test on the rest; cut {how}",
        "train_events": len(split.train.rows),
        "test_events": len(split.test.rows),
        "who_counts": (
            "users with a positive event after the cut; "
            f"warm = at least {cold_threshold} training event(s) before it "
            f"({int(warm.sum())} warm, {int((~warm).sum())} cold); headline on {population} users"
        ),
        "relevant": "every item a user had a positive event with after the cut",
        "filtered": (
            "items bought before the cut, out-of-stock and out-of-season items (at the cut "
            "date)" + (", and every item the user already interacted with" if filter_seen else "")
        ),
        "tuning": (
            f"cheap grids scored on the last {validation_fraction:.0%} of the training period"
            if tune
            else "none (given or default parameters)"
        ),
        "intervals": (
            f"95% percentile bootstrap over users ({resamples} resamples); differences from "
            "the baseline paired user by user; a model beats the baseline when the NDCG "
            f"difference's interval is above 0; list length K={k}"
        ),
    }


def _grid(
    name: str, chosen: dict[str, dict[str, Any]], tuned: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    if name != "hybrid":
        return [dict(c) for c in CHEAP_GRIDS.get(name, [{}])]
    scores = {
        cf: max(float(t[next(k for k in t if k.startswith("val_"))]) for t in tuned[cf])
        for cf in CF_MODELS
        if tuned.get(cf)
    }
    cf = max(scores, key=lambda c: scores[c]) if scores else "item_knn"
    return hybrid_grid(cf, _own(chosen.get(cf, {})), _own(chosen.get("sequence", {})))


def _own(params: Mapping[str, Any]) -> dict[str, Any]:
    """A model's own tuned parameters, without the shared ones the hybrid sets itself."""
    shared = {"filter_seen", "filter_excluded", "popularity_half_life_days"}
    return {key: value for key, value in params.items() if key not in shared}


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
