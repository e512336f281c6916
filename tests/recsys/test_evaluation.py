"""Temporal split, slices, per-user arrays, the baseline verdict, and the recorded run."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

from kibble.context import Context
from kibble.errors import UsageError
from kibble.recsys import Interactions, ItemCatalog
from kibble.recsys.evaluation import choose_filter_seen, evaluate
from kibble.recsys.runs import per_user_from_blob, record_evaluation, segments_from_blob
from kibble.recsys.split import temporal_split
from kibble.recsys.synthetic import generate
from kibble.store.models import Run
from tests.recsys.conftest import Shop


def test_temporal_split_by_quantile_and_by_time(shop: Shop) -> None:
    inter = shop.interactions
    split = temporal_split(inter, test_fraction=0.25)
    assert split.train.times.max() < split.cut <= split.test.times.min()
    assert len(split.train.rows) + len(split.test.rows) == len(inter.rows)
    assert len(split.test.rows) / len(inter.rows) == pytest.approx(0.25, abs=0.01)
    cut = datetime(2026, 3, 1, tzinfo=UTC)
    by_time = temporal_split(inter, cut=cut)
    assert by_time.cut == cut.timestamp()
    assert (by_time.test.times >= cut.timestamp()).all()
    with pytest.raises(UsageError, match="one side empty"):
        temporal_split(inter, cut=datetime(2000, 1, 1, tzinfo=UTC))


def test_constant_time_column_is_refused() -> None:
    inter = Interactions.from_arrays(
        ["a", "b"], ["x"], np.array([0, 1]), np.array([0, 0]), np.ones(2, np.float32)
    )
    with pytest.raises(UsageError, match="all timestamps equal"):
        temporal_split(inter)


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    data = generate(400, 200, 15_000, seed=11)
    late = data.events.filter(pl.col("timestamp") > datetime(2026, 3, 25, tzinfo=UTC)).head(60)
    newcomers = late.with_columns(pl.format("new{}", pl.int_range(pl.len()) % 20).alias("user_id"))
    events = pl.concat([data.events, newcomers])  # 20 users first seen after the cut: cold
    inter = Interactions.from_events(events, event_col="event")
    return evaluate(
        inter,
        items=ItemCatalog.from_table(data.items),
        users=data.users,
        attribute_cols=["segment"],
        k=10,
    )


def test_cf_beats_popularity_and_verdicts_say_so(report) -> None:  # type: ignore[no-untyped-def]
    baseline = report.get("popularity").metrics["ndcg@10"]
    best = report.best()
    assert best.model in {"als", "item_knn", "hybrid"}
    assert best.metrics["ndcg@10"] > baseline
    verdicts = report.verdicts()
    assert verdicts["popularity"] == "baseline"
    for model in report.models[1:]:
        lift = model.vs_baseline["ndcg@10"]
        assert lift["low"] <= lift["difference"] <= lift["high"]
        assert lift["difference"] == pytest.approx(model.metrics["ndcg@10"] - baseline, abs=1e-5)
        beats = lift["low"] > 0
        assert model.beats_baseline is beats
        assert ("NOT" in verdicts[model.model]) is (not beats)
    assert report.get(best.model).beats_baseline


def test_metrics_slices_and_per_user_arrays(report) -> None:  # type: ignore[no-untyped-def]
    als = report.get("als")
    for key in (
        "precision@10",
        "recall@10",
        "ndcg@10",
        "map@10",
        "hit_rate@10",
        "coverage",
        "popularity_bias",
        "novelty",
    ):
        assert key in als.metrics
    assert 0 < als.metrics["coverage"] <= 1
    # popularity recommends the head of the catalogue: highest popularity bias
    assert report.get("popularity").metrics["popularity_bias"] >= als.metrics["popularity_bias"]
    # the headline counts warm users; per-user arrays keep everyone, labelled
    segments = report.segments()
    warm = np.array([segments[u] == "warm" for u in als.user_ids])
    assert report.population == "warm" and warm.sum() == report.n_users
    assert len(als.user_ids) == len(als.per_user["ndcg"]) > report.n_users
    assert als.per_user["ndcg"][warm].mean() == pytest.approx(als.metrics["ndcg@10"], abs=1e-6)
    users = als.slices["users"]
    assert set(users) == {"warm", "cold"} and users["warm"]["users"] == report.n_users
    assert users["cold"]["users"] == len(als.user_ids) - report.n_users >= 20
    for key in ("ndcg@10", "recall@10", "precision@10", "map@10", "hit_rate@10"):
        low, high = als.intervals[key]
        assert low <= als.metrics[key] <= high
    for words in ("split", "who_counts", "filtered", "intervals"):
        assert report.protocol[words]
    assert set(als.slices["segment"]) == {"new", "regular", "loyal", "(unknown)"}
    assert "established" in als.slices["items"]
    ndcgs = [s["ndcg"] for s in als.slices["segment"].values()]
    assert als.gaps["segment"] == pytest.approx(max(ndcgs) - min(ndcgs), abs=1e-6)
    assert als.tuned and all("val_ndcg@10" in t for t in als.tuned)


def test_evaluation_recorded_as_run_with_per_user_artifact(report, context: Context) -> None:  # type: ignore[no-untyped-def]
    run_id = record_evaluation(context, report, params={"k": 10}, started_at=datetime.now(UTC))
    with context.store.session() as session:
        run = session.scalars(sa.select(Run).where(Run.id == run_id)).one()
        assert run.kind == "evaluation" and run.status == "succeeded"
        assert run.project_id == context.project_id
        assert run.metrics["best"] == report.best().model
        digest = run.metrics["per_user_artifact"]
    blob = context.load_artifact(digest)
    per_user = per_user_from_blob(blob, "als", "ndcg")
    als = report.get("als")
    assert per_user == dict(zip(als.user_ids, als.per_user["ndcg"].tolist(), strict=True))
    # the gate's slices: every evaluated user labelled warm or cold
    assert segments_from_blob(blob) == report.segments()
    assert set(report.segments().values()) == {"warm", "cold"}


def test_seen_items_are_hidden_only_where_users_do_not_come_back() -> None:
    data = generate(300, 150, 9000, seed=4)
    # film-like: every user meets an item once
    once = data.events.sort("timestamp").unique(["user_id", "item_id"], keep="first")
    inter = Interactions.from_events(once, event_col="event")
    assert choose_filter_seen(temporal_split(inter).train, None, 10, 0.25) is True
    # shop-like: users keep re-buying their own few staples
    rng = np.random.default_rng(0)
    users = rng.integers(0, 200, 8000)
    staples = (users * 7 + rng.integers(0, 3, 8000)) % 150
    frame = pl.DataFrame(
        {
            "user_id": users.astype(str),
            "item_id": staples.astype(str),
            "timestamp": np.sort(rng.uniform(0, 1e7, 8000)),
        }
    )
    inter = Interactions.from_events(frame)
    assert choose_filter_seen(temporal_split(inter).train, None, 10, 0.25) is False
