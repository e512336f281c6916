"""The narrowing rule: exposure concentrating on fewer items while the catalogue stands."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from kibble.context import Context
from kibble.monitoring import Point, list_alerts, record_metrics
from kibble.monitoring.narrowing import NarrowingConfig, detect_narrowing
from kibble.monitoring.watch import watch_narrowing

START = date(2026, 9, 7)


def exposure_series(
    days: int = 35, *, narrow_days: int = 0, shrink_catalog: bool = False, seed: int = 0
) -> pl.DataFrame:
    """Daily coverage / Gini / catalogue size; the last ``narrow_days`` narrow steadily."""
    rng = np.random.default_rng(seed)
    step = np.clip(np.arange(days) - (days - narrow_days) + 1, 0, None) / max(narrow_days, 1)
    coverage = 0.30 * (1 - 0.5 * step) * np.exp(rng.normal(0, 0.03, days))
    evenness = 0.30 * (1 - 0.5 * step) * np.exp(rng.normal(0, 0.03, days))
    catalog = np.full(days, 10_000.0) * (1 - 0.5 * step if shrink_catalog else 1.0)
    return pl.DataFrame(
        {
            "day": [START + timedelta(days=i) for i in range(days)],
            "coverage": coverage,
            "gini": 1 - evenness,
            "catalog_size": catalog,
        }
    )


@pytest.mark.parametrize("seed", range(4))
def test_concentrating_exposure_with_a_stable_catalogue_fires(seed: int) -> None:
    verdict = detect_narrowing(exposure_series(narrow_days=10, seed=seed))
    assert verdict.fired, verdict.reason
    assert all(e.breached for e in verdict.signals.values())
    assert all(c < -0.15 for c in verdict.signals["coverage"].change)
    assert verdict.catalog["ratio"] == pytest.approx(1.0)
    assert "exposure narrowing" in verdict.reason
    assert verdict.evidence()["signals"]["evenness"]["observed"]


@pytest.mark.parametrize("seed", range(4))
def test_a_shrinking_catalogue_explains_the_narrowing(seed: int) -> None:
    verdict = detect_narrowing(exposure_series(narrow_days=10, shrink_catalog=True, seed=seed))
    assert not verdict.fired
    assert all(e.breached for e in verdict.signals.values())  # it did narrow...
    assert verdict.catalog["ratio"] < 0.95  # ...because the catalogue did
    assert "catalogue shrank" in verdict.reason


@pytest.mark.parametrize("seed", range(4))
def test_steady_exposure_does_not_fire(seed: int) -> None:
    verdict = detect_narrowing(exposure_series(seed=seed))
    assert not verdict.fired, verdict.reason
    assert not any(e.breached for e in verdict.signals.values())


def test_short_or_incomplete_history_is_not_judged() -> None:
    short = detect_narrowing(exposure_series(days=8))
    assert not short.fired and "not enough history" in short.reason
    partial = detect_narrowing(exposure_series().drop("catalog_size"))
    assert not partial.fired and "catalog_size" in partial.reason
    strict = detect_narrowing(
        exposure_series(narrow_days=10), NarrowingConfig(max_catalog_shrink=0.0, min_change=0.9)
    )
    assert not strict.fired


def record_exposure(context: Context, series: pl.DataFrame, deployment: str) -> None:
    points = []
    for row in series.iter_rows(named=True):
        start = datetime(row["day"].year, row["day"].month, row["day"].day, tzinfo=UTC)
        for column in ("coverage", "gini", "catalog_size"):
            points.append(
                Point(f"exposure.{column}", row[column], start, start + timedelta(days=1),
                      {"deployment": deployment})
            )  # fmt: skip
    record_metrics(context, points)


def test_the_stored_series_raise_a_narrowing_alert_with_evidence(context: Context) -> None:
    record_exposure(context, exposure_series(narrow_days=10), "home")
    record_exposure(context, exposure_series(narrow_days=10, shrink_catalog=True), "search")
    last = START + timedelta(days=34)
    home = watch_narrowing(context, "home", today=last, notifiers=[])
    assert home.verdict.fired and home.alert is not None and home.alert.new
    evidence = home.alert.alert["evidence"]
    assert evidence["labels"] == {"deployment": "home"} and evidence["catalog"]["ratio"] == 1.0
    assert evidence["signals"]["coverage"]["breached"]
    search = watch_narrowing(context, "search", today=last, notifiers=[])
    assert not search.verdict.fired and search.alert is None
    assert [a["kind"] for a in list_alerts(context)] == ["narrowing"]
