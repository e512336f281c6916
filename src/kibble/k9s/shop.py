"""The shop's ground truth: catalogue, customers, and how much a user likes an item.

``utility`` is pure numpy (no I/O); events and the response to served lists both use it,
so a model that learns the tastes earns more clicks, as it would in a real shop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kibble.k9s.catalog import Catalog, generate_catalog, season_active
from kibble.k9s.config import SimConfig
from kibble.k9s.users import BUDGET_PRICE, Users, generate_users

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
CLICK_BIAS = 4.0


@dataclass
class Shop:
    config: SimConfig
    catalog: Catalog
    users: Users

    @classmethod
    def build(cls, config: SimConfig) -> Shop:
        """Deterministic: the same config always builds the same shop."""
        rng = np.random.default_rng(config.seed)
        cats_day = config.scenarios.get("cats_launch")
        catalog = generate_catalog(config.products, rng, cats_day=cats_day, days=config.days)
        users = generate_users(
            config.users, rng, start=config.start, days=config.days, cats_day=cats_day
        )
        return cls(config, catalog, users)

    def month_day(self, day: int) -> str:
        return self.config.day(day).strftime("%m-%d")

    def utility(self, urows: Ints, irows: Ints, day: int) -> Floats:
        """True utility of item rows for user rows (same length, paired)."""
        cat, users = self.catalog, self.users
        fav = (users.fav[urows] == cat.top[irows][:, None]).any(axis=1)
        size = cat.size[irows]
        size_fit = np.where(size < 0, 0.3, np.where(size == users.size[urows], 0.9, -0.6))
        breed = cat.breed[irows]
        breed_fit = np.where(breed < 0, 0.0, np.where(breed == users.breed[urows], 0.6, -0.3))
        budget = np.abs(np.log(cat.price[irows] / BUDGET_PRICE[users.budget[urows]]))
        seasonal = cat.season[irows] >= 0
        in_season = season_active(cat, self.month_day(day))[irows]
        peak = 2.0 if self.config.scenario_on("seasonal_peak", day) else 1.0
        season_fit = np.where(seasonal, np.where(in_season, 0.8 * peak, -1.5), 0.0)
        is_cat = cat.species[irows] == 3
        owner = users.cat_owner[urows]
        species_fit = np.where(is_cat, np.where(owner, 1.5, -4.0), np.where(owner, -2.0, 0.0))
        launched = cat.launch_day[irows] <= day
        return np.asarray(
            2.0 * fav
            + size_fit
            + breed_fit
            - 0.6 * budget
            + 1.0 * cat.quality[irows]
            + 0.1 * np.log(cat.popularity[irows])
            + season_fit
            + species_fit
            - 3.0 * ~cat.in_stock[irows]
            - 10.0 * ~launched,
            dtype=np.float64,
        )

    def click_probability(self, urows: Ints, irows: Ints, day: int) -> Floats:
        return np.asarray(1.0 / (1.0 + np.exp(-(self.utility(urows, irows, day) - CLICK_BIAS))))

    def item_rows(self, item_ids: Ints) -> Ints:
        """Rows of known item ids; -1 for ids the shop never sold."""
        rows = np.asarray(item_ids, dtype=np.int64) - 1
        return np.where((rows >= 0) & (rows < len(self.catalog)), rows, -1)

    def latency_penalty_ms(self, day: int) -> float:
        """Extra serving latency the simulated site sees on a latency-incident day."""
        return 1500.0 if self.config.scenario_on("latency_incident", day) else 0.0
