"""``monitor_day``: one UTC day of frames a caller already holds, through ``run_monitors``.

For a live deployment, ``monitor_deployment`` reads the same inputs from the request log
and the lake instead; both run the one implementation in ``kibble.monitoring.monitor``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from kibble.context import Context
from kibble.monitoring.drift import Threshold
from kibble.monitoring.feedback_loop import LoopConfig
from kibble.monitoring.monitor import Frame, MonitorReport, Observed, run_monitors
from kibble.monitoring.notifiers import Notifier
from kibble.monitoring.rules import Rule


def monitor_day(
    context: Context,
    day: date,
    *,
    events: Frame | None = None,
    served: Frame | None = None,
    feedback: Frame | None = None,
    requests: Frame | None = None,
    reference_events: Frame | None = None,
    reference_served: Frame | None = None,
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
) -> MonitorReport:
    """Record the day's metrics and act on them (see ``run_monitors``).

    Drift: pass ``drift_reference`` and ``drift_current`` feature frames, or
    ``reference_events`` (and ``products``) to compare the day's events with them;
    ``reference_served`` adds prediction drift (what was served against it).
    """
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    observed = Observed(
        served=served,
        feedback=feedback,
        requests=requests,
        events=events,
        reference_events=reference_events,
        reference_served=reference_served,
        products=products,
        catalog_size=catalog_size,
        drift_reference=drift_reference,
        drift_current=drift_current,
    )
    return run_monitors(
        context,
        start,
        start + timedelta(days=1),
        observed,
        deployment=deployment,
        table=table,
        drift_thresholds=drift_thresholds,
        rules=rules,
        loop_config=loop_config,
        notifiers=notifiers,
    )
