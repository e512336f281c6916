"""OpenLineage events: START/COMPLETE/FAIL per step, valid against the client's schema.

The client ships the OpenLineage spec as generated classes whose validators check
eventTime, producer, schemaURL and runId; every emitted event is rebuilt through them
and checked for the spec's required fields.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.base import BaseEvent

from kibble.context import Context
from kibble.lineage.openlineage import events_file
from kibble.pipelines import Pipeline, step
from tests.pipelines.flows import basic

REQUIRED = {"eventTime", "producer", "schemaURL", "run", "job", "eventType"}


def validate(event: dict[str, Any]) -> RunEvent:
    assert set(event) >= REQUIRED, REQUIRED - set(event)
    assert event["schemaURL"] == RunEvent._get_schema()
    assert set(event["job"]) >= {"namespace", "name"}
    for facet in event["run"]["facets"].values():
        assert facet["_producer"].startswith("https://") and "#/$defs/" in facet["_schemaURL"]
    rebuilt = RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"]),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
        producer=event["producer"],
        inputs=[InputDataset(namespace=d["namespace"], name=d["name"]) for d in event["inputs"]],
        outputs=[OutputDataset(namespace=d["namespace"], name=d["name"]) for d in event["outputs"]],
    )
    assert isinstance(rebuilt, BaseEvent)
    return rebuilt


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_each_step_emits_start_and_complete(context: Context) -> None:
    result = basic.run({"n": 2}, context=context)
    events = read_events(events_file(context.settings))
    for event in events:
        validate(event)
    pairs = [(e["job"]["name"], e["eventType"]) for e in events]
    assert pairs == [
        ("basic.numbers", "START"),
        ("basic.numbers", "COMPLETE"),
        ("basic.doubled", "START"),
        ("basic.doubled", "COMPLETE"),
        ("basic.total", "START"),
        ("basic.total", "COMPLETE"),
    ]
    complete = events[-1]
    assert {d["name"] for d in complete["inputs"]} == {
        result.outputs["doubled"]["digest"],
        result.outputs["numbers"]["digest"],
    }
    assert complete["outputs"][0]["name"] == result.outputs["total"]["digest"]
    assert len({e["run"]["facets"]["parent"]["run"]["runId"] for e in events}) == 1


def test_failure_emits_fail_with_the_error(context: Context) -> None:
    @step
    def broken() -> int:
        raise ValueError("nope")

    Pipeline("broken", [broken]).run(context=context)
    last = read_events(events_file(context.settings))[-1]
    validate(last)
    assert last["eventType"] == "FAIL"
    assert "ValueError: nope" in last["run"]["facets"]["errorMessage"]["message"]


def test_http_transport_posts_events_to_the_configured_endpoint(context: Context) -> None:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        context.settings.pipelines.openlineage_url = f"http://127.0.0.1:{server.server_port}"
        basic.run({"n": 1}, context=context)
    finally:
        server.shutdown()
        server.server_close()
    assert [r["path"] for r in received] == ["/api/v1/lineage"] * 6
    for item in received:
        validate(item["body"])
    assert not events_file(context.settings).exists()
