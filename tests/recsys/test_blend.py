"""The learned blend: weights from validation only, never from the test period."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from kibble.recsys import (
    Interactions,
    ItemCatalog,
    RecContext,
    create_model,
    load_model,
    save_model,
)
from kibble.recsys.blend import blend_ndcg, fit_weights
from kibble.recsys.evaluation import evaluate
from kibble.recsys.split import temporal_split
from kibble.recsys.synthetic import generate
from kibble.recsys.trends import TrendFeed
from tests.recsys.conftest import TODAY, Shop


def test_fit_weights_finds_the_informative_member() -> None:
    rng = np.random.default_rng(0)
    users, pool = 200, 30
    hits = rng.random((users, pool)) < 0.1
    signal = hits + rng.normal(0, 0.3, (users, pool))  # member 0 knows the hits
    noise = rng.normal(0, 1, (users, pool))  # member 1 is noise
    features = np.stack([noise, signal], axis=-1).astype(np.float32)
    valid = np.ones((users, pool), bool)
    n_relevant = hits.sum(axis=1)
    weights, ndcg = fit_weights(features, valid, hits, n_relevant, k=10)
    assert weights[1] > weights[0]
    alone = blend_ndcg(features, valid, hits, n_relevant, 10, np.array([1.0, 0.0]))
    assert ndcg > alone


def test_blend_is_reproducible_and_saved_with_its_weights(shop: Shop) -> None:
    first = create_model("hybrid", seed=3).fit(shop.interactions, shop.catalog)
    again = create_model("hybrid", seed=3).fit(shop.interactions, shop.catalog)
    assert first.weights == again.weights  # type: ignore[attr-defined]
    assert first.validation["weights"] == "learned"  # type: ignore[attr-defined]
    context = RecContext(when=TODAY)
    users = shop.interactions.user_ids[:30]
    assert first.rank(users, 10, context=context)[0].tolist() == (
        again.rank(users, 10, context=context)[0].tolist()
    )


def test_a_planted_test_period_signal_is_never_used() -> None:
    """After the cut every user hammers one obscure item. Evaluated with and without that
    plant, every choice (tuned parameters, blend weights) is identical; only the test
    scores move, so the plant really reached the test period."""
    data = generate(150, 80, 5000, seed=2)
    cut = datetime(2026, 3, 15, tzinfo=UTC)
    train_counts = data.events.filter(pl.col("timestamp") < cut).group_by("item_id").len()
    obscure = train_counts.sort("len")["item_id"][0]
    users = data.events["user_id"].unique().sort()
    plant = pl.DataFrame(
        {
            "user_id": users,
            "item_id": [obscure] * len(users),
            "event": ["purchase"] * len(users),
            "timestamp": [datetime(2026, 3, 20, tzinfo=UTC)] * len(users),
        }
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")))
    items = ItemCatalog.from_table(data.items)

    def run(events: pl.DataFrame):  # type: ignore[no-untyped-def]
        inter = Interactions.from_events(events, event_col="event")
        return evaluate(inter, items=items, models=["hybrid"], cut=cut, resamples=100)

    clean, planted = run(data.events), run(pl.concat([data.events, plant]))
    for name in ("popularity", "hybrid"):
        assert planted.get(name).params == clean.get(name).params
        assert planted.get(name).tuned == clean.get(name).tuned
    assert planted.get("hybrid").learned == clean.get("hybrid").learned
    assert planted.get("hybrid").learned["weights"]
    assert planted.n_test > clean.n_test
    assert planted.get("hybrid").metrics != clean.get("hybrid").metrics


def test_validation_comes_from_the_training_period_only(shop: Shop) -> None:
    split = temporal_split(shop.interactions, test_fraction=0.2)
    model = create_model("hybrid").fit(split.train, shop.catalog)
    learned_cut = datetime.fromisoformat(model.validation["cut"])  # type: ignore[attr-defined]
    assert learned_cut < split.cut_date


def _feed(rows: list[tuple[str, str, str, float]]) -> TrendFeed:
    return TrendFeed.from_table(
        pl.DataFrame(rows, schema=["date", "kind", "key", "mentions"], orient="row")
    )


def test_a_trends_feed_is_read_only_up_to_the_day_it_ended() -> None:
    feed = _feed(
        [
            ("2026-03-01", "product", "a", 10.0),
            ("2026-03-01", "category", "toys", 30.0),
            ("2026-03-05", "product", "b", 99.0),  # not over yet on the 3rd
        ]
    )
    as_of = datetime(2026, 3, 3, tzinfo=UTC).timestamp()
    signal = feed.signal(["a", "b", "c"], ["toys", "food", "toys"], as_of, half_life_days=1.0)
    # a: its own 10 (one day old: halved) + half the toys' 30 (also halved)
    assert signal.tolist() == pytest.approx([5.0 + 7.5, 0.0, 7.5])


def test_the_blend_learns_to_use_a_leading_trends_feed() -> None:
    """Mentions that lead purchases (the vendor sees the buzz a day early): the blend
    gives the external member weight and ranks better than without the feed."""
    data = generate(300, 120, 9000, seed=5)
    events = data.events.with_columns(pl.col("timestamp").dt.date().alias("day"))
    ahead = (
        events.group_by("day", "item_id")
        .len()
        .select(
            (pl.col("day") - pl.duration(days=1)).cast(pl.String).alias("date"),
            pl.lit("product").alias("kind"),
            pl.col("item_id").alias("key"),
            pl.col("len").cast(pl.Float64).alias("mentions"),
        )
    )
    catalog = ItemCatalog.from_table(data.items)
    inter = Interactions.from_events(data.events, event_col="event")
    split = temporal_split(inter, test_fraction=0.2)
    with_feed = ItemCatalog.from_bytes(catalog.to_bytes())
    with_feed.trends = TrendFeed.from_table(ahead)
    assert ItemCatalog.from_bytes(with_feed.to_bytes()).trends is not None  # travels along
    plain = create_model("hybrid").fit(split.train, catalog)
    fed = create_model("hybrid").fit(split.train, with_feed)
    assert "external" not in plain.weights  # type: ignore[attr-defined]
    assert fed.weights["external"] > 0  # type: ignore[attr-defined]
    assert fed.validation["ndcg@10"] > plain.validation["ndcg@10"]  # type: ignore[attr-defined]
    loaded = load_model(save_model(fed))
    users = split.train.user_ids[:20]
    assert loaded.rank(users, 10)[0].tolist() == fed.rank(users, 10)[0].tolist()
