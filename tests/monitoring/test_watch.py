from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from kibble.context import Context
from kibble.monitoring import (
    Point,
    default_rules,
    drift_report,
    evaluate_rules,
    list_alerts,
    query_metrics,
    record_drift_report,
    record_metrics,
    watch_feedback_loop,
)
from kibble.monitoring.notifiers import OutboxNotifier, read_outbox
from kibble.monitoring.watch import daily_signals
from tests.monitoring.series import daily_series

DAY = datetime(2026, 11, 1, tzinfo=UTC)


def catalogue(species: list[str], n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({"species": rng.choice(species, n), "price": rng.lognormal(3, 0.4, n)})


def test_cats_launch_is_reported_as_drift_then_resolves(context: Context, tmp_path: Path) -> None:
    outbox = OutboxNotifier(tmp_path / "outbox.jsonl")
    reference = catalogue(["dog"], 5_000, 1)
    launch = pl.concat([catalogue(["dog"], 3_500, 2), catalogue(["cat"], 1_500, 3)])
    report = drift_report(reference, launch)
    outcome = record_drift_report(context, report, DAY, {"table": "events"}, notifiers=[outbox])
    assert outcome is not None and outcome.new
    assert "species" in outcome.alert["message"] and "new: cat" in outcome.alert["message"]
    assert outcome.alert["evidence"]["drifted"] == ["species"]
    psi = query_metrics(context, "drift.psi", DAY - timedelta(days=1), {"feature": "species"})
    assert psi and psi[0].value > 0.2 and psi[0].labels["table"] == "events"

    # The default drift rule watches the same figures and lands on the same alert.
    drift_rule = [r for r in default_rules() if r.kind == "drift"]
    [(result, same)] = evaluate_rules(
        context, drift_rule, now=DAY + timedelta(hours=23), notifiers=[outbox]
    )
    assert result.firing and same is not None and same.action == "repeated"
    assert same.alert["id"] == outcome.alert["id"]
    assert same.alert["evidence"]["drifted"] == ["species"]  # the report's detail is kept
    assert same.alert["evidence"]["rule"] == "drift"

    calm = drift_report(reference, catalogue(["dog"], 5_000, 4))
    closed = record_drift_report(
        context, calm, DAY + timedelta(days=1), {"table": "events"}, notifiers=[outbox]
    )
    assert closed is not None and closed.action == "resolved"
    assert [m["event"] for m in read_outbox(outbox.path)] == ["raised", "resolved"]


def _store_series(context: Context, series: pl.DataFrame) -> None:
    names = {
        "events_per_user": "data.events_per_user",
        "ctr": "model.ctr",
        "feedback_per_impression": "model.feedback_per_impression",
        "latency_p99_ms": "system.latency_p99_ms",
        "error_rate": "system.error_rate",
    }
    points = []
    for row in series.iter_rows(named=True):
        start = datetime(row["day"].year, row["day"].month, row["day"].day, tzinfo=UTC)
        for column, metric in names.items():
            labels = {"table": "events"} if metric.startswith("data.") else {"deployment": "home"}
            points.append(Point(metric, row[column], start, start + timedelta(days=1), labels))
    record_metrics(context, points)


def test_feedback_loop_alert_from_stored_metrics(context: Context, tmp_path: Path) -> None:
    outbox = OutboxNotifier(tmp_path / "outbox.jsonl")
    end = datetime.now(UTC).date()
    series = daily_series(start=end - timedelta(days=55), incident_days=3)
    _store_series(context, series)
    signals = daily_signals(context, "60d", {"deployment": "home"}, {"table": "events"})
    assert signals.height == 56
    assert {"latency_p99_ms", "events_per_user", "ctr"} <= set(signals.columns)

    result = watch_feedback_loop(
        context, labels={"deployment": "home"}, data_labels={"table": "events"}, notifiers=[outbox]
    )
    assert result.verdict.fired
    [alert] = list_alerts(context, kind="feedback_loop")
    assert alert["severity"] == "critical"
    assert "p99 latency" in alert["message"]
    assert set(alert["evidence"]["falling"]) >= {"ctr", "events_per_user"}
    assert alert["evidence"]["signals"]["ctr"]["change"][0] < -0.2
    fired = query_metrics(context, "feedback_loop.fired", "3d", {"deployment": "home"})
    assert [p.value for p in fired] == [1.0]

    healthy = daily_series(start=end - timedelta(days=55))
    again = watch_feedback_loop(context, healthy, {"deployment": "home"}, notifiers=[outbox])
    assert not again.verdict.fired
    assert again.alert is not None and again.alert.action == "resolved"
    assert list_alerts(context, kind="feedback_loop") == []
