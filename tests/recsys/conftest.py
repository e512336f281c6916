"""Small shared data for the recommender tests: synthetic tastes plus hand-made edge cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl
import pytest

from kibble.recsys import Interactions, ItemCatalog
from kibble.recsys.synthetic import SyntheticData, generate

TODAY = date(2026, 3, 1)  # day 60: inside the synthetic data's window


@dataclass
class Shop:
    data: SyntheticData
    events: pl.DataFrame
    interactions: Interactions
    catalog: ItemCatalog
    buyer: str  # a user with purchases
    purchased: set[str]
    out_of_stock: str
    out_of_season: str
    entering_season: str
    cold_item: str  # in the catalogue, never interacted with
    empty_user: str  # only events with no weight


@pytest.fixture(scope="session")
def shop() -> Shop:
    data = generate(150, 80, 4000, seed=7)
    ghost = pl.DataFrame(
        {
            "user_id": ["ghost"],
            "item_id": ["i0"],
            "event": ["wishlist"],  # unknown event type: weight 0
            "timestamp": [datetime(2026, 2, 1, tzinfo=UTC)],
        }
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")))
    events = pl.concat([data.events, ghost])
    counts = data.events.group_by("item_id").len().sort("len", descending=True)
    top = counts["item_id"].to_list()
    out_of_stock, out_of_season, entering = top[0], top[1], top[2]
    # a cold item: the catalogue copy of a popular item's text under a new id
    cold = "i-new"
    base_row = data.items.filter(pl.col("item_id") == top[3])
    items = pl.concat([data.items, base_row.with_columns(pl.lit(cold).alias("item_id"))])
    start = TODAY.timetuple().tm_yday
    items = items.with_columns(
        pl.when(pl.col("item_id") == out_of_stock)
        .then(False)
        .otherwise(pl.col("in_stock"))
        .alias("in_stock"),
        pl.when(pl.col("item_id") == out_of_season)
        .then(start + 30)
        .when(pl.col("item_id") == entering)
        .then(start - 2)
        .when(pl.col("item_id").is_in([out_of_stock]))
        .then(-1)
        .otherwise(pl.col("season_start"))
        .alias("season_start"),
        pl.when(pl.col("item_id") == out_of_season)
        .then(start + 90)
        .when(pl.col("item_id") == entering)
        .then(start + 60)
        .otherwise(pl.col("season_end"))
        .alias("season_end"),
    )
    # every other item is all-year in stock, so only the planted cases filter
    items = items.with_columns(
        pl.when(pl.col("item_id").is_in([out_of_season, entering]))
        .then(pl.col("season_start"))
        .otherwise(-1)
        .alias("season_start"),
        pl.when(pl.col("item_id").is_in([out_of_season, entering]))
        .then(pl.col("season_end"))
        .otherwise(-1)
        .alias("season_end"),
        (pl.col("item_id") != out_of_stock).alias("in_stock"),
    )
    interactions = Interactions.from_events(events, event_col="event")
    purchases = data.events.filter(pl.col("event") == "purchase")
    buyer = purchases.group_by("user_id").len().sort("len", descending=True)["user_id"][0]
    bought = set(purchases.filter(pl.col("user_id") == buyer)["item_id"].to_list())
    return Shop(
        data=data,
        events=events,
        interactions=interactions,
        catalog=ItemCatalog.from_table(items),
        buyer=buyer,
        purchased=bought,
        out_of_stock=out_of_stock,
        out_of_season=out_of_season,
        entering_season=entering,
        cold_item=cold,
        empty_user="ghost",
    )
