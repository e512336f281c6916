"""Small K9s-shaped frames for the data tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl


def products(n: int = 20) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": list(range(n)),
            "title": [f"toy {i}" for i in range(n)],
            "description": [None] * n,
            "category": ["dog/toys/chew"] * n,
            "species": ["dog"] * n,
            "price": [float(i + 1) for i in range(n)],
            "season_start": [None] * n,
            "season_end": [None] * n,
            "in_stock": [True] * n,
        }
    )


def events(day: date, n: int = 100, *, prefix: str = "", items: int = 20) -> pl.DataFrame:
    start = datetime(day.year, day.month, day.day, 8)
    types = ["view", "view", "click", "add_to_cart", "purchase"]
    return pl.DataFrame(
        {
            "event_id": [f"{prefix}{day}-{i}" for i in range(n)],
            "user_id": [i % 7 for i in range(n)],
            "item_id": [i % items for i in range(n)],
            "event_type": [types[i % len(types)] for i in range(n)],
            "ts": [(start + timedelta(seconds=i)).isoformat() + "Z" for i in range(n)],
            "session_id": [f"s{i % 5}" for i in range(n)],
            "request_id": [None] * n,
        }
    )
