"""Reading a shop's products: seasons as the shop writes them."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from kibble.errors import UsageError
from kibble.recsys import ItemCatalog
from kibble.recsys.catalog import in_season


def test_seasons_as_month_day_text_dates_or_days() -> None:
    items = pl.DataFrame(
        {
            "item_id": [1, 2, 3, 4],
            "season_start": ["12-01", None, "2026-06-01", "45"],
            "season_end": ["12-26", None, "2026-08-31", "50"],
        }
    )
    catalog = ItemCatalog.from_table(items)
    assert catalog.season_start.tolist() == [335, -1, 152, 45]
    assert catalog.season_end.tolist() == [360, -1, 243, 50]
    christmas = in_season(catalog.season_start, catalog.season_end, date(2026, 12, 24))
    assert christmas.tolist() == [True, True, False, False]


def test_a_season_that_is_not_a_date_is_one_clear_error() -> None:
    items = pl.DataFrame({"item_id": [1], "season_start": ["xmas"]})
    with pytest.raises(UsageError, match="'season_start' has a value 'xmas' that is not a date"):
        ItemCatalog.from_table(items)
