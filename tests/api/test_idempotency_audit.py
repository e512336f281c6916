"""Idempotency-Key replays create nothing; every mutating call leaves an audit row;
quotas answer 429 before anything is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kibble.artifacts.formats import JSON as JSON_TYPE
from kibble.store.models import ApiToken, Artifact, AuditEvent
from tests.api.world import World, build_world

BASE = "/api/v1/projects/k9s"


@pytest.fixture
def world(home: Path, database_url: str) -> Iterator[World]:
    """These run on SQLite and on a real PostgreSQL server."""
    w = build_world(home, database_url)
    yield w
    w.other.close()
    w.context.close()


def count(world: World, model: type, project_id: str | None = None) -> int:
    with world.context.store.session() as s:
        query = sa.select(sa.func.count()).select_from(model)
        query = query.where(model.project_id == (project_id or world.context.project_id))
        return int(s.scalar(query) or 0)


def audit_rows(world: World, project_id: str | None = None) -> list[AuditEvent]:
    with world.context.store.session() as s:
        return list(
            s.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.project_id == (project_id or world.context.project_id))
                .order_by(AuditEvent.created_at)
            )
        )


def test_token_creation_replay_creates_nothing_and_hides_the_secret(
    world: World, client: TestClient
) -> None:
    before = count(world, ApiToken)
    headers = {**world.auth("admin"), "Idempotency-Key": "create-ci-token-1"}
    first = client.post(f"{BASE}/tokens", json={"user": "editor", "name": "ci"}, headers=headers)
    second = client.post(f"{BASE}/tokens", json={"user": "editor", "name": "ci"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["token"].startswith("kb_")
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["token"] is None  # the secret is never stored for replays
    assert count(world, ApiToken) == before + 1


def test_same_key_different_request_is_a_conflict(world: World, client: TestClient) -> None:
    headers = {**world.auth("admin"), "Idempotency-Key": "k-2"}
    assert client.put(f"{BASE}/members/ann", json={"role": "viewer"}, headers=headers).is_success
    clash = client.put(f"{BASE}/members/ann", json={"role": "admin"}, headers=headers)
    assert clash.status_code == 409
    assert "different request" in clash.json()["error"]["message"]
    members = client.get(f"{BASE}/members", headers=world.auth("admin")).json()
    assert {m["user"]: m["role"] for m in members}["ann"] == "viewer"


def test_failed_attempt_releases_the_key(world: World, client: TestClient) -> None:
    headers = {**world.auth("admin"), "Idempotency-Key": "retry-me"}
    failed = client.post(f"{BASE}/tokens", json={"user": "ghost"}, headers=headers)
    assert failed.status_code == 400
    assert client.put(
        f"{BASE}/members/ghost", json={"role": "viewer"}, headers=world.auth("admin")
    ).is_success
    retried = client.post(f"{BASE}/tokens", json={"user": "ghost"}, headers=headers)
    assert retried.status_code == 201


def test_upload_replay_and_bad_keys(world: World, client: TestClient) -> None:
    before = count(world, Artifact)
    headers = {**world.auth("editor"), "Content-Type": JSON_TYPE, "Idempotency-Key": "up-1"}
    first = client.post(f"{BASE}/artifacts?name=notes", content=b'"hello"', headers=headers)
    again = client.post(f"{BASE}/artifacts?name=notes", content=b'"hello"', headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert count(world, Artifact) == before + 1
    bad = client.post(
        f"{BASE}/artifacts", content=b"1", headers={**headers, "Idempotency-Key": "k" * 500}
    )
    assert bad.status_code == 400
    # keys are per project: the other project's same key is a different request
    other = client.put(
        "/api/v1/projects/other/quota",
        json={"max_deployments": 3},
        headers={**world.auth("other_admin"), "Idempotency-Key": "up-1"},
    )
    assert other.status_code == 200 and "idempotent-replayed" not in other.headers


def test_every_mutating_call_is_audited_with_who_what_where_result(
    world: World, client: TestClient
) -> None:
    start = len(audit_rows(world))
    client.put(f"{BASE}/members/zed", json={"role": "editor"}, headers=world.auth("admin"))
    client.put(f"{BASE}/members/zed", json={"role": "admin"}, headers=world.auth("viewer"))
    client.delete(f"{BASE}/tokens/{world.ids['token_spare']}", headers=world.auth("admin"))
    client.post(f"{BASE}/tokens", json={"user": "zed"}, headers=world.auth("other_admin"))
    client.get(f"{BASE}/runs", headers=world.auth("admin"))  # reads are not audited
    rows = audit_rows(world)[start:]
    summary = [
        (r.actor, r.action, r.result, r.details["method"], r.details["status"]) for r in rows
    ]
    assert summary == [
        ("admin", "members.write", "ok", "PUT", 200),
        ("viewer", "members.write", "denied", "PUT", 403),
        ("admin", "tokens.write", "ok", "DELETE", 200),
    ]
    assert all(r.source == "testclient" and r.target.startswith(BASE) for r in rows)
    assert all(r.created_at is not None for r in rows)
    # the other project's admin probing k9s is recorded in *their* project, as denied
    theirs = audit_rows(world, world.other.project_id)
    assert (theirs[-1].actor, theirs[-1].result, theirs[-1].target) == (
        "olga",
        "denied",
        f"{BASE}/tokens",
    )
    listed = client.get(f"{BASE}/audit?action=members.write", headers=world.auth("admin")).json()
    assert [e["result"] for e in listed][:2] == ["denied", "ok"]


def test_revoked_token_stops_working_immediately(world: World, client: TestClient) -> None:
    assert client.get(f"{BASE}/runs", headers=world.auth("spare")).status_code == 200
    client.delete(f"{BASE}/tokens/{world.ids['token_spare']}", headers=world.auth("admin"))
    assert client.get(f"{BASE}/runs", headers=world.auth("spare")).status_code == 401


def test_last_admin_cannot_be_removed(world: World, client: TestClient) -> None:
    response = client.delete(f"{BASE}/members/admin", headers=world.auth("admin"))
    assert response.status_code == 409
    response = client.put(
        f"{BASE}/members/admin", json={"role": "viewer"}, headers=world.auth("admin")
    )
    assert response.status_code == 409


def test_storage_quota_answers_429_and_stores_nothing(world: World, client: TestClient) -> None:
    used = client.get(BASE, headers=world.auth("viewer")).json()["usage"]["storage_bytes"]
    assert used > 0
    limit = client.put(
        f"{BASE}/quota", json={"max_storage_bytes": used + 10}, headers=world.auth("admin")
    )
    assert limit.json()["max_storage_bytes"] == used + 10
    before = count(world, Artifact)
    small = client.post(
        f"{BASE}/artifacts",
        content=b"12345",
        headers={**world.auth("editor"), "Content-Type": JSON_TYPE},
    )
    assert small.status_code == 201
    big = client.post(
        f"{BASE}/artifacts",
        content=b"1" * 100,
        headers={**world.auth("editor"), "Content-Type": JSON_TYPE},
    )
    assert big.status_code == 429
    assert big.json()["error"]["code"] == "quota_exceeded"
    assert count(world, Artifact) == before + 1
    assert client.put(f"{BASE}/quota", json={}, headers=world.auth("deployer")).status_code == 403
