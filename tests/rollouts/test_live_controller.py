"""The controller running inside the app, fed by the request log: roll back, promote, lock."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kibble.config import Settings
from kibble.context import Context
from kibble.rollouts import service
from kibble.serving.app import create_app
from kibble.serving.pointers import resolve_aliases
from kibble.serving.routing import Guardrails
from kibble.serving.state import ModelHolder
from kibble.store.repositories.serving import Rollouts
from tests.serving.helpers import serving_headers, three_versions, wait_for

STEPS = (0.5, 1.0)
Factory = Callable[[Guardrails], TestClient]


@pytest.fixture
def live(context: Context) -> Iterator[Factory]:
    """An app whose background controller ticks every 0.1 s with the given limits."""
    three_versions(context)
    clients: list[TestClient] = []

    def make(rails: Guardrails) -> TestClient:
        app = create_app(context, "default", "recs", poll_s=0.1, controller_s=0.1, rails=rails)
        client = TestClient(app, headers=serving_headers(context))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def challenger_model(client: TestClient) -> Any:
    holder: ModelHolder = client.app.state.holder  # type: ignore[attr-defined]
    holder.refresh()
    assert holder.current is not None and holder.current.spec.challenger == "recs:3"
    return holder.current.models["recs:3"]


def drive(client: TestClient, context: Context, click_every: int = 0) -> dict[str, Any]:
    """Steady traffic (optionally clicks) until the rollout is decided; all answers 2xx."""
    counter = itertools.count()

    def decided() -> dict[str, Any] | None:
        for _ in range(40):
            i = next(counter)
            r = client.get("/v1/recommendations", params={"user_id": f"user{i}", "k": 3})
            assert r.status_code == 200, r.text
            if click_every and i % click_every == 0:
                a = r.json()
                event = {
                    "event_id": f"c{i}",
                    "user_id": a["user_id"],
                    "item_id": a["items"][0]["item_id"],
                    "event_type": "click",
                    "request_id": a["request_id"],
                }
                assert client.post("/v1/feedback", json={"events": [event]}).status_code == 200
        status = service.status(context, "default")
        return status if status["status"] != "active" else None

    return wait_for(decided, timeout_s=30, what="the controller to decide")


def champion(context: Context) -> str:
    with context.store.session() as session:
        return resolve_aliases(session, context.project_id, "recs")["champion"].label


def test_injected_errors_roll_back_automatically(
    live: Factory, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = live(Guardrails(max_error_rate=0.05, min_requests=10, min_impressions=10))
    service.start(context, "default", "recs", None, steps=STEPS)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected error")

    monkeypatch.setattr(challenger_model(client), "recommend", broken)
    status = drive(client, context)  # users still get 200s: the champion answers for it
    assert status["status"] == "rolled_back"
    decision = status["decisions"][-1]
    assert decision["action"] == "rollback" and "error rate" in decision["reasons"][0]
    assert decision["numbers"]["error_rate"] == 1.0
    assert champion(context) == "recs:2"


def test_injected_latency_rolls_back_automatically(
    live: Factory, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = live(Guardrails(sla_p99_ms=25.0, min_requests=10, min_impressions=10))
    service.start(context, "default", "recs", None, steps=STEPS)
    model = challenger_model(client)
    original = model.recommend

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.05)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "recommend", slow)
    status = drive(client, context)
    decision = status["decisions"][-1]
    assert status["status"] == "rolled_back" and "p99" in decision["reasons"][0]
    assert decision["numbers"]["p95_ms"] >= 50
    assert champion(context) == "recs:2"


def test_healthy_challenger_is_promoted_and_served(live: Factory, context: Context) -> None:
    client = live(Guardrails(sla_p99_ms=1000.0, min_requests=10, min_impressions=10))
    service.start(context, "default", "recs", None, steps=STEPS)
    challenger_model(client)
    status = drive(client, context, click_every=3)
    assert status["status"] == "promoted"
    assert [d["action"] for d in status["decisions"]] == ["advance", "promote"]
    assert status["decisions"][0]["numbers"]["ctr_challenger"] > 0
    assert champion(context) == "recs:3"  # the registry alias moved

    def serving_new_champion() -> bool:
        return bool(client.get("/readyz").json()["champion"] == "recs:3")

    wait_for(serving_new_champion, what="the app to serve the new champion")


@pytest.mark.postgres
def test_only_one_replica_steps_at_a_time(postgres: Any, home: Any) -> None:
    """While one transaction holds the rollout's row lock, another step is skipped."""
    from kibble.config import load_settings

    settings: Settings = load_settings(
        {"home": home, "database_url": postgres.create_database()}, environ={}
    )
    context = Context.open(settings)
    try:
        three_versions(context)
        service.start(context, "default", "recs", None, steps=STEPS)
        with context.store.session() as session:
            assert Rollouts(session, context.project_id).active("default", lock=True)
            assert service.step(context, "default")["action"] == "skipped"
        assert service.step(context, "default")["action"] == "hold"  # lock released
    finally:
        context.close()
