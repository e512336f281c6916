"""Dashboard pages over a real store: project scoping, CSRF, roles, escaping, pagination."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from kibble.context import Context
from kibble.store.models import Alert, ModelVersion, RegisteredModel, Run, StepRun
from kibble.store.repositories import Projects
from kibble.ui.app import Principal, create_ui


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
                    metrics={"ndcg@10": 0.1 * v},
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
    assert "ndcg@10" in html
    assert "0.2" in html and "0.1" in html
    assert 'data-spec="spec-metrics-by-version"' in html


def test_held_run_shows_reasons_and_dag(client: TestClient, context: Context) -> None:
    held_id = seed(context)[-1]
    sign_in(client, "viewer-token")
    html = client.get(f"/runs/{held_id}").text
    assert "events for 2026-11-23 are late" in html
    assert 'data-step="ingest"' in html and 'data-step="train"' in html
    assert "release-denied" in html  # a viewer sees why, not a form


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
