"""External trend signals (social mentions per day, per product or category) as an item
feature the hybrid can blend in: pure, no I/O.

A feed row dated day D counts once day D is over, so a model trained up to time T only
ever sees mentions of days that ended by T: evaluation and the blend's validation stay
honest. Category mentions reach every item of the category (shared among them), which
is how a new or seasonal item with no events of its own gets a signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from kibble.errors import UsageError
from kibble.recsys.interactions import SECONDS_PER_DAY, epoch_seconds, to_polars

FEED_COLUMNS = ("date", "kind", "key", "mentions")


@dataclass
class TrendFeed:
    """Mentions by (kind, key, day end): kind ``product`` (key: item id) or ``category``."""

    kinds: npt.NDArray[np.str_]
    keys: npt.NDArray[np.str_]
    ends: npt.NDArray[np.float64]  # epoch seconds at which each row's day is over
    mentions: npt.NDArray[np.float32]

    @classmethod
    def from_table(cls, table: Any) -> TrendFeed:
        """Read a feed table (``date, kind, key, mentions``; extra columns ignored)."""
        frame = to_polars(table)
        missing = [c for c in FEED_COLUMNS if c not in frame.columns]
        if missing:
            raise UsageError(
                f"the trends feed has no column {missing[0]!r}",
                hint=f"a feed has the columns {', '.join(FEED_COLUMNS)}",
            )
        frame = frame.drop_nulls(list(FEED_COLUMNS))
        return cls(
            kinds=np.asarray(frame["kind"].cast(pl.String).to_list(), dtype=np.str_),
            keys=np.asarray(frame["key"].cast(pl.String).to_list(), dtype=np.str_),
            ends=epoch_seconds(frame["date"].cast(pl.String).str.to_date()) + SECONDS_PER_DAY,
            mentions=np.maximum(frame["mentions"].cast(pl.Float32).to_numpy(), 0.0),
        )

    def signal(
        self,
        item_ids: Sequence[str],
        categories: Sequence[str],
        as_of: float,
        half_life_days: float = 3.0,
    ) -> npt.NDArray[np.float32]:
        """Per item: its own mentions plus its category's share, decayed to ``as_of``;
        rows whose day had not ended by ``as_of`` are never read."""
        known = self.ends <= as_of
        weight = self.mentions * np.exp2(-(as_of - self.ends) / (half_life_days * SECONDS_PER_DAY))
        weight = np.where(known, weight, 0.0)
        out = np.zeros(len(item_ids), np.float64)
        own = _sum_by(self.keys[self.kinds == "product"], weight[self.kinds == "product"])
        position = {item: i for i, item in enumerate(item_ids)}
        for key, value in own.items():
            if key in position:
                out[position[key]] += value
        per_category = _sum_by(
            self.keys[self.kinds == "category"], weight[self.kinds == "category"]
        )
        names, counts = np.unique(np.asarray(categories, dtype=np.str_), return_counts=True)
        size = dict(zip(names.tolist(), counts.tolist(), strict=True))
        share = np.array([per_category.get(c, 0.0) / size.get(c, 1) for c in categories])
        return np.asarray(out + share, dtype=np.float32)

    def arrays(self, prefix: str = "") -> dict[str, npt.NDArray[Any]]:
        """Its arrays (safe ``.npz`` content: strings and numbers, never objects)."""
        return {
            f"{prefix}kinds": self.kinds,
            f"{prefix}keys": self.keys,
            f"{prefix}ends": self.ends,
            f"{prefix}mentions": self.mentions,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]], prefix: str = "") -> TrendFeed:
        return cls(
            arrays[f"{prefix}kinds"],
            arrays[f"{prefix}keys"],
            arrays[f"{prefix}ends"],
            arrays[f"{prefix}mentions"],
        )


def _sum_by(keys: npt.NDArray[np.str_], values: npt.NDArray[np.float64]) -> dict[str, float]:
    if len(keys) == 0:
        return {}
    names, inverse = np.unique(keys, return_inverse=True)
    totals = np.bincount(inverse, weights=values, minlength=len(names))
    return dict(zip(names.tolist(), totals.tolist(), strict=True))
