"""Customers with latent tastes; they arrive over time and some churn."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from kibble.k9s.catalog import BREEDS, SIZES, TOP

BUDGETS = ["low", "mid", "high"]
BUDGET_PRICE = np.array([15.0, 30.0, 70.0])
Ints = npt.NDArray[np.int64]


@dataclass
class Users:
    user_id: Ints
    size: Ints
    breed: Ints
    budget: Ints
    fav: Ints  # (n, 2) favourite top-level categories
    cat_owner: npt.NDArray[np.bool_]
    arrive_day: Ints  # negative = before the simulation
    churn_day: Ints  # large = never within the simulation
    signup: list[date]

    def __len__(self) -> int:
        return len(self.user_id)

    def active(self, day: int) -> npt.NDArray[np.bool_]:
        return np.asarray((self.arrive_day <= day) & (self.churn_day > day), dtype=bool)

    def frame(self, day: int | None = None) -> pl.DataFrame:
        """The ``users`` table: those signed up by ``day`` (all when None)."""
        idx = np.flatnonzero(np.ones(len(self), bool) if day is None else self.arrive_day <= day)
        return pl.DataFrame(
            {
                "user_id": self.user_id[idx],
                "dog_size": list(np.array(SIZES, dtype=object)[self.size[idx]]),
                "breed_group": list(np.array(BREEDS, dtype=object)[self.breed[idx]]),
                "budget": list(np.array(BUDGETS, dtype=object)[self.budget[idx]]),
                "signup_date": [self.signup[i] for i in idx],
            }
        )


def generate_users(
    n: int, rng: np.random.Generator, *, start: date, days: int, cats_day: int | None
) -> Users:
    """80% exist before day 0, the rest arrive during the simulation; ~2%/day churn."""
    arrive = np.where(rng.random(n) < 0.8, -rng.integers(1, 365, n), rng.integers(0, days, n))
    churn = np.maximum(arrive, 0) + np.ceil(rng.exponential(60.0, n)).astype(np.int64) + 1
    fav = np.stack([rng.integers(0, len(TOP), n), rng.integers(0, len(TOP), n)], axis=1)
    cat_owner = np.zeros(n, bool)
    if cats_day is not None:
        new_cat = rng.random(n) < 0.15
        cat_owner = new_cat
        arrive = np.where(new_cat, cats_day + rng.integers(0, 2, n), arrive)
        arrive = np.minimum(arrive, days - 1)
        churn = np.maximum(churn, arrive + 30)
    return Users(
        user_id=np.arange(1, n + 1, dtype=np.int64),
        size=rng.integers(0, 3, n).astype(np.int64),
        breed=rng.integers(0, len(BREEDS), n).astype(np.int64),
        budget=rng.choice(3, n, p=[0.35, 0.45, 0.2]).astype(np.int64),
        fav=fav.astype(np.int64),
        cat_owner=cat_owner,
        arrive_day=arrive.astype(np.int64),
        churn_day=churn.astype(np.int64),
        signup=[start + timedelta(days=int(d)) for d in arrive],
    )
