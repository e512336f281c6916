"""Every route x every wrong credential: 401, 403 or 404, never data; lists stay in
their project. The table is built from ``app.routes``, so a new router is walked too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from kibble.api.deps import ACTION_KEY, ROLE_KEY
from kibble.auth.roles import ROLES
from kibble.store.repositories.auth import Members, Tokens
from tests.api.world import World, build_world

PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json"}
ROOT = {"/api/v1/whoami", "/api/v1/projects"}
CREDENTIAL_CASES = {
    "no token": None,
    "malformed token": "Bearer not-a-token",
    "unknown token": "Bearer kb_" + "A" * 43,
    "wrong scheme": "Basic YWRtaW46YWRtaW4=",
}


@pytest.fixture(scope="module")
def walk_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = build_world(Path(tmp_path_factory.mktemp("walk")) / "home")
    yield w
    w.other.close()
    w.context.close()


@pytest.fixture(scope="module")
def walk_client(walk_world: World) -> Iterator[TestClient]:
    with TestClient(walk_world.app, base_url="http://testserver") as c:
        yield c


def api_routes(app: Any) -> list[tuple[str, str, Any]]:
    """(method, path, route) for every route, including those of included routers."""
    out = []
    for route in iter_route_contexts(app.routes):
        if route.path in PUBLIC or route.endpoint is None:
            continue
        out.extend((m, route.path, route) for m in sorted(route.methods or ()) if m != "HEAD")
    return out


def fill(path: str, world: World, *, spare: bool = False) -> str:
    """A concrete URL whose resources exist in project k9s (so only auth can refuse it)."""
    values = {
        "project": "k9s",
        "digest": world.ids["digest"],
        "name": "events" if "/datasets/" in path else "recs" if "/models/" in path else "shop",
        "run_id": world.ids["run"],
        "alert_id": world.ids["alert"],
        "request_id": "req-1",
        "token_id": world.ids["token_spare" if spare else "token_viewer"],
        "user": "temp" if spare else "viewer",
        "version": "2",  # the version the register route adds
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def body_for(path: str, digest: str) -> dict[str, Any]:
    if path.endswith("/members/{user}"):
        return {"json": {"role": "viewer"}}
    if path.endswith("/tokens"):
        return {"json": {"user": "viewer", "days": 1}}
    if path.endswith("/quota"):
        return {"json": {"max_deployments": 5}}
    if path.endswith("/artifacts"):
        return {"content": b'"new bytes"', "headers": {"Content-Type": "application/json"}}
    if path.endswith("/models/{name}/versions"):
        return {"json": {"artifact": digest}}
    if path.endswith("/promote"):
        return {"json": {"version": 1, "reason": "walk"}}
    if path.endswith("/rollback"):
        return {"json": {"reason": "walk"}}
    if path.endswith("/rollouts"):
        return {"json": {"model": "recs", "challenger": "recs:2"}}
    return {}


def call(
    client: TestClient, method: str, url: str, auth: str | None, path: str, digest: str = ""
) -> Any:
    kwargs = body_for(path, digest) if method in {"POST", "PUT"} else {}
    headers = dict(kwargs.pop("headers", {}))
    if auth:
        headers["Authorization"] = auth
    return client.request(method, url, headers=headers, **kwargs)


def role_below(minimum: str) -> str:
    index = ROLES.index(minimum)
    return ROLES[index - 1] if index > 0 else "nobody"


def test_every_project_route_declares_an_action(walk_world: World) -> None:
    world = walk_world
    routes = api_routes(world.app)
    assert len(routes) >= 20
    for method, path, route in routes:
        if path in ROOT:
            continue
        assert path.startswith("/api/v1/projects/{project}"), path
        extra = route.openapi_extra or {}
        assert extra.get(ACTION_KEY) and extra.get(ROLE_KEY) in ROLES, (method, path)


def test_wrong_credentials_are_refused_on_every_route(
    walk_world: World, walk_client: TestClient
) -> None:
    world, client = walk_world, walk_client
    refused: list[tuple[str, str, str, int]] = []
    for method, path, route in api_routes(world.app):
        url = fill(path, world)
        minimum = (route.openapi_extra or {}).get(ROLE_KEY, "viewer")
        cases: dict[str, tuple[str | None, set[int]]] = {
            name: (value, {401}) for name, value in CREDENTIAL_CASES.items()
        }
        cases["expired token"] = (f"Bearer {world.tokens['expired']}", {401})
        cases["revoked token"] = (f"Bearer {world.tokens['revoked']}", {401})
        if path not in ROOT:
            cases["other project's token"] = (f"Bearer {world.tokens['other_admin']}", {404})
            low = role_below(minimum)
            cases[f"too-low role ({low} < {minimum})"] = (f"Bearer {world.tokens[low]}", {403})
        for case, (auth, expected) in cases.items():
            response = call(client, method, url, auth, path, world.ids["digest"])
            refused.append((method, path, case, response.status_code))
            assert response.status_code in expected, (method, path, case, response.text)
            error = response.json()["error"]
            assert error["code"] and error["message"], (method, path, case)
            if response.status_code == 401:
                assert response.headers["www-authenticate"] == "Bearer"
    assert len(refused) >= 20 * 6
    # and the refused mutations changed nothing
    with world.context.store.session() as s:
        roles = {m.user: m.role for m in Members(s, world.context.project_id).list()}
        live = {t.id for t in Tokens(s, world.context.project_id).list()}
    assert roles == {
        "admin": "admin",
        "deployer": "deployer",
        "editor": "editor",
        "viewer": "viewer",
        "temp": "viewer",
    }
    assert world.ids["token_viewer"] in live and world.ids["token_spare"] in live
    listed = client.get("/api/v1/projects/k9s/artifacts", headers=world.auth("admin")).json()
    assert [a["name"] for a in listed] == ["m"]  # no upload slipped through


def test_every_route_works_with_the_right_role(world: World, client: TestClient) -> None:
    """Proves the table's URLs are real: the refusals above are not just missing rows."""
    digest = world.ids["digest"]
    for method, path, route in api_routes(world.app):
        minimum = (route.openapi_extra or {}).get(ROLE_KEY, "viewer")
        response = call(client, method, fill(path, world, spare=True), None, path, digest)
        assert response.status_code == 401
        who = minimum if path not in ROOT else "viewer"
        url = fill(path, world, spare=True)
        response = call(client, method, url, world.auth(who)["Authorization"], path, digest)
        if method == "POST" and path.endswith(("/rollback", "/rollouts")):
            # the seeded model has had one champion, and the version the walk registered
            # failed its gate: the registry refuses to put back what never was, or to roll
            # out an archived version, which still proves the routes real and authorized
            assert response.status_code in (400, 409), (method, path, response.text)
            assert "no previous champion" in response.text or "archived" in response.text
            continue
        assert response.status_code < 300, (method, path, response.text)


def test_lists_never_show_another_projects_rows(walk_world: World, walk_client: TestClient) -> None:
    world, client = walk_world, walk_client
    seen = 0
    for method, path, _ in api_routes(world.app):
        if method != "GET":
            continue
        for who in ("admin", "viewer"):
            response = client.get(fill(path, world), headers=world.auth(who))
            if response.status_code != 200:
                continue
            seen += 1
            text = response.text
            leaked = [i for i in world.other_ids if i in text]
            assert not leaked, (path, who, leaked)
            assert "other drift" not in text and '"other"' not in text
    assert seen >= 20


def test_the_spec_documents_auth_and_roles(walk_world: World, walk_client: TestClient) -> None:
    spec = walk_client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    operations = [
        (path, op)
        for path, ops in spec["paths"].items()
        for op in ops.values()
        if path.startswith("/api/v1/projects/{project}")
    ]
    assert len(operations) >= 20
    for path, op in operations:
        assert op["security"] == [{"bearer": []}], path
        assert op["x-kibble-min-role"] in ROLES, path
