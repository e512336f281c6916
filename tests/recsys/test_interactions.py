from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from kibble.errors import UsageError
from kibble.recsys import Interactions, ItemCatalog
from kibble.recsys.catalog import entering_season, in_season


def _events() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b"],
            "item_id": ["x", "x", "y", "x", "z"],
            "event": ["view", "click", "purchase", "add_to_cart", "view"],
            "timestamp": [0.0, 86_400.0, 86_400.0 * 2, 86_400.0 * 2, 0.0],
        }
    )


def test_event_weights_add_up_and_ids_are_sorted() -> None:
    inter = Interactions.from_events(_events(), event_col="event")
    assert inter.user_ids == ["a", "b"]
    assert inter.item_ids == ["x", "y", "z"]
    assert inter.matrix.dtype == np.float32
    assert inter.matrix.toarray().tolist() == [[3.0, 8.0, 0.0], [4.0, 0.0, 1.0]]
    # purchases mark what must not be recommended again
    assert inter.exclude.toarray().tolist() == [[0, 1, 0], [0, 0, 0]]


def test_custom_weights_and_time_decay() -> None:
    inter = Interactions.from_events(
        _events(), event_col="event", event_weights={"view": 1, "click": 1}, half_life_days=1.0
    )
    # reference time is day 2: a view on day 0 is worth 1/4, a click on day 1 worth 1/2
    assert inter.matrix[0, 0] == pytest.approx(0.25 + 0.5)
    assert inter.matrix[1, 2] == pytest.approx(0.25)
    assert inter.matrix[0, 1] == 0  # purchase weight not given: 0, and dropped


def test_weight_column_and_arrow_input() -> None:
    table = pa.table({"u": ["1", "2"], "i": ["p", "p"], "rating": [5.0, 3.0], "t": [1, 2]})
    inter = Interactions.from_events(
        table, user_col="u", item_col="i", time_col="t", weight_col="rating"
    )
    assert inter.matrix.toarray().ravel().tolist() == [5.0, 3.0]
    assert inter.exclude.nnz == 0


def test_datetime_and_iso_string_times() -> None:
    when = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)]
    frame = pl.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "timestamp": when})
    inter = Interactions.from_events(frame)
    assert inter.times.tolist() == [w.timestamp() for w in when]
    as_text = frame.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S"))
    assert Interactions.from_events(as_text).times.tolist() == inter.times.tolist()


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match="no column 'customer'"):
        Interactions.from_events(_events(), user_col="customer")


def test_select_keeps_mappings_and_exclusions() -> None:
    inter = Interactions.from_events(_events(), event_col="event")
    later = inter.select(inter.times >= 86_400.0 * 2)
    assert later.item_ids == inter.item_ids and later.user_ids == inter.user_ids
    assert later.matrix.toarray().tolist() == [[0.0, 8.0, 0.0], [4.0, 0.0, 0.0]]
    assert later.exclude.toarray().tolist() == [[0, 1, 0], [0, 0, 0]]


def test_with_items_widens_without_changing_existing_columns() -> None:
    inter = Interactions.from_events(_events(), event_col="event")
    wide = inter.with_items(["z", "new"])
    assert wide.item_ids == ["x", "y", "z", "new"]
    assert wide.matrix.shape == (2, 4)
    assert wide.matrix[:, :3].toarray().tolist() == inter.matrix.toarray().tolist()


def test_season_windows_including_new_year_wrap() -> None:
    start = np.array([-1, 100, 350], dtype=np.int16)
    end = np.array([-1, 120, 10], dtype=np.int16)
    day_110 = datetime(2026, 4, 20).date()  # day 110
    assert in_season(start, end, day_110).tolist() == [True, True, False]
    jan_5 = datetime(2026, 1, 5).date()
    assert in_season(start, end, jan_5).tolist() == [True, False, True]
    assert entering_season(start, day_110, 14).tolist() == [False, True, False]


def test_catalog_reads_dates_and_refuses_duplicates() -> None:
    frame = pl.DataFrame(
        {
            "item_id": ["a", "b"],
            "title": ["red ball", "blue bed"],
            "season_start": [datetime(2026, 12, 1).date(), None],
            "season_end": [datetime(2026, 12, 31).date(), None],
        }
    )
    catalog = ItemCatalog.from_table(frame)
    assert catalog.season_start.tolist() == [335, -1]
    assert catalog.in_stock.tolist() == [True, True]
    assert catalog.texts == ["red ball", "blue bed"]
    with pytest.raises(UsageError, match="twice"):
        ItemCatalog(item_ids=["a", "a"])
