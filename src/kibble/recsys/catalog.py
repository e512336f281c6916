"""What the recommenders know about items: text, category, species, price, season, stock.

Seasons are day-of-year windows (1..366); a window may wrap the new year (start > end,
e.g. Christmas items 320..10). ``-1`` means "all year".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from kibble.artifacts.formats import arrays_from_bytes, arrays_to_bytes
from kibble.errors import UsageError
from kibble.recsys.interactions import to_polars
from kibble.recsys.trends import TrendFeed

TEXT_COLUMNS: tuple[str, ...] = ("title", "description", "category")


def _strings(frame: pl.DataFrame, column: str | None, default: str = "") -> list[str]:
    if column is None or column not in frame.columns:
        return [default] * frame.height
    return frame[column].cast(pl.String).fill_null(default).to_list()


_DAYS_BEFORE_MONTH = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])


def _day_of_year(frame: pl.DataFrame, column: str) -> npt.NDArray[np.int16]:
    """Day of year (1..366, -1 = all year) from a date, a number, or text: ``MM-DD``
    (a shop's yearly window, as K9s writes it), ``YYYY-MM-DD`` or a number."""
    if column not in frame.columns:
        return np.full(frame.height, -1, dtype=np.int16)
    values = frame[column]
    if values.dtype == pl.String:
        values = _text_day_of_year(values)
    if values.dtype in (pl.Date,) or isinstance(values.dtype, pl.Datetime):
        values = values.dt.ordinal_day()
    return values.cast(pl.Int16).fill_null(-1).to_numpy().astype(np.int16)


def _text_day_of_year(values: pl.Series) -> pl.Series:
    out = [_parse_day(value, values.name) for value in values.to_list()]
    return pl.Series(values.name, out, dtype=pl.Int16)


def _parse_day(value: str | None, column: str) -> int:
    text = (value or "").strip()
    if not text:
        return -1
    if text.lstrip("-").isdigit():
        return int(text)
    parts = text.split("-")[-2:]
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        month, day = int(parts[0]), int(parts[1])
        if 1 <= month <= 12 and 1 <= day <= 31:
            return int(_DAYS_BEFORE_MONTH[month - 1]) + day
    raise UsageError(
        f"season column {column!r} has a value {text!r} that is not a date",
        hint="use MM-DD (e.g. 12-01), YYYY-MM-DD or a day of the year",
    )


@dataclass
class ItemCatalog:
    """Item attributes aligned by position with ``item_ids``."""

    item_ids: list[str]
    texts: list[str] = field(default_factory=list)
    category: list[str] = field(default_factory=list)
    species: list[str] = field(default_factory=list)
    price: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    season_start: npt.NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, np.int16))
    season_end: npt.NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, np.int16))
    in_stock: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    trends: TrendFeed | None = None  # an external mentions feed the hybrid can blend in

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if len(set(self.item_ids)) != n:
            raise UsageError("the item catalogue lists an item twice", hint="deduplicate item ids")
        self.texts = self.texts or [""] * n
        self.category = self.category or [""] * n
        self.species = self.species or [""] * n
        if len(self.price) != n:
            self.price = np.full(n, np.nan, dtype=np.float32)
        if len(self.season_start) != n:
            self.season_start = np.full(n, -1, dtype=np.int16)
        if len(self.season_end) != n:
            self.season_end = np.full(n, -1, dtype=np.int16)
        if len(self.in_stock) != n:
            self.in_stock = np.ones(n, dtype=bool)

    def __len__(self) -> int:
        return len(self.item_ids)

    def to_bytes(self) -> bytes:
        """One ``.npz`` (no pickle), so the catalogue can travel to a worker or a step."""
        return arrays_to_bytes(
            {
                "item_ids": np.asarray(self.item_ids, dtype=np.str_),
                "texts": np.asarray(self.texts, dtype=np.str_),
                "category": np.asarray(self.category, dtype=np.str_),
                "species": np.asarray(self.species, dtype=np.str_),
                "price": self.price,
                "season_start": self.season_start,
                "season_end": self.season_end,
                "in_stock": self.in_stock,
                **(self.trends.arrays("trends.") if self.trends is not None else {}),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ItemCatalog:
        arrays = arrays_from_bytes(data)

        def strings(name: str) -> list[str]:
            return [str(v) for v in arrays[name].tolist()]

        return cls(
            item_ids=strings("item_ids"),
            texts=strings("texts"),
            category=strings("category"),
            species=strings("species"),
            price=arrays["price"],
            season_start=arrays["season_start"],
            season_end=arrays["season_end"],
            in_stock=arrays["in_stock"],
            trends=TrendFeed.from_arrays(arrays, "trends.") if "trends.keys" in arrays else None,
        )

    @classmethod
    def from_table(
        cls,
        table: Any,
        *,
        item_col: str = "item_id",
        text_cols: Sequence[str] | None = None,
        category_col: str | None = "category",
        species_col: str | None = "species",
        price_col: str | None = "price",
        season_start_col: str = "season_start",
        season_end_col: str = "season_end",
        in_stock_col: str | None = "in_stock",
    ) -> ItemCatalog:
        """Read a products table; absent optional columns get neutral defaults."""
        frame = to_polars(table)
        if item_col not in frame.columns:
            raise UsageError(
                f"items have no column {item_col!r} (columns: {', '.join(frame.columns)})",
                hint="name the id column with --item-col",
            )
        frame = frame.unique(subset=[item_col], keep="last", maintain_order=True)
        chosen = [c for c in (text_cols or TEXT_COLUMNS) if c in frame.columns]
        if text_cols and len(chosen) < len(text_cols):
            absent = sorted(set(text_cols) - set(chosen))
            raise UsageError(
                f"items have no text column {absent[0]!r}",
                hint=f"choose from: {', '.join(frame.columns)}",
            )
        parts = [_strings(frame, c) for c in chosen]
        texts = [" ".join(p for p in row if p) for row in zip(*parts, strict=True)] if parts else []
        price = (
            frame[price_col].cast(pl.Float32, strict=False).to_numpy().astype(np.float32)
            if price_col and price_col in frame.columns
            else np.zeros(0, np.float32)
        )
        stock = (
            frame[in_stock_col].cast(pl.Boolean, strict=False).fill_null(True).to_numpy()
            if in_stock_col and in_stock_col in frame.columns
            else np.zeros(0, bool)
        )
        return cls(
            item_ids=frame[item_col].cast(pl.String).to_list(),
            texts=texts,
            category=_strings(frame, category_col),
            species=_strings(frame, species_col),
            price=price,
            season_start=_day_of_year(frame, season_start_col),
            season_end=_day_of_year(frame, season_end_col),
            in_stock=np.asarray(stock, dtype=bool),
        )


def in_season(
    start: npt.NDArray[np.int16], end: npt.NDArray[np.int16], when: date
) -> npt.NDArray[np.bool_]:
    """Which items are in their seasonal window on ``when`` (all-year items always are)."""
    day = when.timetuple().tm_yday
    always = (start < 0) | (end < 0)
    straight = (start <= end) & (start <= day) & (day <= end)
    wrapped = (start > end) & ((day >= start) | (day <= end))
    return np.asarray(always | straight | wrapped, dtype=bool)


def entering_season(start: npt.NDArray[np.int16], when: date, days: int) -> npt.NDArray[np.bool_]:
    """Items whose window opened within the last ``days`` days (they deserve a push)."""
    day = when.timetuple().tm_yday
    since = (day - start.astype(np.int32)) % 366
    return np.asarray((start >= 0) & (since < days), dtype=bool)


def price_band(price: float) -> str:
    """A coarse price word for text features (so 'cheap' and 'premium' items cluster)."""
    if not np.isfinite(price) or price <= 0:
        return ""
    bands = (
        (5, "price_under5"),
        (15, "price_under15"),
        (40, "price_under40"),
        (100, "price_under100"),
    )
    for limit, word in bands:
        if price < limit:
            return word
    return "price_premium"
