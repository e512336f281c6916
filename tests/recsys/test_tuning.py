"""Search spaces: every proposal builds a valid model, and a seed repeats the search."""

from __future__ import annotations

from typing import Any

import pytest

from kibble.recsys import create_model
from kibble.recsys.tuning import run_study
from tests.recsys.conftest import Shop


@pytest.mark.parametrize("name", ["hybrid", "sequence", "rp3beta", "als", "item_knn"])
def test_every_proposal_is_a_valid_model(name: str) -> None:
    def score(batch: list[dict[str, Any]]) -> list[tuple[float, float]]:
        return [(float(len(str(params))), 0.0) for params in batch]

    study = run_study(name, score, n_trials=6, seed=1)
    for trial in study.trials:
        assert create_model(name, **trial.params).params  # accepted as hyperparameters
    again = run_study(name, score, n_trials=6, seed=1)
    assert [t.params for t in again.trials] == [t.params for t in study.trials]


def test_the_blend_search_reaches_its_members(shop: Shop) -> None:
    def score(batch: list[dict[str, Any]]) -> list[tuple[float, float]]:
        return [(0.0, 0.0) for _ in batch]

    study = run_study("hybrid", score, n_trials=12, seed=0)
    assert {t.params["cf"] for t in study.trials} >= {"als", "item_knn"}
    params = study.trials[0].params
    assert params["cf_params"] and params["sequence_params"]
    model = create_model("hybrid", **params).fit(shop.interactions, shop.catalog)
    assert model.weights  # type: ignore[attr-defined]
