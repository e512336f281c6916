"""Small helpers shared by the metric calculators: frames in, points out."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa

from kibble.errors import UsageError
from kibble.monitoring.points import Point


def as_frame(data: pl.DataFrame | pa.Table) -> pl.DataFrame:
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pa.Table):
        frame = pl.from_arrow(data)
        if isinstance(frame, pl.DataFrame):
            return frame
    raise UsageError(
        f"expected a polars DataFrame or a pyarrow Table, got {type(data).__name__}",
        hint="convert it with polars.from_pandas / pyarrow.Table.from_pylist",
    )


def require_columns(frame: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{what} lacks the column(s) {', '.join(missing)} (has: {', '.join(frame.columns)})",
            hint="rename the columns or pass columns={...} to map them",
        )


def utc_day(frame: pl.DataFrame, ts: str, every: str = "1d") -> pl.DataFrame:
    """Add a ``day`` column: the UTC window start each row falls in."""
    frame = naive_utc(frame, ts)
    return frame.with_columns(pl.col(ts).dt.truncate(every).alias("day"))


def naive_utc(frame: pl.DataFrame, ts: str) -> pl.DataFrame:
    """The timestamp column as naive UTC, so windows and comparisons line up."""
    dtype = frame.schema[ts]
    if not dtype.is_temporal():
        raise UsageError(
            f"column {ts!r} is {dtype}, not a timestamp",
            hint="cast it to a datetime first",
        )
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return frame.with_columns(pl.col(ts).dt.convert_time_zone("UTC").dt.replace_time_zone(None))
    return frame


def to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def day_points(
    frame: pl.DataFrame,
    name: str,
    label_columns: Mapping[str, str],
    extra: Mapping[str, str],
    width: timedelta = timedelta(days=1),
) -> list[Point]:
    """One point per row of an aggregated frame with ``day`` and ``value`` columns."""
    points = []
    for row in frame.iter_rows(named=True):
        value = row["value"]
        if value is None or not math.isfinite(value):
            continue
        start = to_utc(row["day"])
        labels = {**extra, **{label: str(row[col]) for col, label in label_columns.items()}}
        points.append(Point(name, float(value), start, start + width, labels))
    return points
