"""The dashboard under /ui of the API server signs in with real API tokens."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kibble.api import create_app
from kibble.store.repositories.auth import Members
from tests.api.world import World


@pytest.fixture
def ui(world: World) -> Iterator[TestClient]:
    app = create_app(world.settings, store=world.context.store, ui=True)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def sign_in(ui: TestClient, token: str) -> int:
    response = ui.post("/ui/login", data={"token": token}, follow_redirects=False)
    return response.status_code


def test_members_sign_in_and_see_only_their_project(world: World, ui: TestClient) -> None:
    assert ui.get("/ui/overview", follow_redirects=False).headers["location"] == "/ui/login"
    assert sign_in(ui, world.tokens["viewer"]) == 303
    page = ui.get("/ui/overview")
    assert page.status_code == 200
    assert "k9s drift" in page.text and "other drift" not in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]  # the UI's own CSP
    assert ui.get("/api/v1/projects/k9s/runs").status_code == 401  # cookies are not API auth


@pytest.mark.parametrize("who", ["expired", "revoked", "nobody"])
def test_dead_or_memberless_tokens_cannot_sign_in(world: World, ui: TestClient, who: str) -> None:
    assert sign_in(ui, world.tokens[who]) == 401


def test_scoped_tokens_cannot_open_a_dashboard_session(world: World, ui: TestClient) -> None:
    created = ui.post(
        "/api/v1/projects/k9s/tokens",
        json={"user": "viewer", "scopes": ["runs.read"]},
        headers=world.auth("admin"),
    ).json()
    assert sign_in(ui, created["token"]) == 401
    with world.context.store.session() as s:
        assert Members(s, world.context.project_id).find("viewer") is not None


def test_the_dashboard_obeys_the_host_allowlist(ui: TestClient) -> None:
    assert ui.get("/ui/login", headers={"Host": "evil.example"}).status_code == 400


@pytest.mark.parametrize("address", ["/ui", "/ui/"])
def test_the_printed_address_opens_the_dashboard(
    world: World, ui: TestClient, address: str
) -> None:
    response = ui.get(address, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/overview"
    assert sign_in(ui, world.tokens["viewer"]) == 303
    page = ui.get(address)  # followed to the end: no loop, no JSON 404
    assert page.status_code == 200 and page.url.path == "/ui/overview"
    assert "text/html" in page.headers["content-type"]


def test_a_sign_in_warns_only_when_refused(
    world: World, ui: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kibble.api.audit")
    assert sign_in(ui, world.tokens["viewer"]) == 303
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert sign_in(ui, world.tokens["nobody"]) == 401
    assert [r for r in caplog.records if r.levelno == logging.WARNING]
