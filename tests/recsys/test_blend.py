"""The learned blend: weights from validation only, never from the test period."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from kibble.recsys import Interactions, ItemCatalog, RecContext, create_model
from kibble.recsys.blend import blend_ndcg, fit_weights
from kibble.recsys.evaluation import evaluate
from kibble.recsys.split import temporal_split
from kibble.recsys.synthetic import generate
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
