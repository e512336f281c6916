"""Recsys work on the pipelines' executors without Ray: batching, encoding, process pool."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from kibble.context import Context
from kibble.errors import UsageError
from kibble.pipelines.serde import decode, encode
from kibble.recsys import ItemCatalog
from kibble.recsys.remote import RemoteCalls, train_on
from kibble.recsys.tuning import run_study
from tests.recsys.conftest import Shop
from tests.recsys.remote_probe import pid


def test_a_catalogue_travels_as_npz_unchanged(shop: Shop) -> None:
    encoded = encode(shop.catalog)
    assert encoded.codec == "object:kibble.recsys.catalog:ItemCatalog"
    back: ItemCatalog = decode(encoded.data, encoded.codec)
    assert back.item_ids == shop.catalog.item_ids and back.texts == shop.catalog.texts
    assert back.category == shop.catalog.category and back.species == shop.catalog.species
    for name in ("price", "season_start", "season_end", "in_stock"):
        np.testing.assert_array_equal(getattr(back, name), getattr(shop.catalog, name))


def test_a_study_proposes_in_batches_and_repeats_itself() -> None:
    batches: list[int] = []

    def score(batch: list[dict[str, Any]]) -> list[tuple[float, float]]:
        batches.append(len(batch))
        return [(-abs(np.log(p["half_life_days"]) - 2.0), 0.0) for p in batch]

    first = run_study("popularity", score, n_trials=5, seed=4, batch=2)
    assert batches == [2, 2, 1]
    again = run_study("popularity", score, n_trials=5, seed=4, batch=2)
    assert [t.params for t in again.trials] == [t.params for t in first.trials]
    assert first.best_value == max(t.value for t in first.trials)
    assert [t.number for t in first.trials] == [0, 1, 2, 3, 4]


def test_local_calls_run_here(context: Context) -> None:
    with RemoteCalls(context, "local", jobs=2) as calls:
        assert calls.submit(pid, {}, {}).result().value == os.getpid()


def test_unknown_executor_is_a_usage_error(context: Context) -> None:
    with pytest.raises(UsageError, match="unknown executor"):
        RemoteCalls(context, "spark")


@pytest.mark.slow
def test_training_in_a_process_pool_gives_the_same_artifact(context: Context, shop: Shop) -> None:
    params = {"factors": 8, "iterations": 3}
    here = train_on(context, shop.interactions, model="als", params=params, items=shop.catalog)
    there = train_on(
        context,
        shop.interactions,
        model="als",
        params=params,
        items=shop.catalog,
        executor="process",
    )
    assert there.blob == here.blob and "remote" in there.seconds
