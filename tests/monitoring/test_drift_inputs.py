from __future__ import annotations

import numpy as np
import polars as pl

from kibble.monitoring.drift_inputs import input_drift, prediction_drift

RNG = np.random.default_rng(3)


def catalogue(n_dog: int = 400, n_cat: int = 0) -> pl.DataFrame:
    n = n_dog + n_cat
    return pl.DataFrame(
        {
            "item_id": np.arange(n),
            "category": RNG.choice(["food", "toys", "beds"], n),
            "species": ["dog"] * n_dog + ["cat"] * n_cat,
            "price": RNG.lognormal(3, 0.5, n),
        }
    )


def events(items: np.ndarray, users: int, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": RNG.integers(0, users, n),
            "item_id": RNG.choice(items, n),
            "event_type": RNG.choice(["view", "click", "purchase"], n, p=[0.7, 0.25, 0.05]),
        }
    )


def test_cats_launch_and_busier_users_show_as_input_drift() -> None:
    products = catalogue(400, 100)
    reference = events(np.arange(400), users=500, n=10_000)
    # Cat owners arrive and fewer users do more: events per user doubles.
    current = events(np.arange(500), users=250, n=10_000)
    report = input_drift(reference, current, products)
    by_name = {f.feature: f for f in report.features}
    assert set(by_name) == {"event_type", "category", "species", "price", "events_per_user"}
    assert by_name["species"].drifted and by_name["species"].new_categories == ["cat"]
    assert by_name["events_per_user"].drifted
    assert not by_name["event_type"].drifted and not by_name["category"].drifted
    assert report.features[0].psi >= report.features[-1].psi


def test_prediction_drift_sees_what_the_model_serves() -> None:
    products = catalogue()
    cheap = products.sort("price")["item_id"].head(80).to_numpy()

    def served(pool: np.ndarray, score_mean: float) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "request_id": [f"r{i}" for i in range(2_000)],
                "items": RNG.choice(pool, (2_000, 5)).tolist(),
                "score": RNG.normal(score_mean, 0.1, 2_000),
            }
        )

    steady = prediction_drift(served(np.arange(400), 0.5), served(np.arange(400), 0.5), products)
    assert steady.drifted == []
    moved = prediction_drift(served(np.arange(400), 0.5), served(cheap, 0.8), products)
    assert {"price", "score"} <= set(moved.drifted)
    assert "species" not in moved.drifted
