"""Glue from measurements to records and alerts: drift reports and feedback-loop checks.

These are what a daily pipeline step calls: measure (pure modules), store the numbers as
metric points (so ``kibble monitor`` and the dashboard can draw them), and raise or
resolve the matching alert with the evidence attached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl

from kibble.context import Context
from kibble.monitoring.alerts import AlertOutcome, raise_alert, resolve_alert
from kibble.monitoring.drift import DriftReport
from kibble.monitoring.feedback_loop import LoopConfig, LoopVerdict, detect_feedback_loop
from kibble.monitoring.narrowing import NarrowingConfig, NarrowingVerdict, detect_narrowing
from kibble.monitoring.notifiers import Notifier
from kibble.monitoring.points import Point, day_window
from kibble.monitoring.rules import fingerprint
from kibble.monitoring.store import query_metrics, record_metrics

SIGNAL_METRICS: dict[str, tuple[str, str]] = {
    "events_per_user": ("data.events_per_user", "mean"),
    "feedback_per_impression": ("model.feedback_per_impression", "mean"),
    "ctr": ("model.ctr", "mean"),
    "session_length": ("data.session_length", "mean"),
    "latency_p99_ms": ("system.latency_p99_ms", "max"),
    "error_rate": ("system.error_rate", "mean"),
}
"""Detector signal -> (stored metric, how several points of one day combine)."""
EXPOSURE_METRICS = {
    "coverage": "exposure.coverage",
    "gini": "exposure.gini",
    "catalog_size": "exposure.catalog_size",
}
"""Narrowing detector column -> stored metric (one point per deployment and day)."""


@dataclass
class WatchResult:
    verdict: LoopVerdict
    alert: AlertOutcome | None


@dataclass
class NarrowingResult:
    verdict: NarrowingVerdict
    alert: AlertOutcome | None


def drift_points(
    report: DriftReport, day: datetime, labels: Mapping[str, str] | None = None
) -> list[Point]:
    """A drift report as metric points: ``drift.psi``, ``drift.js``, ``drift.ks`` per
    feature, and ``drift.features_drifted`` for the day."""
    start, end = day_window(day)
    extra = dict(labels or {})
    points = [Point("drift.features_drifted", float(len(report.drifted)), start, end, extra)]
    for feature in report.features:
        tags = {**extra, "feature": feature.feature}
        points.append(Point("drift.psi", feature.psi, start, end, tags))
        points.append(Point("drift.js", feature.js, start, end, tags))
        if feature.ks_statistic is not None:
            points.append(Point("drift.ks", feature.ks_statistic, start, end, tags))
    return points


def record_drift_report(
    context: Context,
    report: DriftReport,
    day: datetime,
    labels: Mapping[str, str] | None = None,
    *,
    alert: bool = True,
    notifiers: Sequence[Notifier] | None = None,
) -> AlertOutcome | None:
    """Store the day's drift figures; raise one ``drift`` alert naming the top movers,
    or resolve it when nothing drifted."""
    record_metrics(context, drift_points(report, day, labels))
    if not alert:
        return None
    key = fingerprint("drift", dict(labels or {}))
    if not report.drifted:
        return resolve_alert(context, key, "no feature drifted", notifiers=notifiers)
    movers = [f for f in report.features if f.drifted]
    names = ", ".join(
        f"{f.feature} (PSI {f.psi:.2f}"
        + (f", new: {', '.join(f.new_categories[:3])}" if f.new_categories else "")
        + ")"
        for f in movers[:5]
    )
    return raise_alert(
        context,
        "drift",
        key,
        f"{len(movers)} feature(s) drifted on {day.date().isoformat()}: {names}",
        {"day": day.date().isoformat(), **report.as_dict()},
        "warning",
        notifiers=notifiers,
    )


def _daily_frame(
    context: Context,
    metrics: Mapping[str, tuple[str, Mapping[str, str] | None, str]],
    since: datetime | timedelta | str,
    until: datetime | None,
) -> pl.DataFrame:
    """One row per UTC day, one column per signal: (metric, labels, how a day combines)."""
    frames = []
    for signal, (metric, wanted, how) in metrics.items():
        points = query_metrics(context, metric, since, dict(wanted or {}) or None, until=until)
        if not points:
            continue
        frame = pl.DataFrame(
            {"day": [p.window_start.date() for p in points], signal: [p.value for p in points]}
        )
        agg = pl.col(signal).max() if how == "max" else pl.col(signal).mean()
        frames.append(frame.group_by("day").agg(agg))
    if not frames:
        return pl.DataFrame({"day": []}, schema={"day": pl.Date})
    result = frames[0]
    for frame in frames[1:]:
        result = result.join(frame, on="day", how="full", coalesce=True)
    return result.sort("day")


def _judged_until(today: date | None) -> tuple[datetime | None, datetime | str]:
    """Judge ``today`` on the 60 days before it, not on the wall clock: a backfill or a
    replayed day must get the same verdict as on the day itself."""
    if today is None:
        return None, "60d"
    end = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    return end, end - timedelta(days=61)


def daily_signals(
    context: Context,
    since: datetime | timedelta | str = "35d",
    labels: Mapping[str, str] | None = None,
    data_labels: Mapping[str, str] | None = None,
    until: datetime | None = None,
) -> pl.DataFrame:
    """The detector's daily series built from stored metrics (one row per UTC day).

    ``labels`` (e.g. a deployment) select the model and system series; data series
    (events per user, session length) belong to tables, not deployments, so they are
    selected by ``data_labels`` instead (e.g. ``{"table": "events"}``).
    """
    metrics = {
        signal: (metric, data_labels if metric.startswith("data.") else labels, how)
        for signal, (metric, how) in SIGNAL_METRICS.items()
    }
    return _daily_frame(context, metrics, since, until)


def watch_feedback_loop(
    context: Context,
    series: pl.DataFrame | None = None,
    labels: Mapping[str, str] | None = None,
    *,
    data_labels: Mapping[str, str] | None = None,
    config: LoopConfig | None = None,
    today: date | None = None,
    notifiers: Sequence[Notifier] | None = None,
) -> WatchResult:
    """Run the detector (on ``series`` or on stored metrics) and raise or resolve the
    ``feedback_loop`` alert for these labels, with the per-signal evidence."""
    tags = dict(labels or {})
    if series is None:
        end, since = _judged_until(today)
        series = daily_signals(context, since, tags, data_labels, until=end)
    frame = series
    verdict = detect_feedback_loop(frame, config)
    key = fingerprint("feedback_loop", tags)
    last = today or (date.fromisoformat(verdict.days[-1]) if verdict.days else None)
    if last is not None:
        start = datetime(last.year, last.month, last.day, tzinfo=UTC)
        record_metrics(
            context,
            [Point("feedback_loop.fired", float(verdict.fired), *day_window(start), tags)],
        )
    if verdict.fired:
        outcome: AlertOutcome | None = raise_alert(
            context,
            "feedback_loop",
            key,
            verdict.reason,
            {"labels": tags, **verdict.evidence()},
            "critical",
            notifiers=notifiers,
        )
    else:
        outcome = resolve_alert(context, key, verdict.reason, notifiers=notifiers)
    return WatchResult(verdict, outcome)


def watch_narrowing(
    context: Context,
    deployment: str,
    *,
    config: NarrowingConfig | None = None,
    today: date | None = None,
    notifiers: Sequence[Notifier] | None = None,
) -> NarrowingResult:
    """Run the narrowing detector on a deployment's stored ``exposure.*`` series and raise
    or resolve its ``narrowing`` alert, with coverage, evenness and catalogue evidence."""
    tags = {"deployment": deployment}
    end, since = _judged_until(today)
    metrics = {column: (metric, tags, "mean") for column, metric in EXPOSURE_METRICS.items()}
    verdict = detect_narrowing(_daily_frame(context, metrics, since, end), config)
    key = fingerprint("narrowing", tags)
    last = today or (date.fromisoformat(verdict.days[-1]) if verdict.days else None)
    if last is not None:
        start = datetime(last.year, last.month, last.day, tzinfo=UTC)
        record_metrics(
            context, [Point("narrowing.fired", float(verdict.fired), *day_window(start), tags)]
        )
    if verdict.fired:
        outcome: AlertOutcome | None = raise_alert(
            context,
            "narrowing",
            key,
            verdict.reason,
            {"labels": tags, **verdict.evidence()},
            "warning",
            notifiers=notifiers,
        )
    else:
        outcome = resolve_alert(context, key, verdict.reason, notifiers=notifiers)
    return NarrowingResult(verdict, outcome)
