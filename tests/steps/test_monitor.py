"""The monitor as a pipeline step: what a factory schedules for a live deployment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kibble.context import Context
from kibble.monitoring import list_alerts, query_metrics
from kibble.pipelines import run_pipeline
from kibble.steps.monitor import monitoring
from kibble.store.repositories.serving import Feedback, ServedRequests
from tests.monitoring.test_deployment import DEPLOYMENT, SLOW, traffic


def test_the_monitoring_pipeline_records_metrics_and_raises_alerts(context: Context) -> None:
    rows, feedback = traffic(datetime.now(UTC) - timedelta(minutes=1))
    with context.store.session() as session:
        ServedRequests(session, context.project_id).add_many(rows)
        Feedback(session, context.project_id).add(feedback)
    run = run_pipeline(monitoring, {"deployment": DEPLOYMENT, "since": "1d"}, context=context)
    assert run.status == "succeeded"
    ctr = query_metrics(context, "model.ctr", "2d", {"deployment": DEPLOYMENT})
    assert {p.labels["arm"] for p in ctr} == {"rec:1", SLOW}
    assert {a["kind"] for a in list_alerts(context)} == {"latency_sla", "error_rate"}


def test_a_day_monitors_that_day_of_the_log(context: Context) -> None:
    """A cron run gets the day that ended: the window is that day, whatever the clock."""
    rows, feedback = traffic(datetime(2026, 11, 10, 12, tzinfo=UTC))
    with context.store.session() as session:
        ServedRequests(session, context.project_id).add_many(rows)
        Feedback(session, context.project_id).add(feedback)
    params = {"deployment": DEPLOYMENT, "since": "1d", "day": "2026-11-10"}
    run = run_pipeline(monitoring, params, context=context)
    assert run.status == "succeeded"
    assert run.output("monitor")["start"].startswith("2026-11-10")
    ctr = query_metrics(context, "model.ctr", "3650d", {"deployment": DEPLOYMENT})
    assert {p.window_start.date().isoformat() for p in ctr} == {"2026-11-10"}
