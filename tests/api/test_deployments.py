"""Deployments and their rollouts through the REST API, scoped to the caller's project."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kibble.rollouts import service as rollouts
from kibble.store.repositories.registry import Registry
from tests.api.world import World

BASE = "/api/v1/projects/k9s"


def test_rollouts_of_a_deployment_with_their_decisions(world: World, client: TestClient) -> None:
    ctx = world.context
    with ctx.store.session() as s:
        Registry(s, ctx.project_id).register_version("recs", world.ids["digest"], "als")
    rollouts.start(ctx, "shop", "recs", "recs:1")  # v2 is the newest, so champion
    rollouts.finish(ctx, "shop", "abort", "not today", {"lift": -0.01})
    viewer = world.auth("viewer")

    shop = client.get(f"{BASE}/deployments/shop", headers=viewer).json()
    assert shop["policy"]["arms"] == {"recs:1": 0.05, "recs:2": 0.95}
    [rollout] = client.get(f"{BASE}/deployments/shop/rollouts", headers=viewer).json()
    assert (rollout["challenger"], rollout["status"]) == ("recs:1", "rolled_back")
    assert [(d["action"], d["reasons"], d["numbers"]) for d in rollout["decisions"]] == [
        ("abort", ["not today"], {"lift": -0.01})
    ]
    # the other project has a deployment of the same name and no rollouts
    other = client.get("/api/v1/projects/other/deployments/shop/rollouts", headers=viewer)
    assert other.status_code in (403, 404)
    missing = client.get(f"{BASE}/deployments/nope/rollouts", headers=viewer)
    assert missing.status_code == 404 and "list deployments first" in missing.text


def test_a_served_request_is_explained_within_its_project(world: World, client: TestClient) -> None:
    viewer = world.auth("viewer")
    served = client.get(f"{BASE}/requests/req-1", headers=viewer).json()
    assert served["user_id"] == "k9s-user" and served["model_version"] == "recs:1"
    assert served["items"][0]["reasons"] == ["popular"] and served["feedback"] == []
    missing = client.get(f"{BASE}/requests/nope", headers=viewer)
    assert missing.status_code == 404 and "retention" in missing.text
