"""The model lifecycle over REST: register, promote, roll back, archive, start a rollout;
each refused with a clear error and no change for bad input, the wrong role or project."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.world import World

BASE = "/api/v1/projects/k9s"


def _aliases(client: TestClient, world: World) -> dict[str, Any]:
    got = client.get(f"{BASE}/models/recs", headers=world.auth("viewer"))
    assert got.status_code == 200, got.text
    aliases: dict[str, Any] = got.json()["aliases"]
    return aliases


def _register(client: TestClient, world: World, who: str = "editor", **body: Any) -> Any:
    payload = {"artifact": world.ids["digest"], **body}
    return client.post(f"{BASE}/models/recs/versions", json=payload, headers=world.auth(who))


def test_register_promote_rollback_archive(client: TestClient, world: World) -> None:
    made = _register(client, world, run_id=world.ids["run"])
    assert made.status_code == 201, made.text
    assert made.json()["version"] == 2 and made.json()["run_id"] == world.ids["run"]
    for version in (1, 2):
        promoted = client.post(
            f"{BASE}/models/recs/promote",
            json={"version": version, "reason": f"v{version} won"},
            headers=world.auth("deployer"),
        )
        assert promoted.status_code == 200, promoted.text
    assert _aliases(client, world)["champion"] == 2
    back = client.post(
        f"{BASE}/models/recs/rollback", json={"reason": "bad"}, headers=world.auth("deployer")
    )
    assert back.status_code == 200 and back.json()["version"] == 1
    archived = client.post(f"{BASE}/models/recs/versions/2/archive", headers=world.auth("deployer"))
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    refused = client.post(
        f"{BASE}/models/recs/promote",
        json={"version": 2, "reason": "again"},
        headers=world.auth("deployer"),
    )
    assert refused.status_code in (400, 409), refused.text
    assert _aliases(client, world)["champion"] == 1
    audit = client.get(f"{BASE}/audit", headers=world.auth("admin")).json()
    assert "models.register" in {row["action"] for row in audit}


def test_bad_input_wrong_role_and_project_change_nothing(client: TestClient, world: World) -> None:
    other_digest = "sha256:" + next(i for i in world.other_ids if len(i) == 64)
    cases = [
        (_register(client, world, artifact="sha256:" + "0" * 64), 404),  # unknown artifact
        (_register(client, world, artifact=other_digest), 404),  # another project's artifact
        (_register(client, world, artifact="/etc/passwd"), 400),  # never a server path
        (_register(client, world, run_id="no-such-run"), 404),
        (_register(client, world, who="viewer"), 403),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert response.json().get("error") or response.json().get("detail")
    promote = {"version": 1, "reason": "x"}
    viewer = client.post(f"{BASE}/models/recs/promote", json=promote, headers=world.auth("viewer"))
    assert viewer.status_code == 403
    editor = client.post(f"{BASE}/models/recs/promote", json=promote, headers=world.auth("editor"))
    assert editor.status_code == 403
    wrong_project = client.post(
        "/api/v1/projects/other/models/recs/promote", json=promote, headers=world.auth("deployer")
    )
    assert wrong_project.status_code == 404
    versions = client.get(f"{BASE}/models/recs/versions", headers=world.auth("viewer")).json()
    assert [v["version"] for v in versions] == [1]
    assert _aliases(client, world) == {}


def test_start_rollout_needs_a_deployer_and_a_champion(client: TestClient, world: World) -> None:
    assert _register(client, world).status_code == 201
    body = {"model": "recs", "challenger": "recs:2", "policy": "canary"}
    url = f"{BASE}/deployments/shop/rollouts"
    assert client.post(url, json=body, headers=world.auth("editor")).status_code == 403
    client.post(
        f"{BASE}/models/recs/promote",
        json={"version": 1, "reason": "first"},
        headers=world.auth("deployer"),
    )
    started = client.post(url, json=body, headers=world.auth("deployer"))
    assert started.status_code == 201, started.text
    assert started.json()["challenger"] == "recs:2" and started.json()["policy"] == "canary"
    again = client.post(url, json=body, headers=world.auth("deployer"))
    assert again.status_code == 409
