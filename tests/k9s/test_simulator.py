"""The simulator: deterministic, contract-shaped, and each fault does what it says."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from kibble.data.connectors import read_files, read_sql
from kibble.data.contracts import EVENTS, PRODUCTS, USERS
from kibble.errors import NotFoundError, UsageError
from kibble.k9s import Shop, SimConfig, respond
from kibble.k9s.config import parse_scenarios
from kibble.k9s.events import day_events
from kibble.k9s.simulate import deliver_late, load_shop, partition_dir, simulate, write_day


def small(**changes: Any) -> SimConfig:
    """A small shop (400 products, 300 users, 3 days), with ``changes``."""
    base: dict[str, Any] = {"products": 400, "users": 300, "days": 3, "sessions_per_user": 0.5}
    return SimConfig(**{**base, **changes})


def test_same_seed_same_shop_and_events() -> None:
    a, b = Shop.build(small()), Shop.build(small())
    assert a.catalog.frame().equals(b.catalog.frame())
    assert day_events(a, 1).equals(day_events(b, 1))
    c = Shop.build(small(seed=7))
    assert not day_events(a, 1).equals(day_events(c, 1))


def test_columns_match_the_data_contracts() -> None:
    shop = Shop.build(small())
    products, users, events = shop.catalog.frame(), shop.users.frame(), day_events(shop, 0)
    assert {c.name for c in PRODUCTS.columns} <= set(products.columns)
    assert {c.name for c in USERS.columns} <= set(users.columns)
    assert {c.name for c in EVENTS.columns} <= set(events.columns)
    assert set(events["event_type"].unique()) <= {"view", "click", "add_to_cart", "purchase"}
    assert set(products["species"].unique()) <= {"dog", "puppy", "senior"}
    assert events["event_id"].is_unique().all()
    assert (events["date"] == date(2026, 12, 1)).all()
    # funnel: every purchase follows fewer events down the funnel
    counts = events["event_type"].value_counts().to_dict(as_series=False)
    by_type = dict(zip(counts["event_type"], counts["count"], strict=True))
    assert by_type["view"] > by_type["click"] > by_type["add_to_cart"] >= by_type["purchase"]


def test_behaviour_follows_taste() -> None:
    """Viewed items are far more often in the user's favourite categories than chance."""
    shop = Shop.build(small())
    events = day_events(shop, 0).filter(pl.col("event_type") == "view")
    urows = events["user_id"].to_numpy() - 1
    irows = events["item_id"].to_numpy() - 1
    fav = (shop.users.fav[urows] == shop.catalog.top[irows][:, None]).any(axis=1)
    assert fav.mean() > 0.5  # chance would be about 2/7


def test_weekend_dip_and_half_volume() -> None:
    # 2026-12-05 is a Saturday (day 4)
    cfg = small(days=6, users=3000)
    shop = Shop.build(cfg)
    friday, saturday = day_events(shop, 3).height, day_events(shop, 4).height
    assert saturday < 0.9 * friday
    half = Shop.build(small(users=3000, scenarios={"half_volume": 1}))
    normal = Shop.build(small(users=3000))
    assert day_events(half, 1).height < 0.7 * day_events(normal, 1).height


def test_hundred_thousand_products_generate_quickly() -> None:
    shop = Shop.build(SimConfig(products=100_000, users=1000, days=1))
    frame = shop.catalog.frame()
    assert frame.height == 100_000
    assert frame["category"].n_unique() >= 7
    assert frame["season_start"].drop_nulls().len() > 5000
    assert (frame["price"] > 0).all()


def test_simulate_writes_files_and_database_for_the_connectors(tmp_path: Path) -> None:
    cfg = small(events_format="csv")
    result = simulate(cfg, tmp_path)
    assert len(result.days) == 3
    day = read_files(partition_dir(tmp_path, "2026-12-02"))
    assert day.num_rows == result.days[1].events
    products = read_sql(result.database_url, table="products")
    assert products.num_rows == 400
    orders = read_sql(result.database_url, table="orders")
    assert orders.num_rows == sum(d.purchases for d in result.days)
    assert load_shop(tmp_path).config == cfg


def test_late_partition_is_held_back_until_delivered(tmp_path: Path) -> None:
    cfg = small(scenarios={"late_partition": 2})
    simulate(cfg, tmp_path)
    assert not partition_dir(tmp_path, "2026-12-03").exists()
    assert deliver_late(tmp_path) == ["2026-12-03"]
    assert list(partition_dir(tmp_path, "2026-12-03").glob("events.parquet"))


def test_corrupted_day_and_its_redelivery(tmp_path: Path) -> None:
    cfg = small(scenarios={"corrupted_day": 1})
    simulate(cfg, tmp_path)
    path = partition_dir(tmp_path, "2026-12-02") / "events.parquet"
    bad = pl.read_parquet(path)
    assert bad.schema["user_id"] == pl.String
    assert (bad["user_id"] == "n/a").sum() > 0
    assert (bad["item_id"] > 400).sum() > 0
    write_day(load_shop(tmp_path), tmp_path, 1, clean=True)
    good = pl.read_parquet(path)
    assert good.schema["user_id"] == pl.Int64 and (good["item_id"] <= 400).all()


def test_cats_launch_adds_a_species_that_day() -> None:
    shop = Shop.build(small(scenarios={"cats_launch": 1}))
    assert "cat" not in shop.catalog.frame(0)["species"].to_list()
    assert "cat" in shop.catalog.frame(1)["species"].to_list()
    events = day_events(shop, 2)
    cat_items = shop.catalog.item_id[shop.catalog.species == 3]
    assert events["item_id"].is_in(cat_items.tolist()).sum() > 0


def test_response_prefers_good_lists_and_slow_answers_lose_users() -> None:
    shop = Shop.build(small())
    rng = np.random.default_rng(0)
    users = range(1, 301)
    items = np.arange(len(shop.catalog))

    def best(user: int) -> list[int]:
        scores = shop.utility(np.full(len(items), user - 1), items, 0)
        return [int(i) + 1 for i in np.argsort(-scores)[:10]]

    def worst(user: int) -> list[int]:
        scores = shop.utility(np.full(len(items), user - 1), items, 0)
        return [int(i) + 1 for i in np.argsort(scores)[:10]]

    good = sum(bool(respond(shop, u, best(u), day=0, rng=rng).clicked) for u in users)
    bad = sum(bool(respond(shop, u, worst(u), day=0, rng=rng).clicked) for u in users)
    slow = [respond(shop, u, best(u), day=0, latency_ms=2000, rng=rng) for u in users]
    assert good > 3 * max(1, bad)
    assert sum(r.abandoned for r in slow) > 250
    assert respond(shop, 1, [10**9], day=0, rng=rng).clicked == []


def test_bad_configs_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="scenario"):
        small(scenarios={"meteor": 1})
    with pytest.raises(UsageError, match="outside"):
        small(scenarios={"half_volume": 9})
    with pytest.raises(UsageError):
        parse_scenarios(["half_volume:x"], 3)
    assert parse_scenarios(["half-volume", "corrupted_day:0"], 5) == {
        "half_volume": 3,
        "corrupted_day": 0,
    }
    with pytest.raises(NotFoundError):
        load_shop(tmp_path)
