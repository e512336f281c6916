"""System metrics from request logs: rate, errors and latency percentiles per arm.

``requests`` columns: ``ts`` (datetime), ``latency_ms`` (float), and either ``status``
(HTTP status; >= 500 is an error) or ``error`` (bool); optional group labels
``deployment`` and ``arm``. Windows default to one hour; pass ``every="1d"`` for days.

Metric names: ``system.requests``, ``system.request_rate`` (per second),
``system.error_rate``, ``system.latency_p50_ms``, ``system.latency_p95_ms``,
``system.latency_p99_ms``.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import pyarrow as pa

from kibble.errors import UsageError
from kibble.monitoring.frames import as_frame, day_points, require_columns, utc_day
from kibble.monitoring.points import Point, parse_duration

GROUP_COLUMNS = ("deployment", "arm")


def system_metrics(
    requests: pl.DataFrame | pa.Table,
    *,
    every: str = "1h",
    labels: Mapping[str, str] | None = None,
) -> list[Point]:
    frame = as_frame(requests)
    require_columns(frame, ["ts", "latency_ms"], "requests")
    if "error" in frame.columns:
        failed = pl.col("error").cast(pl.Boolean)
    elif "status" in frame.columns:
        failed = pl.col("status").cast(pl.Int64) >= 500
    else:
        raise UsageError(
            "requests need a 'status' (HTTP code) or an 'error' (bool) column",
            hint="add one so the error rate can be computed",
        )
    width = parse_duration(every)
    polars_every = f"{int(width.total_seconds())}s"
    frame = utc_day(frame, "ts", polars_every)
    groups = [c for c in GROUP_COLUMNS if c in frame.columns]
    keys = ["day", *groups]
    latency = pl.col("latency_ms").cast(pl.Float64)
    totals = frame.group_by(keys).agg(
        pl.len().alias("requests"),
        failed.sum().alias("errors"),
        latency.quantile(0.50, "linear").alias("p50"),
        latency.quantile(0.95, "linear").alias("p95"),
        latency.quantile(0.99, "linear").alias("p99"),
    )
    rates = {
        "system.requests": pl.col("requests"),
        "system.request_rate": pl.col("requests") / width.total_seconds(),
        "system.error_rate": pl.col("errors") / pl.col("requests"),
        "system.latency_p50_ms": pl.col("p50"),
        "system.latency_p95_ms": pl.col("p95"),
        "system.latency_p99_ms": pl.col("p99"),
    }
    extra = dict(labels or {})
    label_map = {c: c for c in groups}
    points: list[Point] = []
    for name, expr in rates.items():
        points += day_points(
            totals.select(*keys, expr.alias("value")), name, label_map, extra, width
        )
    return points
