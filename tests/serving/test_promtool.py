"""The serving app's /metrics passes `promtool check metrics`, stored points included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from kibble.context import Context
from kibble.monitoring.points import Point
from kibble.monitoring.store import record_metrics
from tests.promtool import promtool_problems


def test_serving_metrics_pass_promtool(client: TestClient, context: Context) -> None:
    end = datetime.now(UTC)
    start = end - timedelta(hours=1)
    record_metrics(
        context,
        [
            Point("system.latency_p99_ms", 12.5, start, end, {"deployment": "default"}),
            Point("data.events_total", 100.0, start, end),
            Point("model.ctr", 0.1, start, end, {"arm": "recs:1"}),
        ],
    )
    client.get("/v1/recommendations", params={"user_id": "u1"})
    body = {"inputs": [{"name": "user_id", "datatype": "BYTES", "shape": [1], "data": ["u1"]}]}
    client.post("/v2/models/default/infer", json=body)
    text = client.get("/metrics").text
    assert promtool_problems(text) == ""
    assert "kibble_system_latency_p99_seconds" in text and "0.0125" in text
    assert "kibble_data_events{" in text or "kibble_data_events " in text
