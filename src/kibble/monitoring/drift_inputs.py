"""Feature frames for the two drifts the platform watches, built from its own tables.

Input drift: what users do (event type mix, the categories, species and price of the
items they touch) and how active they are (events per user). Prediction drift: what the
model serves (categories, species, prices of served items, and scores when logged).
Both join items to the ``products`` catalogue (``item_id``, ``category``, ``species``,
``price``) when given. Pure Polars; the result is an ordinary ``DriftReport``.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import pyarrow as pa

from kibble.monitoring.drift import DEFAULT_THRESHOLD, DriftReport, Threshold, drift_report
from kibble.monitoring.frames import as_frame, require_columns

PRODUCT_FEATURES = ("category", "species", "price")


def _with_products(frame: pl.DataFrame, products: pl.DataFrame | pa.Table | None) -> pl.DataFrame:
    if products is None:
        return frame
    catalogue = as_frame(products)
    require_columns(catalogue, ["item_id"], "products")
    wanted = [c for c in PRODUCT_FEATURES if c in catalogue.columns and c not in frame.columns]
    catalogue = catalogue.select(pl.col("item_id").cast(pl.String), *wanted)
    joined = frame.with_columns(pl.col("item_id").cast(pl.String))
    return joined.join(catalogue, on="item_id", how="left")


def _merge(reports: list[DriftReport]) -> DriftReport:
    features = sorted((f for r in reports for f in r.features), key=lambda f: f.psi, reverse=True)
    return DriftReport(features, reports[0].reference_rows, reports[0].current_rows)


def input_drift(
    reference_events: pl.DataFrame | pa.Table,
    current_events: pl.DataFrame | pa.Table,
    products: pl.DataFrame | pa.Table | None = None,
    *,
    thresholds: Mapping[str, Threshold] | None = None,
    default: Threshold = DEFAULT_THRESHOLD,
) -> DriftReport:
    """Event type mix, item category / species / price touched, and events per user."""
    frames = []
    for events in (reference_events, current_events):
        frame = as_frame(events)
        require_columns(frame, ["user_id", "event_type"], "events")
        if "item_id" in frame.columns:
            frame = _with_products(frame, products)
        frames.append(frame)
    ref, cur = frames
    columns = [
        "event_type",
        *[c for c in PRODUCT_FEATURES if c in ref.columns and c in cur.columns],
    ]
    per_event = drift_report(
        ref, cur, features=columns, thresholds=thresholds, default_threshold=default
    )

    def activity(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.group_by("user_id").agg(pl.len().cast(pl.Float64).alias("events_per_user"))

    per_user = drift_report(
        activity(ref),
        activity(cur),
        features=["events_per_user"],
        thresholds=thresholds,
        default_threshold=default,
    )
    return _merge([per_event, per_user])


def prediction_drift(
    reference_served: pl.DataFrame | pa.Table,
    current_served: pl.DataFrame | pa.Table,
    products: pl.DataFrame | pa.Table | None = None,
    *,
    thresholds: Mapping[str, Threshold] | None = None,
    default: Threshold = DEFAULT_THRESHOLD,
) -> DriftReport:
    """What was served: categories, species and prices of served items, and ``score``."""
    frames = []
    for served in (reference_served, current_served):
        frame = as_frame(served)
        if "items" in frame.columns and "item_id" not in frame.columns:
            frame = frame.explode("items").rename({"items": "item_id"})
        require_columns(frame, ["item_id"], "served")
        frames.append(_with_products(frame, products))
    ref, cur = frames
    columns = [c for c in (*PRODUCT_FEATURES, "score") if c in ref.columns and c in cur.columns]
    if not columns:
        columns = ["item_id"]
    return drift_report(
        ref, cur, features=columns, thresholds=thresholds, default_threshold=default
    )
