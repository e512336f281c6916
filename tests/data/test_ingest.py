from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from kibble.context import Context
from kibble.data.ingest import ingest
from kibble.data.tables import Tables
from kibble.errors import UnsafeInputError, UsageError
from kibble.store.repositories.data import DataRecords
from tests.data.helpers import events, products

DAY = date(2026, 11, 1)


def test_double_ingestion_of_same_file_adds_no_rows(context: Context, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    events(DAY, 50).write_csv(path)
    first = ingest(context, str(path), "events")
    second = ingest(context, str(path), "events")
    assert (first.rows_written, second.rows_written, second.rows_duplicate) == (50, 0, 50)
    assert Tables(context).read("events").num_rows == 50
    assert second.table_version == first.table_version


def test_replace_partition_twice_keeps_one_copy(context: Context) -> None:
    ingest(context, events(DAY, 30), "events")
    ingest(context, events(date(2026, 11, 2), 10), "events")
    for _ in range(2):
        ingest(
            context,
            events(DAY, 40, prefix="r"),
            "events",
            mode="replace-partition",
            partition=str(DAY),
        )
    table = Tables(context).polars("events")
    assert table.filter(pl.col("date") == DAY).height == 40
    assert table.height == 50


def test_time_travel_and_versions_recorded(context: Context) -> None:
    v0 = ingest(context, events(DAY, 10), "events").table_version
    v1 = ingest(context, events(date(2026, 11, 2), 5), "events").table_version
    tables = Tables(context)
    assert tables.read("events", version=v0).num_rows == 10
    assert tables.read("events", version=v1).num_rows == 15
    with context.store.session() as session:
        repo = DataRecords(session, context.project_id)
        versions = repo.versions(repo.dataset("events"))
    assert [(v.version, v.row_count) for v in versions] == [(v1, 15), (v0, 10)]


def test_bad_rows_go_to_quarantine_with_reasons(context: Context) -> None:
    frame = events(DAY, 10).with_columns(
        pl.when(pl.int_range(10) == 3)
        .then(pl.lit("teleport"))
        .otherwise(pl.col("event_type"))
        .alias("event_type"),
        pl.when(pl.int_range(10) == 5)
        .then(pl.lit("x"))
        .otherwise(pl.col("user_id").cast(str))
        .alias("user_id"),
    )
    result = ingest(context, frame, "events")
    assert (result.rows_written, result.rows_rejected) == (8, 2)
    bad = Tables(context).lake.read("events__quarantine").to_pydict()
    reasons = dict(zip(bad["event_id"], bad["_reason"], strict=True))
    assert reasons[f"{DAY}-3"] == "event_type: value not allowed"
    assert reasons[f"{DAY}-5"] == "user_id: not a valid int64"


def test_missing_required_column_is_refused(context: Context) -> None:
    with pytest.raises(UsageError, match="item_id"):
        ingest(context, events(DAY, 3).drop("item_id"), "events")


def test_mapping_renames_source_columns(context: Context) -> None:
    frame = products(5).rename({"item_id": "sku"})
    result = ingest(context, frame, "products", mode="replace", mapping={"item_id": "sku"})
    assert result.rows_written == 5


def test_file_url_and_unknown_table_refused(context: Context) -> None:
    with pytest.raises(UnsafeInputError):
        ingest(context, "file:///etc/passwd", "events")
    with pytest.raises(Exception, match="no contract"):
        ingest(context, events(DAY, 1), "nosuchtable")
    with pytest.raises(UsageError):
        ingest(context, events(DAY, 1), "../evil")
