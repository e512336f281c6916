"""The rollout lifecycle on a real store: controller steps, idempotence, promotion, replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kibble.config import Settings
from kibble.context import Context
from kibble.errors import ConflictError, NotFoundError, QuotaExceededError
from kibble.rollouts import service
from kibble.rollouts.controller import ArmMetrics
from kibble.serving.app import create_app
from kibble.serving.pointers import resolve_aliases
from kibble.serving.routing import RoutingSpec
from kibble.store.models import Deployment
from kibble.store.repositories.auth import Quotas
from kibble.store.repositories.deployments import Deployments
from kibble.store.repositories.serving import Rollouts
from tests.serving.helpers import register_versions, serving_headers

GOOD = ArmMetrics(5000, 0, 10.0, 5000, 500)


def test_controller_walks_steps_and_promotes(backend_settings: Settings) -> None:
    context = Context.open(backend_settings)
    try:
        register_versions(context)
        # newest version is champion by default: roll out version 1 as the challenger
        service.start(context, "d", "recs", "recs:1")
        with pytest.raises(ConflictError):
            service.start(context, "d", "recs", "recs:1")
        metrics = {"recs:2": GOOD, "recs:1": GOOD}
        actions = [service.step(context, "d", metrics=metrics)["action"] for _ in range(4)]
        assert actions == ["advance", "advance", "advance", "promote"]
        with context.store.session() as session:
            assert (
                resolve_aliases(session, context.project_id, "recs")["champion"].label == "recs:1"
            )
        status = service.status(context, "d")
        assert status["status"] == "promoted" and len(status["decisions"]) == 4
        assert status["decisions"][0]["numbers"]["ctr_challenger"] == pytest.approx(0.1)
        with pytest.raises(NotFoundError):
            service.step(context, "d", metrics=metrics)
    finally:
        context.close()


def test_hold_is_idempotent_and_breach_rolls_back(context: Context) -> None:
    register_versions(context)
    service.start(context, "d", "recs", "recs:1")
    few = {"recs:2": GOOD, "recs:1": ArmMetrics(10, 0, 5.0, 10, 1)}
    for _ in range(3):
        assert service.step(context, "d", metrics=few)["action"] == "hold"
    assert service.status(context, "d")["decisions"] == []  # holds change nothing
    slow = {"recs:2": GOOD, "recs:1": ArmMetrics(5000, 0, 400.0, 5000, 500)}
    out = service.step(context, "d", metrics=slow)
    assert out["action"] == "rollback" and "p99" in out["reasons"][0]
    assert service.status(context, "d")["status"] == "rolled_back"


def test_replay_estimates_from_logged_traffic(context: Context) -> None:
    register_versions(context)
    app = create_app(context, "default", "recs")
    with TestClient(app) as client:
        events = []
        for i in range(200):
            served = client.get("/v1/recommendations", params={"user_id": f"u{i}", "k": 2}).json()
            if served["arm"] == "recs:2":  # only the champion's lists get clicked
                events.append(
                    {
                        "event_id": f"c{i}",
                        "user_id": f"u{i}",
                        "event_type": "click",
                        "item_id": served["items"][0]["item_id"],
                        "request_id": served["request_id"],
                    }
                )
        # through the app, which attributes each click from its signed request id
        r = client.post("/v1/feedback", json={"events": events}, headers=serving_headers(context))
        assert r.json()["attributed"] == len(events)
    since = datetime.now(UTC) - timedelta(hours=1)
    champion_only = RoutingSpec("canary", "recs:2", holdout_share=0.0)
    baseline_only = RoutingSpec("canary", "recs:1", holdout_share=0.0)
    assert service.replay(context, champion_only, since)["snips"] == pytest.approx(1.0)
    assert service.replay(context, baseline_only, since)["snips"] == 0.0


def _deployment(context: Context, name: str) -> Deployment:
    with context.store.session() as session:
        row = Deployments(session, context.project_id).get(name)
        assert row is not None
        session.expunge(row)
        return row


def test_the_deployment_record_follows_the_rollout(context: Context) -> None:
    """Champion recs:2, baseline (and challenger) recs:1: shares worked out by hand from
    the 5% holdout and the gradual steps."""
    register_versions(context)
    assert service.declare(context, "d", "recs")["policy"]["arms"] == {
        "recs:1": pytest.approx(0.05),
        "recs:2": pytest.approx(0.95),
    }
    started = service.start(context, "d", "recs", "recs:1")
    row = _deployment(context, "d")
    assert row.model_name == "recs" and row.status == "active"
    assert row.policy["policy"] == "gradual" and row.policy["rollout_id"] == started["id"]
    assert row.policy["arms"] == {
        "recs:1": pytest.approx(0.05 + 0.95 * 0.05),
        "recs:2": pytest.approx(0.95 * 0.95),
    }
    service.step(context, "d", metrics={"recs:2": GOOD, "recs:1": GOOD})  # advance to 25%
    assert _deployment(context, "d").policy["arms"]["recs:1"] == pytest.approx(0.05 + 0.95 * 0.25)
    service.finish(context, "d", "promote", "looks good", {"ctr_challenger": 0.2})
    after = _deployment(context, "d").policy
    assert after["champion"] == "recs:1" and after["rollout_id"] is None
    assert after["arms"] == {"recs:1": pytest.approx(1.0)}
    decisions = service.status(context, "d")["decisions"]
    assert decisions[-1]["action"] == "promote"
    assert decisions[-1]["numbers"] == {"ctr_challenger": 0.2}


def test_a_deployment_serves_one_model_and_counts_against_the_quota(context: Context) -> None:
    register_versions(context)
    register_versions(context, name="other")
    service.declare(context, "d", "recs")
    with pytest.raises(ConflictError, match="serves model 'recs'"):
        service.declare(context, "d", "other")
    with context.store.session() as session:
        Quotas(session, context.project_id).set(max_deployments=1)
    service.declare(context, "d", "recs")  # the same one again is not a new deployment
    with pytest.raises(QuotaExceededError):
        service.start(context, "second", "other", "other:1")
    with context.store.session() as session:
        assert Deployments(session, context.project_id).get("second") is None
        assert Rollouts(session, context.project_id).active("second") is None  # nothing half-done


def test_replicas_declaring_one_deployment_at_once_share_the_row(
    backend_settings: Settings,
) -> None:
    """The insert that loses the race takes the winner's row instead of failing start-up."""
    first, second = Context.open(backend_settings), Context.open(backend_settings)
    try:
        register_versions(first)
        with first.store.session() as a, second.store.session() as b:
            Deployments(a, first.project_id).save("d", "recs", {"arms": {}})
            a.commit()
            # b looked before a's insert landed, so it inserts too and collides
            row = Deployments(b, second.project_id)._create("d", "recs")
            assert row.model_name == "recs"
        service.declare(second, "d", "recs")
        with second.store.session() as s:
            count = s.scalar(sa.select(sa.func.count()).select_from(Deployment))
        assert count == 1
    finally:
        first.close()
        second.close()
