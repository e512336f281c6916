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

from typing import Any

from kibble.monitoring.deployment import monitor_deployment
from kibble.pipelines import Pipeline, log, step
from kibble.steps.context import step_context


@step(cache=False)
def monitor(deployment: str, since: str = "1d") -> dict[str, Any]:
    """Monitor ``deployment`` over ``since`` (see ``kibble.monitor_deployment``); the
    report, with the alerts it raised or resolved, is the step's output."""
    with step_context() as context:
        report = monitor_deployment(context, deployment, since=since)
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
