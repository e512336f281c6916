"""Monitor a live deployment from what kibble stored: the request log, its feedback, the lake.

Every UTC day the window touches is recomputed in full from the log (a day in progress
is provisional and replaced by the next pass), so a pass at 14:00 never overwrites
yesterday's point with half a day. Prediction drift compares the window's answers with
the window of the same length just before it; input drift does the same with the
events table. Catalogue coverage counts the products table's items (in stock, when it
has an ``in_stock`` column) as of the pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from kibble.context import Context
from kibble.data.tables import Tables
from kibble.errors import NotFoundError, UsageError
from kibble.monitoring.feedback_loop import LoopConfig
from kibble.monitoring.monitor import MonitorReport, Observed, run_monitors
from kibble.monitoring.narrowing import NarrowingConfig
from kibble.monitoring.notifiers import Notifier
from kibble.monitoring.rules import Rule
from kibble.monitoring.store import since_time
from kibble.store.repositories.deployments import Deployments
from kibble.store.repositories.serving import ServedRequests

PRODUCT_COLUMNS = ("item_id", "category", "species", "price", "in_stock")
LOG_SCHEMA = pl.Schema(
    {
        "request_id": pl.String(),
        "arm": pl.String(),
        "model_version": pl.String(),
        "items": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "latency_ms": pl.Float64(),
        "error": pl.String(),
        "shadow_of": pl.String(),
    }
)
ITEMS = pl.List(pl.Struct({"item_id": pl.String(), "score": pl.Float64()}))


def window(
    since: datetime | timedelta | str, until: datetime | None = None
) -> tuple[datetime, datetime]:
    """``[start, end)``: ``since`` back from ``until`` (now), widened to whole UTC days."""
    end = until or datetime.now(UTC)
    if end.tzinfo is None:
        raise UsageError(
            "until must be a timezone-aware time", hint="use e.g. datetime(..., tzinfo=UTC)"
        )
    start = since_time(since, end).astimezone(UTC)
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if start >= end:
        raise UsageError(
            f"the monitoring window starts ({start:%Y-%m-%d}) after it ends ({end:%Y-%m-%d})",
            hint="give --since a positive duration such as 1d or 7d",
        )
    return start, end


def _decode(items: pl.Series) -> pl.Series:
    """The logged ``items`` JSON, decoded in bulk: ``{item_id, score}`` per item shown."""
    try:
        return items.str.json_decode(ITEMS)
    except pl.exceptions.ComputeError:  # a log of plain item ids, without scores
        ids = items.str.json_decode(pl.List(pl.String()))
        score = pl.lit(None, pl.Float64()).alias("score")
        return ids.list.eval(pl.struct(pl.element().alias("item_id"), score))


def log_frames(log: Mapping[str, Sequence[Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The request log's columns (``ServedRequests.window``) as ``served`` (one row per
    item shown to a user) and ``requests`` (one row per answer computed, shadow copies
    and failures included)."""
    frame = pl.DataFrame({name: list(log[name]) for name in LOG_SCHEMA}, schema=LOG_SCHEMA)
    requests = frame.select("ts", "latency_ms", pl.col("error").is_not_null().alias("error"), "arm")
    shown = frame.filter(pl.col("shadow_of").is_null() & pl.col("error").is_null())
    served = (
        shown.select("ts", "request_id", "arm", "model_version", _decode(shown["items"]))
        .explode("items")
        .drop_nulls("items")
        .unnest("items")
    )
    return served, requests


def catalogue(products: pl.DataFrame) -> int:
    """Items a model may show: in stock when the table says, otherwise every row."""
    if "in_stock" in products.columns:
        return int(products["in_stock"].fill_null(False).sum())
    return products["item_id"].n_unique()


def _declared(context: Context, deployment: str) -> bool:
    """A deployment the applied factory declares is known before anything is served."""
    from kibble.factory.applied import rollout_policy

    return rollout_policy(context, deployment) is not None


def monitor_deployment(
    context: Context,
    deployment: str,
    *,
    since: datetime | timedelta | str = "1d",
    until: datetime | None = None,
    events_table: str = "events",
    products_table: str = "products",
    rules: Sequence[Rule] | None = None,
    loop_config: LoopConfig | None = None,
    narrowing_config: NarrowingConfig | None = None,
    notifiers: Sequence[Notifier] | None = None,
) -> MonitorReport:
    """Monitor one deployment over ``since`` (``"1d"``, a timedelta or a time) up to
    ``until`` (now): metrics per arm, system metrics from measured latencies, input and
    prediction drift, feedback-loop and narrowing checks, and the alert rules in force
    (the applied factory's, else the defaults). Tables the project lacks are skipped and
    named in the report's ``notes``."""
    start, end = window(since, until)
    reference_start = start - (end - start)
    with context.store.session() as session:
        log = ServedRequests(session, context.project_id)
        columns = log.window(deployment, reference_start, end)
        feedback = log.feedback(deployment, start, end)
        known = Deployments(session, context.project_id).get(deployment) is not None
    if not columns["request_id"] and not known and not _declared(context, deployment):
        raise NotFoundError(
            f"no deployment {deployment!r} in project {context.project!r}, "
            "and no answers logged under that name",
            hint="check the name `kibble serve --deployment` was started with",
        )
    served, requests = log_frames(columns)
    notes: list[str] = []
    observed = Observed()
    current = requests.filter(pl.col("ts") >= start)
    if current.height:
        observed.requests = current
        observed.served = served.filter(pl.col("ts") >= start)
        observed.feedback = pl.DataFrame(
            feedback,
            schema={"request_id": pl.String, "item_id": pl.String, "event_type": pl.String},
        )
        previous = served.filter(pl.col("ts") < start)
        observed.reference_served = previous if previous.height else None
    else:
        notes.append(f"no answers logged for {deployment} since {start:%Y-%m-%d}")
    tables = Tables(context)
    try:
        products = tables.polars(products_table)
        wanted = [c for c in PRODUCT_COLUMNS if c in products.columns]
        observed.products = products.select(wanted)
        observed.catalog_size = catalogue(products)
    except NotFoundError:
        notes.append(f"no {products_table} table: coverage and narrowing not measured")
    try:
        frame = _between(tables.scan(events_table), reference_start, end)
        observed.events = frame.filter(pl.col("ts") >= start.replace(tzinfo=None))
        previous = frame.filter(pl.col("ts") < start.replace(tzinfo=None))
        observed.reference_events = previous if previous.height else None
    except NotFoundError:
        notes.append(f"no {events_table} table: data metrics and input drift not measured")
    report = run_monitors(
        context,
        start,
        end,
        observed,
        deployment=deployment,
        table=events_table,
        rules=rules,
        loop_config=loop_config,
        narrowing_config=narrowing_config,
        notifiers=notifiers,
    )
    report.notes = notes + report.notes
    return report


def _between(events: pl.LazyFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """Events with ``start <= ts < end``, their ``ts`` as naive UTC (pushed down to the scan)."""
    dtype = events.collect_schema().get("ts")
    if not isinstance(dtype, pl.Datetime):
        raise UsageError(
            "the events table needs a timestamp column 'ts' to be monitored",
            hint="pass events_table= a table with ts, user_id and event_type columns",
        )
    ts = pl.col("ts")
    if dtype.time_zone is not None:
        ts = ts.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    low, high = start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None)
    naive = events.with_columns(ts.alias("ts"))
    return naive.filter(pl.col("ts").is_between(low, high, "left")).collect()
