"""OpenLineage events: START/COMPLETE/FAIL per pipeline, step and load, valid against the
spec as the client ships it.

openlineage-python ships no JSON schema file, but the OpenLineage spec as generated
classes whose validators check eventTime, producer, schemaURL and runId; every emitted
event, its run facets and its dataset facets are rebuilt through them (unknown or
missing fields fail), and checked for the spec's required fields.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import (
    data_quality_assertions_dataset,
    dataset_version_dataset,
    error_message_run,
    parent_run,
    schema_dataset,
    tags_run,
)
from openlineage.client.generated.base import BaseEvent

from kibble.checks.runner import run_checks
from kibble.context import Context
from kibble.data.ingest import ingest
from kibble.lineage.openlineage import dataset_id, events_file
from kibble.pipelines import Pipeline, run_pipeline, step
from kibble.recsys.runs import record_run
from tests.data.helpers import events as event_rows
from tests.pipelines.flows import basic

REQUIRED = {"eventTime", "producer", "schemaURL", "run", "job", "eventType"}


def _facet(kind: Any, data: dict[str, Any], **fields: Any) -> Any:
    """Rebuild a facet through its generated class; its schema URL must be the spec's."""
    assert data["_producer"].startswith("https://")
    assert data["_schemaURL"] == kind._get_schema(), data["_schemaURL"]
    return kind(**fields)


def _run_facets(facets: dict[str, Any]) -> None:
    assert set(facets) <= {"parent", "errorMessage", "tags"}, facets
    if "tags" in facets:  # the client's own version tag
        t = facets["tags"]
        tags = [tags_run.TagsRunFacetFields(**x) for x in t["tags"]]
        _facet(tags_run.TagsRunFacet, t, tags=tags)
    if "parent" in facets:
        p = facets["parent"]
        _facet(
            parent_run.ParentRunFacet,
            p,
            run=parent_run.Run(runId=p["run"]["runId"]),
            job=parent_run.Job(namespace=p["job"]["namespace"], name=p["job"]["name"]),
        )
    if "errorMessage" in facets:
        e = facets["errorMessage"]
        _facet(
            error_message_run.ErrorMessageRunFacet,
            e,
            message=e["message"],
            programmingLanguage=e["programmingLanguage"],
        )


def _dataset_facets(facets: dict[str, Any]) -> dict[str, Any]:
    assert set(facets) <= {"version", "schema"}, facets
    rebuilt: dict[str, Any] = {}
    if "version" in facets:
        v = facets["version"]
        rebuilt["version"] = _facet(
            dataset_version_dataset.DatasetVersionDatasetFacet,
            v,
            datasetVersion=v["datasetVersion"],
        )
    if "schema" in facets:
        f = facets["schema"]
        fields = [schema_dataset.SchemaDatasetFacetFields(**x) for x in f["fields"]]
        rebuilt["schema"] = _facet(schema_dataset.SchemaDatasetFacet, f, fields=fields)
    return rebuilt


def _input_facets(facets: dict[str, Any]) -> dict[str, Any]:
    assert set(facets) <= {"dataQualityAssertions"}, facets
    if not facets:
        return {}
    dq = data_quality_assertions_dataset
    f = facets["dataQualityAssertions"]
    assertions = [dq.Assertion(**a) for a in f["assertions"]]
    return {
        "dataQualityAssertions": _facet(
            dq.DataQualityAssertionsDatasetFacet, f, assertions=assertions
        )
    }


def validate(event: dict[str, Any]) -> RunEvent:
    assert set(event) >= REQUIRED, REQUIRED - set(event)
    assert event["schemaURL"] == RunEvent._get_schema()
    assert set(event["job"]) >= {"namespace", "name"}
    _run_facets(event["run"].get("facets", {}))
    rebuilt = RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"]),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
        producer=event["producer"],
        inputs=[
            InputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets=_dataset_facets(d.get("facets", {})),
                inputFacets=_input_facets(d.get("inputFacets", {})),
            )
            for d in event["inputs"]
        ],
        outputs=[
            OutputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets=_dataset_facets(d.get("facets", {})),
            )
            for d in event["outputs"]
        ],
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
        ("basic", "START"),
        ("basic.numbers", "START"),
        ("basic.numbers", "COMPLETE"),
        ("basic.doubled", "START"),
        ("basic.doubled", "COMPLETE"),
        ("basic.total", "START"),
        ("basic.total", "COMPLETE"),
        ("basic", "COMPLETE"),
    ]
    complete = events[-2]
    versions = {d["facets"]["version"]["datasetVersion"] for d in complete["inputs"]}
    assert versions == {result.outputs["doubled"]["digest"], result.outputs["numbers"]["digest"]}
    total = complete["outputs"][0]
    assert total["facets"]["version"]["datasetVersion"] == result.outputs["total"]["digest"]
    # named where the blob lies (the naming spec's `file` namespace), so graphs join
    hexdigest = result.outputs["total"]["digest"].removeprefix("sha256:")
    assert total["namespace"] == "file" and total["name"].endswith(f"/{hexdigest}")
    assert Path(total["name"]).is_file()
    steps = [e for e in events if e["job"]["name"] != "basic"]
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in steps}
    assert parents == {events[0]["run"]["runId"]}  # the pipeline run's own events
    outputs = {(d["namespace"], d["name"]) for e in steps for d in e["outputs"]}
    inputs = {(d["namespace"], d["name"]) for e in steps for d in e["inputs"]}
    assert inputs and inputs <= outputs  # each step reads what an earlier one wrote


def test_failure_emits_fail_with_the_error(context: Context) -> None:
    @step
    def broken() -> int:
        raise ValueError("nope")

    Pipeline("broken", [broken]).run(context=context)
    step_event, run_event = read_events(events_file(context.settings))[-2:]
    for event in (step_event, run_event):
        validate(event)
        assert event["eventType"] == "FAIL"
    assert "ValueError: nope" in step_event["run"]["facets"]["errorMessage"]["message"]


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
    assert [r["path"] for r in received] == ["/api/v1/lineage"] * 8
    for item in received:
        validate(item["body"])
    assert not events_file(context.settings).exists()


def test_an_ingest_emits_its_file_in_and_its_table_version_out(
    context: Context, tmp_path: Path
) -> None:
    from datetime import date

    source = tmp_path / "events.csv"
    event_rows(date(2026, 11, 1), 20).write_csv(source)
    loaded = ingest(context, str(source), "events")
    start, complete = read_events(events_file(context.settings))[-2:]
    for event in (start, complete):
        validate(event)
        assert event["job"]["name"] == "ingest.events"
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [
        ("file", str(source.resolve()))
    ]
    table = complete["outputs"][0]
    assert table["namespace"] == "file"
    assert table["name"] == str((context.settings.home / "lake" / "default" / "events").resolve())
    assert table["facets"]["version"]["datasetVersion"] == str(loaded.table_version)
    assert {f["name"] for f in table["facets"]["schema"]["fields"]} >= {"user_id", "item_id"}


def test_checks_report_assertions_on_the_table_version_they_read(
    context: Context, tmp_path: Path
) -> None:
    from datetime import date

    loaded = ingest(context, event_rows(date(2026, 11, 1), 20), "events")
    report = run_checks(context, "events")
    event = read_events(events_file(context.settings))[-1]
    validate(event)
    assert event["job"]["name"] == "check.events"
    assert event["eventType"] == ("COMPLETE" if report.passed else "FAIL")
    (table,) = event["inputs"]
    assert table["facets"]["version"]["datasetVersion"] == str(loaded.table_version)
    assertions = table["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert {a["assertion"] for a in assertions} == {r.name for r in report.results}


def test_a_training_joins_the_graph_through_the_artifact_it_wrote(context: Context) -> None:
    from datetime import UTC, datetime

    model = context.save_artifact(b"model-bytes", "application/octet-stream", name="m")
    run_id = record_run(
        context,
        pipeline="recsys.train",
        kind="training",
        params={},
        metrics={},
        started_at=datetime.now(UTC),
        inputs=[{"url": "s3://shop-data/events/2026-11-01.parquet"}],
        outputs=[{"digest": model.digest}],
    )
    basic.run({"n": 1}, context=context)  # any run naming an artifact names it the same way
    events = read_events(events_file(context.settings))
    training = next(e for e in events if e["job"]["name"] == "recsys.train")
    validate(training)
    assert training["eventType"] == "COMPLETE" and run_id
    assert training["inputs"][0]["namespace"] == "s3://shop-data"
    assert training["inputs"][0]["name"] == "events/2026-11-01.parquet"
    (written,) = training["outputs"]
    step_output = next(e for e in events if e["job"]["name"] == "basic.numbers" and e["outputs"])
    assert written["namespace"] == step_output["outputs"][0]["namespace"] == "file"
    assert Path(written["name"]).read_bytes() == b"model-bytes"


def test_dataset_names_follow_the_naming_spec() -> None:
    assert dataset_id("s3://kibble-lake/prod/default/events") == (
        "s3://kibble-lake",
        "prod/default/events",
    )
    assert dataset_id("/data/lake/default/events") == ("file", "/data/lake/default/events")
    assert dataset_id("file:///data/x.csv") == ("file", "/data/x.csv")


@pytest.mark.slow
def test_every_event_of_a_k9s_day_is_valid_and_the_graph_joins(
    tmp_path: Path, context: Context
) -> None:
    from kibble.factory.service import apply
    from kibble.k9s import SimConfig
    from kibble.k9s.daily import REF, daily
    from kibble.k9s.factory import DEPLOYMENT, MODEL, k9s_factory
    from kibble.k9s.simulate import simulate

    shop = tmp_path / "shop"
    simulate(SimConfig(products=200, users=300, days=2, sessions_per_user=0.5), shop)
    apply(context, k9s_factory(context.project, shop))
    params = {"day": "2026-12-02", "model": MODEL, "deployment": DEPLOYMENT, "candidates": {}}
    assert run_pipeline(daily, params, context=context, ref=REF).status == "succeeded"
    events = read_events(events_file(context.settings))
    for event in events:
        validate(event)
    jobs = {e["job"]["name"] for e in events}
    assert {daily.name, "ingest.events", "ingest.products", "check.events"} <= jobs
    # the checks read the very table version the day's ingest wrote
    wrote = {
        (d["namespace"], d["name"], d["facets"]["version"]["datasetVersion"])
        for e in events
        if e["job"]["name"] == "ingest.events" and e["eventType"] == "COMPLETE"
        for d in e["outputs"]
    }
    read = {
        (d["namespace"], d["name"], d["facets"]["version"]["datasetVersion"])
        for e in events
        if e["job"]["name"] == "check.events"
        for d in e["inputs"]
    }
    assert read and read <= wrote
