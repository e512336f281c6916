"""One monitoring pass over a window: the single implementation every caller shares.

``run_monitors`` turns what was observed in ``[start, end)`` into metric points (data,
model per arm, exposure, system), adds volume ratios from the stored history, writes the
input and prediction drift reports, runs the feedback-loop and narrowing detectors on
the stored series, and evaluates the alert rules in force, raising what breaches and
resolving what cleared. ``monitor_deployment`` feeds it a live deployment's request log;
``monitor_day`` feeds it frames a caller already holds. Each input is optional.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeAlias

import polars as pl
import pyarrow as pa

from kibble.context import Context
from kibble.errors import UsageError
from kibble.monitoring.alerts import AlertOutcome, evaluate_rules, evaluate_rules_in_force
from kibble.monitoring.data_metrics import data_metrics, volume_ratios
from kibble.monitoring.drift import DriftReport, Threshold, drift_report
from kibble.monitoring.drift_inputs import input_drift, prediction_drift
from kibble.monitoring.feedback_loop import LoopConfig, LoopVerdict
from kibble.monitoring.model_metrics import exposure_metrics, model_metrics
from kibble.monitoring.narrowing import NarrowingConfig, NarrowingVerdict
from kibble.monitoring.notifiers import Notifier
from kibble.monitoring.points import Point
from kibble.monitoring.rules import Rule
from kibble.monitoring.store import query_metrics, record_metrics
from kibble.monitoring.system_metrics import system_metrics
from kibble.monitoring.watch import record_drift_report, watch_feedback_loop, watch_narrowing

Frame: TypeAlias = pl.DataFrame | pa.Table


@dataclass
class Observed:
    """What one pass looks at. ``served``: one row per answer shown (``ts``,
    ``request_id``, ``items`` or ``item_id``, optional ``arm`` / ``model_version``);
    ``feedback``: ``request_id``, ``item_id``, ``event_type``; ``requests``: ``ts``,
    ``latency_ms``, ``status`` or ``error`` (shadow answers included); ``events``: the
    events table; the ``reference_*`` frames: what the drifts compare against."""

    served: Frame | None = None
    feedback: Frame | None = None
    requests: Frame | None = None
    events: Frame | None = None
    reference_events: Frame | None = None
    reference_served: Frame | None = None
    products: Frame | None = None
    catalog_size: int | None = None
    drift_reference: Frame | None = None
    drift_current: Frame | None = None


@dataclass
class MonitorReport:
    """What a pass recorded and decided; ``notes`` say what it could not look at."""

    start: datetime
    end: datetime
    deployment: str = ""
    points: int = 0
    drift: DriftReport | None = None
    prediction_drift: DriftReport | None = None
    loop: LoopVerdict | None = None
    narrowing: NarrowingVerdict | None = None
    rules: str = ""
    alerts: list[AlertOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def day(self) -> date:
        return self.start.date()

    @property
    def raised(self) -> list[str]:
        """Kinds of the alerts this pass opened or escalated."""
        return [a.alert["kind"] for a in self.alerts if a.action in ("raised", "escalated")]

    @property
    def resolved(self) -> list[str]:
        return [a.alert["kind"] for a in self.alerts if a.action == "resolved"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "points": self.points,
            "rules": self.rules,
            "input_drift": self.drift.drifted if self.drift else None,
            "prediction_drift": self.prediction_drift.drifted if self.prediction_drift else None,
            "feedback_loop": self.loop.reason if self.loop else None,
            "narrowing": self.narrowing.reason if self.narrowing else None,
            "alerts": [
                {
                    "action": a.action,
                    "kind": a.alert["kind"],
                    "id": a.alert["id"],
                    "message": a.alert["message"],
                }
                for a in self.alerts
            ],
            "notes": self.notes,
        }


def run_monitors(
    context: Context,
    start: datetime,
    end: datetime,
    observed: Observed,
    *,
    deployment: str = "",
    table: str = "events",
    drift_thresholds: Mapping[str, Threshold] | None = None,
    rules: Sequence[Rule] | None = None,
    loop_config: LoopConfig | None = None,
    narrowing_config: NarrowingConfig | None = None,
    notifiers: Sequence[Notifier] | None = None,
) -> MonitorReport:
    """Record ``[start, end)``'s metrics and act on them (whole UTC days: re-running a
    window replaces its points; alerts deduplicate, so a re-run notifies nobody twice).
    Without ``rules``, the rules in force: the applied factory's, else the defaults."""
    report = MonitorReport(start, end, deployment)
    data_labels = {"table": table}
    model_labels = {"deployment": deployment} if deployment else {}
    o = observed

    points: list[Point] = []
    if o.events is not None:
        points += data_metrics(o.events, labels=data_labels)
    if o.served is not None:
        points += model_metrics(
            o.served, o.feedback, catalog_size=o.catalog_size, labels=model_labels
        )
        if deployment:
            points += exposure_metrics(o.served, catalog_size=o.catalog_size, labels=model_labels)
    if o.requests is not None:
        points += system_metrics(o.requests, every="1h", labels=model_labels)
    report.points = record_metrics(context, points)
    totals = query_metrics(context, "data.events_total", start - timedelta(days=35), data_labels)
    report.points += record_metrics(
        context, [p for p in volume_ratios(totals) if start <= p.window_start < end]
    )

    outcomes: list[AlertOutcome | None] = []
    threshold = Threshold("psi", context.settings.monitoring.drift_psi_threshold)
    if o.drift_reference is not None and o.drift_current is not None:
        report.drift = drift_report(
            o.drift_reference,
            o.drift_current,
            thresholds=drift_thresholds,
            default_threshold=threshold,
        )
    elif o.reference_events is not None and o.events is not None:
        report.drift = input_drift(
            o.reference_events,
            o.events,
            o.products,
            thresholds=drift_thresholds,
            default=threshold,
        )
    if report.drift is not None:
        outcomes.append(
            record_drift_report(context, report.drift, start, data_labels, notifiers=notifiers)
        )
    if o.reference_served is not None and o.served is not None:
        report.prediction_drift = prediction_drift(
            o.reference_served,
            o.served,
            o.products,
            thresholds=drift_thresholds,
            default=threshold,
        )
        labels = {**model_labels, "drift": "prediction"}
        outcomes.append(
            record_drift_report(
                context, report.prediction_drift, start, labels, notifiers=notifiers
            )
        )

    last_day = (end - timedelta(microseconds=1)).date()
    try:
        watched = watch_feedback_loop(
            context,
            labels=model_labels,
            data_labels=data_labels,
            config=loop_config,
            today=last_day,
            notifiers=notifiers,
        )
    except UsageError as exc:  # nothing served yet: no engagement to judge
        report.notes.append(f"feedback-loop check not run: {exc.message}")
    else:
        report.loop = watched.verdict
        outcomes.append(watched.alert)
    if deployment:
        narrowed = watch_narrowing(
            context, deployment, config=narrowing_config, today=last_day, notifiers=notifiers
        )
        report.narrowing = narrowed.verdict
        outcomes.append(narrowed.alert)

    if rules is not None:
        report.rules = "given"
        outcomes += [o for _, o in evaluate_rules(context, rules, now=end, notifiers=notifiers)]
    else:  # the drift reports above raise one alert naming the movers: skip that default
        done = evaluate_rules_in_force(context, now=end, notifiers=notifiers, covered={"drift"})
        report.rules = done.source
        report.notes += done.idle_notes()
        outcomes += [o for _, o in done.results]
        outcomes += done.retired
    report.alerts = [o for o in outcomes if o is not None]
    return report
