"""Daily model metrics from what was served and the feedback it got.

``served``: one row per impression (an item shown in a response), or one row per
response with a list column ``items``:

================= ==================================================================
``ts``            when it was served (datetime) - required
``request_id``    the response it belongs to - required
``item_id``       the item shown (or ``items``: list of item ids) - required
``deployment``    optional group label
``arm``           optional group label (router arm: champion, challenger, shadow...)
``model_version`` optional group label
================= ==================================================================

``feedback``: ``request_id``, ``item_id``, ``event_type`` (``click``, ``add_to_cart``,
``purchase``; other types count toward feedback volume only). Feedback counts on the
day its impression was served.

Metric names per day and group: ``model.impressions``, ``model.clicks``, ``model.ctr``,
``model.add_to_cart_rate``, ``model.conversion_rate``, ``model.feedback_per_impression``,
``model.items_served``, ``model.coverage`` (with ``catalog_size``) and
``model.exposure_gini`` (0 = even exposure, 1 = all on one item).

``exposure_metrics`` gives the same coverage and Gini for the deployment as a whole (all
arms pooled; ``exposure.*``): the series the narrowing detector reads, which must span
model versions because the narrowing it looks for happens across retrains.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import pyarrow as pa

from kibble.monitoring.frames import as_frame, day_points, require_columns, utc_day
from kibble.monitoring.points import Point

GROUP_COLUMNS = ("deployment", "arm", "model_version")
CLICK, CART, PURCHASE = "click", "add_to_cart", "purchase"


def _impressions(served: pl.DataFrame | pa.Table) -> pl.DataFrame:
    frame = as_frame(served)
    if "items" in frame.columns and "item_id" not in frame.columns:
        frame = frame.explode("items").rename({"items": "item_id"})
    require_columns(frame, ["ts", "request_id", "item_id"], "served")
    return utc_day(frame.filter(pl.col("item_id").is_not_null()), "ts")


def model_metrics(
    served: pl.DataFrame | pa.Table,
    feedback: pl.DataFrame | pa.Table | None = None,
    *,
    catalog_size: int | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[Point]:
    frame = _impressions(served)
    groups = [c for c in GROUP_COLUMNS if c in frame.columns]
    keys = ["day", *groups]
    label_map = {c: c for c in groups}
    extra = dict(labels or {})

    impressions = frame.select(*keys, "request_id", "item_id").with_columns(
        pl.col("request_id").cast(pl.String), pl.col("item_id").cast(pl.String)
    )
    if feedback is not None:
        fb = as_frame(feedback)
        require_columns(fb, ["request_id", "item_id", "event_type"], "feedback")
        fb = fb.select(
            pl.col("request_id").cast(pl.String),
            pl.col("item_id").cast(pl.String),
            pl.col("event_type").cast(pl.String),
        )
        per_pair = fb.group_by("request_id", "item_id").agg(
            (pl.col("event_type") == CLICK).sum().alias("clicks"),
            (pl.col("event_type") == CART).sum().alias("carts"),
            (pl.col("event_type") == PURCHASE).sum().alias("purchases"),
            pl.len().alias("feedback"),
        )
        impressions = impressions.join(per_pair, on=["request_id", "item_id"], how="left")
    else:
        impressions = impressions.with_columns(
            *[pl.lit(0).alias(c) for c in ("clicks", "carts", "purchases", "feedback")]
        )
    impressions = impressions.fill_null(0)

    totals = impressions.group_by(keys).agg(
        pl.len().alias("impressions"),
        pl.col("clicks").sum(),
        pl.col("carts").sum(),
        pl.col("purchases").sum(),
        pl.col("feedback").sum(),
        pl.col("item_id").n_unique().alias("items_served"),
    )
    rates = {
        "model.impressions": pl.col("impressions"),
        "model.clicks": pl.col("clicks"),
        "model.ctr": pl.col("clicks") / pl.col("impressions"),
        "model.add_to_cart_rate": pl.col("carts") / pl.col("impressions"),
        "model.conversion_rate": pl.col("purchases") / pl.col("impressions"),
        "model.feedback_per_impression": pl.col("feedback") / pl.col("impressions"),
        "model.items_served": pl.col("items_served"),
    }
    if catalog_size:
        rates["model.coverage"] = pl.col("items_served") / catalog_size
    points: list[Point] = []
    for name, expr in rates.items():
        points += day_points(totals.select(*keys, expr.alias("value")), name, label_map, extra)
    gini = exposure_gini(impressions, keys, catalog_size)
    points += day_points(gini, "model.exposure_gini", label_map, extra)
    return points


def exposure_metrics(
    served: pl.DataFrame | pa.Table,
    *,
    catalog_size: int | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[Point]:
    """Per day, all arms pooled: ``exposure.items_served``, ``exposure.gini`` and, with
    ``catalog_size``, ``exposure.coverage`` and ``exposure.catalog_size``."""
    frame = _impressions(served).select("day", pl.col("item_id").cast(pl.String))
    extra = dict(labels or {})
    shown = frame.group_by("day").agg(pl.col("item_id").n_unique().alias("value"))
    points = day_points(shown, "exposure.items_served", {}, extra)
    points += day_points(exposure_gini(frame, ["day"], catalog_size), "exposure.gini", {}, extra)
    if catalog_size:
        coverage = shown.with_columns(pl.col("value") / catalog_size)
        points += day_points(coverage, "exposure.coverage", {}, extra)
        size = shown.with_columns(pl.lit(float(catalog_size)).alias("value"))
        points += day_points(size, "exposure.catalog_size", {}, extra)
    return points


def exposure_gini(
    impressions: pl.DataFrame, keys: list[str], catalog_size: int | None = None
) -> pl.DataFrame:
    """Gini coefficient of impressions per item within each group.

    With ``catalog_size`` the items never shown count as zero exposure, which is what
    makes a recommender that shows 50 best-sellers out of 100,000 items score near 1.
    """
    per_item = impressions.group_by([*keys, "item_id"]).agg(pl.len().alias("n"))
    shown = pl.len()
    total = pl.col("n").sum()
    size = pl.max_horizontal(pl.lit(catalog_size or 0), shown) if catalog_size else shown
    ranked_sum = (pl.int_range(1, shown + 1) * pl.col("n").sort()).sum()
    zeros = size - shown
    gini = (2 * (zeros * total + ranked_sum)) / (size * total) - (size + 1) / size
    return per_item.group_by(keys).agg(gini.alias("value"))
