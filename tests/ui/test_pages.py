"""Dashboard pages over a real store: project scoping, CSRF, roles, escaping, pagination."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from kibble.api.dashboard import release_for_ui
from kibble.context import Context
from kibble.data.ingest import ingest
from kibble.monitoring.points import Point
from kibble.monitoring.store import record_metrics
from kibble.pipelines import Pipeline, hold, run_pipeline, step
from kibble.rollouts import service as rollouts
from kibble.rollouts.controller import ArmMetrics
from kibble.store.models import (
    Alert,
    AuditEvent,
    Deployment,
    ModelVersion,
    RegisteredModel,
    Run,
    ServedRequest,
    StepRun,
)
from kibble.store.repositories import Projects
from kibble.store.repositories.data import DataRecords
from kibble.store.repositories.registry import Registry
from kibble.store.repositories.serving import ServedRequests
from kibble.ui.app import Principal, create_ui
from tests.data.helpers import products


@pytest.fixture
def other_project(context: Context) -> str:
    with context.store.session() as s:
        return Projects(s).ensure("other").id


@pytest.fixture
def client(context: Context, other_project: str) -> Iterator[TestClient]:
    tokens = {
        "viewer-token": Principal("vera", context.project, context.project_id, "viewer"),
        "deployer-token": Principal("dina", context.project, context.project_id, "deployer"),
        "other-token": Principal("olga", "other", other_project, "admin"),
    }
    released: list[tuple[str, str, str]] = []

    def resolve(_session: Session, token: str) -> Principal | None:
        return tokens.get(token)

    def release(ctx: Context, run_id: str, reason: str, actor: str) -> None:
        released.append((run_id, reason, actor))
        with ctx.store.session() as s:
            run = s.get(Run, run_id)
            assert run is not None and run.project_id == ctx.project_id
            run.status = "running"

    app = create_ui(context, resolve_token=resolve, release_run=release)
    with TestClient(app, base_url="http://testserver") as c:
        c.released = released  # type: ignore[attr-defined]
        yield c


def sign_in(client: TestClient, token: str) -> None:
    response = client.post("/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text


def seed(context: Context, n_runs: int = 3) -> list[str]:
    now = datetime.now(UTC)
    ids = []
    with context.store.session() as s:
        for i in range(n_runs):
            run = Run(
                project_id=context.project_id,
                pipeline="daily",
                status="succeeded",
                started_at=now - timedelta(minutes=i + 1),
                ended_at=now - timedelta(minutes=i),
            )
            s.add(run)
            s.flush()
            ids.append(run.id)
        held = Run(
            project_id=context.project_id,
            pipeline="daily",
            status="held",
            held_reasons=["events for 2026-11-23 are late (deadline 02:00)"],
            tags={"dag": {"train": ["ingest"], "ingest": []}},
            started_at=now,
        )
        s.add(held)
        s.flush()
        s.add_all(
            [
                StepRun(
                    project_id=context.project_id, run_id=held.id, name="ingest", status="held"
                ),
                StepRun(
                    project_id=context.project_id, run_id=held.id, name="train", status="pending"
                ),
            ]
        )
        model = RegisteredModel(
            project_id=context.project_id,
            name="recommender",
            description="<script>alert(1)</script>",
        )
        s.add(model)
        s.flush()
        for v in (1, 2):
            s.add(
                ModelVersion(
                    project_id=context.project_id,
                    model_id=model.id,
                    version=v,
                    artifact_digest="sha256:" + str(v) * 64,
                    flavor="als",
                    run_id=ids[0],
                    metrics={"ndcg@10": 0.1 * v, "ab": {"ctr_diff": 0.01 * v, "day": "x"}},
                )
            )
        s.add(
            Alert(
                project_id=context.project_id,
                kind="data_late",
                fingerprint="late:1",
                message="events late",
                severity="critical",
            )
        )
        ids.append(held.id)
    return ids


def test_pages_need_sign_in(client: TestClient) -> None:
    response = client.get("/overview", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_bad_token_is_refused(client: TestClient) -> None:
    response = client.post("/login", data={"token": "nope"})
    assert response.status_code == 401
    assert "not valid" in response.text


def test_every_nav_page_renders_with_security_headers(client: TestClient, context: Context) -> None:
    seed(context)
    sign_in(client, "viewer-token")
    for slug in (
        "overview",
        "runs",
        "data",
        "models",
        "deployments",
        "monitoring",
        "lineage",
        "explain",
    ):
        response = client.get(f"/{slug}")
        assert response.status_code == 200, slug
        assert 'id="nav"' in response.text
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_overview_counts_match_the_store(client: TestClient, context: Context) -> None:
    seed(context, n_runs=3)
    sign_in(client, "viewer-token")
    html = client.get("/overview").text
    assert 'data-card="runs_today"><div class="value">4<' in html
    assert 'data-card="held"><div class="value">1<' in html
    assert 'data-card="open_alerts"><div class="value">1<' in html


def test_projects_do_not_leak(client: TestClient, context: Context) -> None:
    ids = seed(context)
    sign_in(client, "other-token")
    assert 'data-card="runs_today"><div class="value">0<' in client.get("/overview").text
    assert client.get(f"/runs/{ids[0]}").status_code == 404
    assert client.get("/models/recommender").status_code == 404


def test_output_is_escaped(client: TestClient, context: Context) -> None:
    seed(context)
    sign_in(client, "viewer-token")
    html = client.get("/models/recommender").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_model_page_shows_metrics_side_by_side(client: TestClient, context: Context) -> None:
    seed(context)
    sign_in(client, "viewer-token")
    html = client.get("/models/recommender").text
    versions = _cells(html, "versions")
    header = html.split('id="versions"')[1].split("</thead>")[0]
    assert "<th>ab.ctr_diff</th><th>ndcg@10</th>" in header and "ab.day" not in header
    assert [row[-2:] for row in versions] == [["0.02", "0.2"], ["0.01", "0.1"]]
    assert 'data-spec="spec-metrics-by-version"' in html
    rates = _spec(html, "metrics-by-version")
    assert rates["xaxis"]["categoryarray"] == ["v1", "v2"]  # versions in order, as labels
    assert all(max(abs(y) for y in s["y"]) <= 1 for s in rates["series"])  # one unit


def _spec(html: str, section: str) -> dict[str, Any]:
    text = html.split(f'id="spec-{section}">')[1].split("</script>")[0]
    spec: dict[str, Any] = json.loads(text)
    return spec


def test_held_run_shows_reasons_and_dag(client: TestClient, context: Context) -> None:
    held_id = seed(context)[-1]
    sign_in(client, "viewer-token")
    html = client.get(f"/runs/{held_id}").text
    assert "events for 2026-11-23 are late" in html
    assert 'data-step="ingest"' in html and 'data-step="train"' in html
    assert "release-denied" in html  # a viewer sees why, not a form


def test_steps_not_yet_started_are_listed_in_pipeline_order(
    client: TestClient, context: Context
) -> None:
    with context.store.session() as s:
        run = Run(
            project_id=context.project_id,
            pipeline="daily",
            status="held",
            tags={"dag": {"z_load": [], "m_check": ["z_load"], "a_train": ["m_check"]}},
        )
        s.add(run)
        s.flush()
        run_id = run.id
        s.add_all(
            StepRun(project_id=context.project_id, run_id=run.id, name=n, status="pending")
            for n in ("a_train", "m_check", "z_load")
        )
    sign_in(client, "viewer-token")
    steps = _cells(client.get(f"/runs/{run_id}").text, "steps")
    assert [row[0] for row in steps] == ["z_load", "m_check", "a_train"]


def test_viewer_cannot_release(client: TestClient, context: Context) -> None:
    held_id = seed(context)[-1]
    sign_in(client, "viewer-token")
    html = client.get(f"/runs/{held_id}").text
    assert 'name="csrf"' in html
    csrf = html.split('name="csrf" value="')[1].split('"')[0]
    response = client.post(f"/runs/{held_id}/release", data={"reason": "fixed", "csrf": csrf})
    assert response.status_code == 403
    assert client.released == []  # type: ignore[attr-defined]


def test_deployer_releases_with_csrf(client: TestClient, context: Context) -> None:
    held_id = seed(context)[-1]
    sign_in(client, "deployer-token")
    html = client.get(f"/runs/{held_id}").text
    csrf = html.split('id="release"')[1].split('name="csrf" value="')[1].split('"')[0]
    bad = client.post(f"/runs/{held_id}/release", data={"reason": "ok", "csrf": "forged"})
    assert bad.status_code == 403
    foreign = client.post(
        f"/runs/{held_id}/release",
        data={"reason": "ok", "csrf": csrf},
        headers={"origin": "http://evil.example"},
    )
    assert foreign.status_code == 403
    good = client.post(
        f"/runs/{held_id}/release",
        data={"reason": "backfilled", "csrf": csrf},
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert client.released == [(held_id, "backfilled", "dina")]  # type: ignore[attr-defined]


def test_runs_paginate_and_filter(client: TestClient, context: Context) -> None:
    seed(context, n_runs=60)
    sign_in(client, "viewer-token")
    first = client.get("/runs").text
    assert "61 run(s)" in first
    assert first.count('id="run-link-') == 50
    assert 'id="older"' in first
    second = client.get("/runs?offset=50").text
    assert second.count('id="run-link-') == 11
    held = client.get("/runs?status=held").text
    assert held.count('id="run-link-') == 1


def test_plotly_is_served_locally(client: TestClient) -> None:
    response = client.get("/static/vendor/plotly.min.js")
    assert response.status_code == 200
    assert len(response.content) > 1_000_000
    assert "javascript" in response.headers["content-type"]


def flow() -> Pipeline:
    """A two-step pipeline that holds at its gate: real runs for lineage and release."""

    @step
    def arrive(day: str = "2026-11-23") -> dict[str, int]:
        return {"rows": 3}

    @step
    def gate(arrive: dict[str, int]) -> None:
        raise hold("only 3 rows arrived")

    return Pipeline("gated", [arrive, gate])


def test_lineage_of_a_run_output_shows_where_it_came_from(
    client: TestClient, context: Context
) -> None:
    result = run_pipeline(flow(), {"day": "2026-11-24"}, context=context)
    assert result.status == "held"
    sign_in(client, "viewer-token")
    run_html = client.get(f"/runs/{result.run_id}").text
    assert 'id="trace-arrive"' in run_html
    digest = run_html.split('id="run-outputs"')[1].split("<td>arrive</td><td>")[1].split("<")[0]
    html = client.get(f"/lineage?target={digest}").text
    assert f"Artifact {digest}" in html
    assert 'data-spec="spec-lineage-graph"' in html
    assert result.run_id[:8] in html.split('id="lineage-upstream"')[1]
    assert "day=2026-11-24" in html
    index = client.get("/lineage").text
    assert f"/lineage?target={digest}" in index
    missing = client.get("/lineage?model=nope")
    assert missing.status_code == 404 and "nope" in missing.text


def test_real_release_from_the_run_page(context: Context) -> None:
    """The API's release hook is the pipelines' own: audited, the run becomes released."""
    result = run_pipeline(flow(), context=context)
    tokens = {
        "viewer": Principal("vera", context.project, context.project_id, "viewer"),
        "deployer": Principal("dina", context.project, context.project_id, "deployer"),
    }
    app = create_ui(context, resolve_token=lambda _s, t: tokens.get(t), release_run=release_for_ui)
    with TestClient(app, base_url="http://testserver") as c:
        sign_in(c, "viewer")
        csrf = c.get(f"/runs/{result.run_id}").text.split('name="csrf" value="')[1].split('"')[0]
        refused = c.post(f"/runs/{result.run_id}/release", data={"reason": "go", "csrf": csrf})
        assert refused.status_code == 403
        with context.store.session() as s:
            assert s.get(Run, result.run_id).status == "held"  # type: ignore[union-attr]
        sign_in(c, "deployer")
        html = c.get(f"/runs/{result.run_id}").text
        csrf = html.split('id="release"')[1].split('name="csrf" value="')[1].split('"')[0]
        done = c.post(f"/runs/{result.run_id}/release", data={"reason": "counted", "csrf": csrf})
        assert done.status_code == 200 and "released" in done.text
        again = c.post(f"/runs/{result.run_id}/release", data={"reason": "again", "csrf": csrf})
        assert again.status_code == 409  # only held runs can be released
    with context.store.session() as s:
        run = s.get(Run, result.run_id)
        assert run is not None and run.status == "released"
        assert run.tags["released"]["by"] == "dina"
        events = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "run.release")).all()
        assert [(e.actor, e.target) for e in events] == [("dina", result.run_id)]


def test_model_page_shows_aliases_history_and_gate_reports(
    client: TestClient, context: Context
) -> None:
    seed(context)
    with context.store.session() as s:
        registry = Registry(s, context.project_id)
        model = registry.model("recommender")
        report = registry.save_report(
            registry.version(model, 2),
            {"checks": [{"name": "beats_baseline", "passed": True}]},
            passed=True,
        )
        registry.move_alias("recommender", "champion", 1, actor="ada", reason="first")
        registry.move_alias(
            "recommender", "champion", 2, actor="ada", reason="won the A/B", gate_report_id=report
        )
    sign_in(client, "viewer-token")
    html = client.get("/models/recommender").text
    aliases = html.split('id="aliases"')[1].split("</table>")[0]
    assert "<td>champion</td><td>v2</td>" in aliases
    history = html.split('id="alias-history"')[1].split("</table>")[0]
    assert "won the A/B" in history and "<td>v1</td><td>v2</td>" in history
    assert "beats_baseline: pass" in html.split('id="gate-reports"')[1]


def test_monitoring_charts_metrics_and_falls_back_without_data(
    client: TestClient, context: Context
) -> None:
    sign_in(client, "viewer-token")
    empty = client.get("/monitoring").text
    assert "no data yet for this chart" in empty.split('id="metrics"')[1].split("</section>")[0]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    record_metrics(
        context,
        [
            Point(
                "model.ctr",
                0.1 + day / 100,
                start + timedelta(days=day),
                start + timedelta(days=day + 1),
                {"deployment": "home", "arm": arm},
            )
            for day in range(5)
            for arm in ("a", "b")
        ],
    )
    record_metrics(context, [Point("system.error_rate", 0.5, start, start + timedelta(days=1))])
    html = client.get("/monitoring").text  # the model family by default
    block = html.split('id="metric-model-ctr"')[1].split("</section>")[0]
    assert 'data-spec="spec-metric-model-ctr"' in block
    assert "model.ctr{arm=a,deployment=home}" in block and "0.14" in block
    assert 'id="metric-system-error-rate"' not in html
    assert 'href="/monitoring?family=system"' in html
    system = client.get("/monitoring?family=system").text
    assert 'data-spec="spec-metric-system-error-rate"' in system
    assert 'id="metric-model-ctr"' not in system


def _cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each data row's cells (tags stripped)."""
    body = html.split(f'id="{table_id}"')[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in rows
    ]


def test_deployment_page_shows_split_progress_and_ab(client: TestClient, context: Context) -> None:
    seed(context)  # recommender v1 (oldest: baseline) and v2 (newest: champion)
    rollouts.start(context, "home", "recommender", "recommender:1")
    champion, challenger = ArmMetrics(5000, 0, 9.0, 5000, 500), ArmMetrics(5000, 0, 9.0, 5000, 600)
    assert (
        rollouts.step(
            context, "home", metrics={"recommender:2": champion, "recommender:1": challenger}
        )["action"]
        == "advance"
    )
    with context.store.session() as s:
        s.add(ServedRequest(**_served(context, "r1", "recommender:2")))
        s.add(ServedRequest(**_served(context, "r2", "recommender:2")))
        s.add(ServedRequest(**_served(context, "r3", "recommender:1")))
    sign_in(client, "viewer-token")
    listing = client.get("/deployments").text
    assert 'id="open-home"' in listing and "recommender:2 71.2" in listing

    html = client.get("/deployments?name=home").text
    arms = {row[0]: row for row in _cells(html, "arms")}
    assert arms["recommender:2"][1] == "champion"
    assert arms["recommender:1"][1] == "challenger + baseline"
    # 5% holdout to the baseline, then the second step's 25% of the rest to the challenger
    assert float(arms["recommender:1"][2].rstrip("%")) == pytest.approx(5 + 95 * 0.25, abs=0.06)
    assert 'href="/lineage?model=recommender&amp;version=2" id="arm-lineage-' in html
    [ab] = _cells(html, "ab-results")
    assert ab[:5] == ["recommender:1", "recommender:2", "0.1000", "0.1200", "+0.0200"]
    low, high = (float(x) for x in ab[5].split(" .. "))
    assert low < 0.02 < high and ab[6] == "5000 / 5000" and ab[7] == "advance"
    [decision] = _cells(html, "decisions")
    assert decision[1:4] == ["advance", "1", "5.0%"] and "step 0 healthy" in decision[4]
    assert 'data-spec="spec-rollout-progress"' in html
    traffic = html.split('id="arm-traffic"')[1].split("</section>")[0]
    assert 'data-spec="spec-arm-traffic"' in traffic and "0.6667" in traffic  # 2 of 3 answers

    empty = client.get("/deployments?name=nope").text  # unknown: the list alone
    assert 'id="arms"' not in empty and 'id="open-home"' in empty


def _served(context: Context, request_id: str, arm: str) -> dict[str, Any]:
    return {
        "project_id": context.project_id,
        "request_id": request_id,
        "deployment": "home",
        "user_id": "u1",
        "arm": arm,
        "model_version": arm,
        "probability": 0.5,
        "items": [],
        "ts": datetime.now(UTC),
    }


def test_explain_shows_what_was_served(client: TestClient, context: Context) -> None:
    with context.store.session() as s:
        ServedRequests(s, context.project_id).add_many(
            [
                {
                    "request_id": "req-1",
                    "deployment": "home",
                    "user_id": "u7",
                    "arm": "challenger",
                    "model_version": "als-v2",
                    "probability": 0.1,
                    "items": ["i1", "i2"],
                    "ts": datetime.now(UTC),
                }
            ]
        )
    sign_in(client, "viewer-token")
    assert "/explain?request=req-1" in client.get("/explain").text
    html = client.get("/explain?request=req-1").text
    assert "als-v2" in html and "<td>2</td><td>i2</td>" in html
    assert "no served request" in client.get("/explain?request=nope").text


def test_explain_names_products_by_title(client: TestClient, context: Context) -> None:
    ingest(context, products(5), "products")
    with context.store.session() as s:
        ServedRequests(s, context.project_id).add_many(
            [
                {
                    "request_id": "req-2",
                    "deployment": "home",
                    "user_id": "u7",
                    "arm": "champion",
                    "model_version": "knn-v3",
                    "probability": 1.0,
                    "items": [{"item_id": "3", "score": 0.9, "reasons": ["because of 1 (62%)"]}],
                    "ts": datetime.now(UTC),
                }
            ]
        )
    sign_in(client, "viewer-token")
    [row] = _cells(client.get("/explain?request=req-2").text, "served-items")
    assert row[1] == "toy 3 (3)" and row[3] == "because of toy 1 (1) (62%)"


def test_run_links_to_model_then_deployment_and_lineage(
    client: TestClient, context: Context
) -> None:
    """The click-through path the browser test follows when a home has models."""
    producer = seed(context)[0]
    with context.store.session() as s:
        s.add(Deployment(project_id=context.project_id, name="home", model_name="recommender"))
    sign_in(client, "viewer-token")
    run_html = client.get(f"/runs/{producer}").text
    assert 'href="/models/recommender" id="model-link-recommender-2"' in run_html
    model_html = client.get("/models/recommender").text
    assert 'href="/deployments?name=home" id="deployment-home"' in model_html
    assert 'href="/lineage?model=recommender&amp;version=2" id="lineage-2"' in model_html
    assert "Deployment home of model recommender" in client.get("/deployments?name=home").text
    # the version's lineage: a left-to-right graph of labelled nodes, arrows for edges
    graph = _spec(client.get("/lineage?model=recommender&version=2").text, "lineage-graph")
    kinds = {trace["name"]: trace for trace in graph["traces"]}
    assert {"version", "run"} <= set(kinds)
    assert kinds["run"]["x"][0] < kinds["version"]["x"][0]  # made from: on the left
    assert kinds["version"]["text"][0].startswith("version ")
    assert graph["annotations"] and all(a["showarrow"] for a in graph["annotations"])
    assert graph["xaxis"]["showticklabels"] is False  # no numeric axis to misread


def _check(name: str, status: str, partition: str, at: datetime, **observed: Any) -> dict[str, Any]:
    return {
        "report_id": f"{partition}-{at:%H%M}",
        "table_version": 1,
        "partition": partition,
        "name": name,
        "status": status,
        "observed": observed,
        "expected": {"psi_warn": 0.1} if name.startswith("drift:") else {"min_rows": 100},
        "message": f"{name} {status}",
        "created_at": at,
    }


def test_data_page_shows_each_partitions_latest_checks_and_drift(
    client: TestClient, context: Context
) -> None:
    early, late = datetime(2026, 11, 2, 6, tzinfo=UTC), datetime(2026, 11, 2, 9, tzinfo=UTC)
    with context.store.session() as s:
        records = DataRecords(s, context.project_id)
        events = records.ensure_dataset("events", "lake/events", {})
        s.flush()
        records.record_checks(
            events,
            [
                _check("volume", "pass", "2026-11-01", early, rows=120),
                _check("drift:species", "pass", "2026-11-01", early, psi=0.02),
                _check("volume", "fail", "2026-11-02", early, rows=3),  # then re-delivered:
                _check("volume", "pass", "2026-11-02", late, rows=140),
                _check("drift:species", "warn", "2026-11-02", late, psi=0.4),
            ],
        )
    sign_in(client, "viewer-token")
    html = client.get("/data?table=events").text
    assert _cells(html, "partitions") == [  # newest first; the latest report of each
        ["2026-11-02", "1", "1", "0", "2026-11-02 09:00:00"],
        ["2026-11-01", "2", "0", "0", "2026-11-02 06:00:00"],
    ]
    latest = _cells(html, "checks")
    assert [(c[0], c[2], c[4]) for c in latest] == [
        ("drift:species", "warn", "psi=0.4"),
        ("volume", "pass", "rows=140"),
    ]
    assert "min_rows=100" in latest[1][3]  # what was expected beside what was seen
    drift = html.split('id="drift"')[1].split("</section>")[0]
    assert 'data-spec="spec-drift"' in drift and "0.4" in drift and "drift:species warn at" in drift
    older = _cells(client.get("/data?table=events&partition=2026-11-01").text, "checks")
    assert [(c[0], c[1], c[4]) for c in older] == [
        ("drift:species", "2026-11-01", "psi=0.02"),
        ("volume", "2026-11-01", "rows=120"),
    ]


def test_explain_says_why_and_traces_the_request_back(client: TestClient, context: Context) -> None:
    seed(context)
    with context.store.session() as s:
        s.add(ServedRequest(**_served(context, "req-9", "recommender:2")))
        s.flush()
        row = s.scalar(sa.select(ServedRequest).where(ServedRequest.request_id == "req-9"))
        assert row is not None
        row.items = [
            {
                "item_id": "i7",
                "score": 0.91234,
                "reasons": ["bought i1", "viewed i2"],
                "source": "als",
            }
        ]
    sign_in(client, "viewer-token")
    html = client.get("/explain?request=req-9").text
    assert _cells(html, "served-items") == [["1", "i7", "0.9123", "bought i1; viewed i2", "als"]]
    assert 'href="/lineage?target=request%3Areq-9" id="explain-lineage-link"' in html
    traced = client.get("/lineage?target=request%3Areq-9").text
    assert "Request req-9, answered by Model recommender v2" in traced
    assert _cells(traced, "lineage-request")[0][:3] == ["req-9", "u1", "recommender:2"]
    assert 'data-spec="spec-lineage-graph"' in traced and "request req-9" in traced
    missing = client.get("/lineage?target=request%3Anope").text
    assert "no served request" in missing


def test_csrf_key_cannot_be_computed_from_the_home(client: TestClient, context: Context) -> None:
    """The key is random and kept with the home, not derived from its (guessable) path."""
    import hashlib
    import hmac

    held_id = seed(context)[-1]
    sign_in(client, "deployer-token")
    html = client.get(f"/runs/{held_id}").text
    csrf = html.split('id="release"')[1].split('name="csrf" value="')[1].split('"')[0]
    guessable = hashlib.sha256(f"kibble-ui:{context.settings.home}".encode()).digest()
    forged = hmac.new(guessable, b"deployer-token", hashlib.sha256).hexdigest()
    assert forged != csrf
    response = client.post(f"/runs/{held_id}/release", data={"reason": "x", "csrf": forged})
    assert response.status_code == 403 and client.released == []  # type: ignore[attr-defined]
