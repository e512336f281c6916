"""The catalogue: products with templated text, prices, stock, seasons and latent traits.

Vectorised with numpy so 100,000 products take well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

CATEGORIES = {
    "food": ["dry", "wet", "treats"],
    "toys": ["chew", "plush", "ball"],
    "beds": ["cushion", "crate_mat"],
    "leads": ["lead", "harness", "collar"],
    "grooming": ["brush", "shampoo"],
    "clothing": ["coat", "jumper"],
    "health": ["supplements", "dental"],
}
TOP = list(CATEGORIES)
SUBS = [f"{top}/{sub}" for top, subs in CATEGORIES.items() for sub in subs]
SUB_TOP = np.array([TOP.index(s.split("/")[0]) for s in SUBS])
SIZES = ["small", "medium", "large"]
BREEDS = ["terrier", "retriever", "shepherd", "toy", "hound"]
BRANDS = ["Woofle", "Barkley", "Pawsome", "Tailwind", "Snoutly", "Furrow", "Howl&Co"]
ADJ = ["Deluxe", "Everyday", "Organic", "Tough", "Cosy", "Classic", "Sport", "Gentle"]
SEASONS = [("12-01", "12-26"), ("06-01", "08-31"), ("10-15", "10-31")]  # xmas, summer, halloween
SEASON_NAMES = ["Christmas", "Summer", "Halloween"]
SPECIES = ["dog", "puppy", "senior", "cat"]
BASE_PRICE = np.array([25.0, 12.0, 45.0, 18.0, 10.0, 22.0, 15.0])

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass
class Catalog:
    """Public product columns plus the latent traits only the simulator knows."""

    item_id: Ints
    sub: Ints  # index into SUBS
    species: Ints  # index into SPECIES
    size: Ints  # -1 = any size
    breed: Ints  # -1 = any breed
    season: Ints  # -1 = all year
    price: Floats
    quality: Floats
    popularity: Floats  # base attractiveness, heavy tailed
    in_stock: npt.NDArray[np.bool_]
    launch_day: Ints  # first simulated day the product exists

    def __len__(self) -> int:
        return len(self.item_id)

    @property
    def top(self) -> Ints:
        return SUB_TOP[self.sub].astype(np.int64)

    def frame(self, day: int | None = None) -> pl.DataFrame:
        """The ``products`` table (contract columns), as of ``day`` when given."""
        keep = np.ones(len(self), bool) if day is None else self.launch_day <= day
        idx = np.flatnonzero(keep)
        sub = self.sub[idx]
        size = self.size[idx]
        season = self.season[idx]
        sizes = np.array(["", *SIZES], dtype=object)[size + 1]
        breeds = np.array(["", *BREEDS], dtype=object)[self.breed[idx] + 1]
        brands = np.array(BRANDS, dtype=object)[idx % len(BRANDS)]
        adjs = np.array(ADJ, dtype=object)[(idx // 7) % len(ADJ)]
        subs = np.array(SUBS, dtype=object)[sub]
        leaf = np.array([s.split("/")[1].replace("_", " ") for s in SUBS], dtype=object)[sub]
        species = np.array(SPECIES, dtype=object)[self.species[idx]]
        season_txt = np.array(["", *SEASON_NAMES], dtype=object)[season + 1]
        titles = [
            f"{b} {a} {s + ' ' if s else ''}{lf}{' (' + n + ')' if n else ''}"
            for b, a, s, lf, n in zip(brands, adjs, sizes, leaf, season_txt, strict=True)
        ]
        descriptions = [
            f"{a} {lf} for {s + ' ' if s else ''}{br + ' ' if br else ''}{sp}s by {b}."
            for b, a, s, lf, br, sp in zip(brands, adjs, sizes, leaf, breeds, species, strict=True)
        ]
        starts = np.array([None, *(s for s, _ in SEASONS)], dtype=object)[season + 1]
        ends = np.array([None, *(e for _, e in SEASONS)], dtype=object)[season + 1]
        return pl.DataFrame(
            {
                "item_id": self.item_id[idx],
                "title": titles,
                "description": descriptions,
                "category": list(subs),
                "species": list(species),
                "price": np.round(self.price[idx], 2),
                "season_start": list(starts),
                "season_end": list(ends),
                "in_stock": self.in_stock[idx],
            },
            schema_overrides={"season_start": pl.String, "season_end": pl.String},
        )


def generate_catalog(
    n: int, rng: np.random.Generator, *, cats_day: int | None = None, days: int = 1
) -> Catalog:
    """``n`` dog products; with ``cats_day``, 10% extra cat products launched that day."""
    n_cats = max(5, n // 10) if cats_day is not None else 0
    total = n + n_cats
    sub = rng.integers(0, len(SUBS), total)
    species = rng.choice(3, total, p=[0.8, 0.12, 0.08])
    species[n:] = 3
    size = np.where(rng.random(total) < 0.6, rng.integers(0, 3, total), -1)
    breed = np.where(rng.random(total) < 0.3, rng.integers(0, len(BREEDS), total), -1)
    season = np.where(rng.random(total) < 0.12, rng.integers(0, 3, total), -1)
    quality = rng.beta(2.0, 2.0, total)
    price = BASE_PRICE[SUB_TOP[sub]] * rng.lognormal(0.0, 0.5, total) * (0.6 + quality)
    popularity = rng.pareto(1.5, total) + 0.05
    launch = np.zeros(total, np.int64)
    if cats_day is not None:
        launch[n:] = cats_day
    return Catalog(
        item_id=np.arange(1, total + 1, dtype=np.int64),
        sub=sub.astype(np.int64),
        species=species.astype(np.int64),
        size=size.astype(np.int64),
        breed=breed.astype(np.int64),
        season=season.astype(np.int64),
        price=price,
        quality=quality,
        popularity=popularity,
        in_stock=rng.random(total) < 0.95,
        launch_day=launch,
    )


def season_active(catalog: Catalog, month_day: str) -> npt.NDArray[np.bool_]:
    """Which products are in season on ``MM-DD`` (all-year products always are)."""
    active = np.array([start <= month_day <= end for start, end in SEASONS] + [True])
    return np.asarray(active[catalog.season], dtype=bool)
