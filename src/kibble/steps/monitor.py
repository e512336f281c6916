"""The monitor as a platform step, and a one-step pipeline a factory can schedule.

    pipelines={
        "monitor-shop-home": PipelineSpec(
            entrypoint="kibble.steps.monitor:monitoring",
            schedule="15 * * * *",
            params={"deployment": "shop-home", "since": "1d"},
        ),
    }

Compose ``monitor`` into your own pipeline the same way (it needs only the two params).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from kibble.monitoring.deployment import monitor_deployment
from kibble.pipelines import Pipeline, log, step
from kibble.steps.context import step_context


@step(cache=False)
def monitor(deployment: str, since: str = "1d", day: str | None = None) -> dict[str, Any]:
    """Monitor ``deployment`` over ``since`` up to now, or up to the end of ``day`` (a
    cron run gets the day that ended before its slot); the report, with the alerts it
    raised or resolved, is the step's output."""
    until = None
    if day is not None:
        until = datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(), UTC)
    with step_context() as context:
        report = monitor_deployment(context, deployment, since=since, until=until)
    for note in report.notes:
        log(note, "WARNING")
    for alert in report.alerts:
        log(f"alert {alert.action}: {alert.alert['kind']}: {alert.alert['message']}")
    return report.as_dict()


monitoring = Pipeline(
    "monitoring",
    [monitor],
    description="Monitor one live deployment: metrics per arm, drift, feedback loops, alerts",
)
