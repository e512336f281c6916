"""One call per day that runs every monitor: what a daily pipeline's monitoring step does.

``monitor_day`` turns the day's frames into metric points (data, model, system), adds
volume ratios from the stored history, writes the drift report, runs the feedback-loop
detector on the stored series and evaluates the alert rules, raising what breaches and
resolving what cleared. Each input is optional, so a caller passes what it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias

import polars as pl
import pyarrow as pa

from kibble.context import Context
from kibble.monitoring.alerts import AlertOutcome, evaluate_rules
from kibble.monitoring.data_metrics import data_metrics, volume_ratios
from kibble.monitoring.drift import DriftReport, Threshold, drift_report
from kibble.monitoring.drift_inputs import input_drift
from kibble.monitoring.feedback_loop import LoopConfig, LoopVerdict
from kibble.monitoring.model_metrics import model_metrics
from kibble.monitoring.notifiers import Notifier
from kibble.monitoring.points import Point
from kibble.monitoring.rules import Rule, default_rules
from kibble.monitoring.store import query_metrics, record_metrics
from kibble.monitoring.system_metrics import system_metrics
from kibble.monitoring.watch import record_drift_report, watch_feedback_loop

Frame: TypeAlias = pl.DataFrame | pa.Table


@dataclass
class DailySummary:
    day: date
    points: int = 0
    drift: DriftReport | None = None
    loop: LoopVerdict | None = None
    alerts: list[AlertOutcome] = field(default_factory=list)

    @property
    def raised(self) -> list[str]:
        """Kinds of the alerts this day opened or escalated."""
        return [a.alert["kind"] for a in self.alerts if a.action in ("raised", "escalated")]

    @property
    def resolved(self) -> list[str]:
        return [a.alert["kind"] for a in self.alerts if a.action == "resolved"]


def monitor_day(
    context: Context,
    day: date,
    *,
    events: Frame | None = None,
    served: Frame | None = None,
    feedback: Frame | None = None,
    requests: Frame | None = None,
    reference_events: Frame | None = None,
    products: Frame | None = None,
    drift_reference: Frame | None = None,
    drift_current: Frame | None = None,
    drift_thresholds: dict[str, Threshold] | None = None,
    catalog_size: int | None = None,
    deployment: str = "",
    table: str = "events",
    rules: Sequence[Rule] | None = None,
    loop_config: LoopConfig | None = None,
    notifiers: Sequence[Notifier] | None = None,
) -> DailySummary:
    """Record the day's metrics and act on them. Re-running a day replaces its points;
    alerts deduplicate, so a re-run does not notify twice.

    Drift: pass ``drift_reference`` and ``drift_current`` feature frames, or
    ``reference_events`` (and ``products``) to compare the day's events with them
    (``input_drift``).
    """
    summary = DailySummary(day)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    data_labels = {"table": table}
    model_labels = {"deployment": deployment} if deployment else {}

    points: list[Point] = []
    if events is not None:
        points += data_metrics(events, labels=data_labels)
    if served is not None:
        points += model_metrics(served, feedback, catalog_size=catalog_size, labels=model_labels)
    if requests is not None:
        points += system_metrics(requests, every="1h", labels=model_labels)
    summary.points = record_metrics(context, points)
    totals = query_metrics(context, "data.events_total", end - timedelta(days=35), data_labels)
    summary.points += record_metrics(
        context, [p for p in volume_ratios(totals) if p.window_start == start]
    )

    settings = context.settings
    outcomes: list[AlertOutcome | None] = []
    threshold = Threshold("psi", settings.monitoring.drift_psi_threshold)
    if drift_reference is not None and drift_current is not None:
        summary.drift = drift_report(
            drift_reference,
            drift_current,
            thresholds=drift_thresholds,
            default_threshold=threshold,
        )
    elif reference_events is not None and events is not None:
        summary.drift = input_drift(
            reference_events, events, products, thresholds=drift_thresholds, default=threshold
        )
    if summary.drift is not None:
        outcomes.append(
            record_drift_report(context, summary.drift, start, data_labels, notifiers=notifiers)
        )
    watched = watch_feedback_loop(
        context,
        labels=model_labels,
        data_labels=data_labels,
        config=loop_config,
        today=day,
        notifiers=notifiers,
    )
    summary.loop = watched.verdict
    outcomes.append(watched.alert)
    chosen = (
        list(rules)
        if rules is not None
        else [
            r
            for r in default_rules(settings.serving.latency_sla_ms)
            if r.kind != "drift"  # the drift report above raises one alert naming the movers
        ]
    )
    outcomes += [o for _, o in evaluate_rules(context, chosen, now=end, notifiers=notifiers)]
    summary.alerts = [o for o in outcomes if o is not None]
    return summary
