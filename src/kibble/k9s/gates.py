"""Data gates of the daily run, as pure logic: a failing gate holds retraining.

Each reason has a ``kind`` (the alert kind it raises) and a message saying what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

MIN_VOLUME_RATIO = 0.7
MAX_BAD_FRACTION = 0.005


@dataclass(frozen=True)
class Reason:
    kind: str  # data_late | data_incomplete | data_incorrect
    message: str


def check_partition(
    events: pl.DataFrame | None, *, known_items: int, previous_volumes: list[int]
) -> list[Reason]:
    """Freshness, completeness and correctness of one day's events; [] means pass."""
    if events is None:
        return [Reason("data_late", "the day's events partition has not arrived")]
    reasons = []
    if previous_volumes:
        usual = sorted(previous_volumes)[len(previous_volumes) // 2]
        if events.height < MIN_VOLUME_RATIO * usual:
            reasons.append(
                Reason(
                    "data_incomplete",
                    f"{events.height} events, under {MIN_VOLUME_RATIO:.0%} of the usual {usual}",
                )
            )
    users = events["user_id"].cast(pl.Int64, strict=False)
    items = events["item_id"].cast(pl.Int64, strict=False)
    broken = int(users.is_null().sum())
    unknown = int((items.is_null() | (items < 1) | (items > known_items)).sum())
    bad = (broken + unknown) / max(1, events.height)
    if bad > MAX_BAD_FRACTION:
        reasons.append(
            Reason(
                "data_incorrect",
                f"{unknown} unknown product ids and {broken} non-numeric user ids "
                f"({bad:.1%} of rows)",
            )
        )
    return reasons


def psi(expected: pl.Series, actual: pl.Series) -> float:
    """Population stability index of two categorical samples (0 = same, >0.2 = shifted)."""
    import math

    e = expected.value_counts(normalize=True, name="p")
    a = actual.value_counts(normalize=True, name="q")
    joined = e.join(a, on=expected.name, how="full", coalesce=True).fill_null(1e-4)
    return float(
        sum(
            (q - p) * math.log(q / p)
            for p, q in zip(joined["p"].to_list(), joined["q"].to_list(), strict=True)
        )
    )
