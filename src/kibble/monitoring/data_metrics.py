"""Daily data metrics from an events table: volumes, active users, null rates, lateness.

Input columns (Arrow or Polars; names can be remapped with ``columns=``):

=============== =================================================================
``ts``          event time (datetime, UTC or naive UTC) - required
``user_id``     who acted - required
``event_type``  view / click / add_to_cart / purchase ... - required
``segment``     optional: a segment label (country, device, new vs returning)
``session_id``  optional: sessions give ``data.sessions`` and ``data.session_length``
``ingested_at`` optional: when the row landed; rows landing more than ``late_after``
                after the end of their event day count as late arrivals
=============== =================================================================

Output metric names (one point per UTC day): ``data.events`` (label: event_type),
``data.events_by_segment`` (labels: event_type, segment; when there is a segment),
``data.events_total``, ``data.active_users`` (distinct non-null users),
``data.events_per_user``, ``data.null_rate`` (label: column), ``data.late_rows``,
``data.sessions`` and ``data.session_length`` (mean events per session);
``volume_ratios`` turns daily totals into ``data.volume_ratio`` for the volume rule.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import polars as pl
import pyarrow as pa

from kibble.monitoring.frames import as_frame, day_points, naive_utc, require_columns, utc_day
from kibble.monitoring.points import Point

DEFAULT_COLUMNS = {
    "ts": "ts",
    "user_id": "user_id",
    "event_type": "event_type",
    "segment": "segment",
    "ingested_at": "ingested_at",
    "session_id": "session_id",
}


def data_metrics(
    events: pl.DataFrame | pa.Table,
    *,
    columns: Mapping[str, str] | None = None,
    late_after: timedelta = timedelta(hours=6),
    labels: Mapping[str, str] | None = None,
) -> list[Point]:
    """Points for each UTC day present in ``events`` (see the module doc for names)."""
    names = {**DEFAULT_COLUMNS, **(columns or {})}
    frame = as_frame(events)
    require_columns(frame, [names["ts"], names["user_id"], names["event_type"]], "events")
    ts, user, kind = names["ts"], names["user_id"], names["event_type"]
    frame = utc_day(frame, ts)
    extra = dict(labels or {})
    points: list[Point] = []

    per_type = frame.group_by("day", kind).agg(pl.len().alias("value"))
    points += day_points(per_type, "data.events", {kind: "event_type"}, extra)
    segment = names["segment"]
    if segment in frame.columns:
        per_segment = frame.group_by("day", kind, segment).agg(pl.len().alias("value"))
        points += day_points(
            per_segment, "data.events_by_segment", {kind: "event_type", segment: "segment"}, extra
        )

    daily = frame.group_by("day").agg(
        pl.len().alias("events"),
        pl.col(user).drop_nulls().n_unique().alias("users"),
        *[pl.col(c).null_count().alias(f"null::{c}") for c in frame.columns if c != "day"],
    )
    daily = daily.with_columns(
        (pl.col("events") / pl.max_horizontal(pl.col("users"), 1)).alias("per_user")
    )
    points += day_points(daily.rename({"events": "value"}), "data.events_total", {}, extra)
    points += day_points(daily.rename({"users": "value"}), "data.active_users", {}, extra)
    points += day_points(daily.rename({"per_user": "value"}), "data.events_per_user", {}, extra)
    null_columns = [c for c in daily.columns if c.startswith("null::")]
    nulls = daily.unpivot(index=["day", "events"], on=null_columns, variable_name="column")
    nulls = nulls.with_columns(
        pl.col("column").str.strip_prefix("null::"),
        (pl.col("value") / pl.col("events")).alias("value"),
    )
    points += day_points(nulls, "data.null_rate", {"column": "column"}, extra)

    session = names["session_id"]
    if session in frame.columns:
        sessions = (
            frame.filter(pl.col(session).is_not_null())
            .group_by("day", session)
            .agg(pl.len().alias("n"))
            .group_by("day")
            .agg(pl.len().alias("sessions"), pl.col("n").mean().alias("length"))
        )
        points += day_points(sessions.rename({"sessions": "value"}), "data.sessions", {}, extra)
        points += day_points(sessions.rename({"length": "value"}), "data.session_length", {}, extra)

    ingested = names["ingested_at"]
    if ingested in frame.columns:
        frame = naive_utc(frame, ingested)
        deadline = pl.col("day") + pl.duration(days=1) + pl.lit(late_after)
        late = frame.group_by("day").agg((pl.col(ingested) > deadline).sum().alias("value"))
        points += day_points(late, "data.late_rows", {}, extra)
    return points


def volume_ratios(
    totals: Sequence[Point], *, weeks: int = 4, name: str = "data.volume_ratio"
) -> list[Point]:
    """Each day's volume over the median of the same weekday in the previous ``weeks``.

    Input: daily ``data.events_total`` points (any labels; each label set is its own
    series). A Sunday is compared with earlier Sundays, so the weekend dip reads ~1.0
    and a half-delivered day reads ~0.5. Days without a same-weekday history are skipped.
    """
    series: dict[str, dict[datetime, Point]] = {}
    for point in totals:
        series.setdefault(point.labels_key, {})[point.window_start] = point
    ratios = []
    for by_day in series.values():
        for start, point in sorted(by_day.items()):
            history = [
                by_day[start - timedelta(weeks=k)].value
                for k in range(1, weeks + 1)
                if start - timedelta(weeks=k) in by_day
            ]
            expected = statistics.median(history) if history else 0.0
            if expected > 0:
                ratios.append(
                    Point(name, point.value / expected, start, point.window_end, point.labels)
                )
    return ratios
