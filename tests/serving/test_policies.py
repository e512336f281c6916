"""Live policies in the app on real models and store: aliases, shadow, A/B, bandit, metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kibble.context import Context
from kibble.monitoring.points import Point
from kibble.monitoring.store import record_metrics
from kibble.rollouts import service
from kibble.serving.app import create_app
from kibble.serving.pointers import resolve_aliases
from kibble.serving.state import ModelHolder
from kibble.store.repositories.serving import ServedRequests
from tests.serving.helpers import (
    register_versions,
    serving_headers,
    set_alias,
    three_versions,
    wait_for,
)


@pytest.fixture
def client(context: Context) -> Iterator[TestClient]:
    three_versions(context)
    app = create_app(context, "default", "recs", poll_s=0.1)
    with TestClient(app, headers=serving_headers(context)) as c:
        yield c


def holder(client: TestClient) -> ModelHolder:
    h: ModelHolder = client.app.state.holder  # type: ignore[attr-defined]
    return h


def get(client: TestClient, user: str) -> dict[str, Any]:
    r = client.get("/v1/recommendations", params={"user_id": user, "k": 5})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_aliases_come_from_the_registry_with_a_fallback(context: Context) -> None:
    register_versions(context)
    with context.store.session() as session:
        refs = resolve_aliases(session, context.project_id, "recs")
    # no alias set yet: newest is champion, oldest is baseline, no challenger
    assert (refs["champion"].label, refs["baseline"].label) == ("recs:2", "recs:1")
    assert "challenger" not in refs
    set_alias(context, "champion", "recs:1")
    set_alias(context, "baseline", "recs:2")
    set_alias(context, "challenger", "recs:2")
    with context.store.session() as session:
        refs = resolve_aliases(session, context.project_id, "recs")
    assert [refs[a].label for a in ("champion", "baseline", "challenger")] == [
        "recs:1",
        "recs:2",
        "recs:2",
    ]


def test_shadow_never_affects_the_response_and_is_logged(
    client: TestClient, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [f"u{i}" for i in range(40)]
    before = {u: get(client, u) for u in users}
    service.start(context, "default", "recs", None, policy="shadow")  # the registry challenger
    holder(client).refresh()
    snap = holder(client).current
    assert snap is not None and (snap.spec.policy, snap.spec.challenger) == ("shadow", "recs:3")
    good = {u: get(client, u) for u in users}

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected shadow failure")

    monkeypatch.setattr(snap.models["recs:3"], "recommend", broken)
    bad = {u: get(client, u) for u in users}
    for u in users:
        for answer in (good[u], bad[u]):
            assert (answer["arm"], answer["items"]) == (before[u]["arm"], before[u]["items"])
    client.app.state.shadow.drain()  # type: ignore[attr-defined]
    client.app.state.requests.flush()  # type: ignore[attr-defined]
    with context.store.session() as session:
        rows = ServedRequests(session, context.project_id).since(
            datetime.now(UTC) - timedelta(hours=1)
        )
        shadows = {r.shadow_of: (r.arm, r.error, len(r.items)) for r in rows if r.shadow_of}
    mirrored = [a for a in good.values() if not a["holdout"]]
    failed = [a for a in bad.values() if not a["holdout"]]
    assert mirrored and set(shadows) == {a["request_id"] for a in mirrored + failed}
    assert all(shadows[a["request_id"]] == ("recs:3", None, 5) for a in mirrored)
    assert all("injected" in str(shadows[a["request_id"]][1]) for a in failed)
    text = client.get("/metrics").text
    assert 'kibble_shadow_overlap_count{arm="recs:3"}' in text


def test_ab_split_is_even_and_sticky(client: TestClient, context: Context) -> None:
    service.start(context, "default", "recs", "recs:3", policy="ab")
    holder(client).refresh()
    answers = [get(client, f"user{i}") for i in range(400)]
    live = [a for a in answers if not a["holdout"]]
    shares = Counter(a["arm"] for a in live)
    assert set(shares) == {"recs:2", "recs:3"}
    assert shares["recs:3"] / len(live) == pytest.approx(0.5, abs=0.08)
    assert all(a["probability"] == pytest.approx(0.95 * 0.5) for a in live)
    assert all(get(client, a["user_id"])["arm"] == a["arm"] for a in answers[:50])


def test_bandit_moves_traffic_to_the_arm_that_gets_clicks(
    client: TestClient, context: Context
) -> None:
    service.start(context, "default", "recs", "recs:3", policy="bandit")
    holder(client).refresh()
    first = [get(client, f"user{i}") for i in range(300)]
    arms = Counter(a["arm"] for a in first if not a["holdout"])
    assert arms["recs:2"] > 50 and arms["recs:3"] > 50  # no evidence yet: both explored
    clicks = [
        {
            "event_id": f"c{a['request_id']}",
            "user_id": a["user_id"],
            "item_id": a["items"][0]["item_id"],
            "event_type": "click",
            "request_id": a["request_id"],
        }
        for a in first
        if a["arm"] == "recs:3"
    ]
    assert client.post("/v1/feedback", json={"events": clicks}).status_code == 200

    def learned() -> bool:
        stats = holder(client).current.bandit  # type: ignore[union-attr]
        return "recs:3" in stats and stats["recs:3"].successes == len(clicks)

    wait_for(learned, what="bandit stats to include the clicks")
    later = Counter(
        a["arm"] for a in (get(client, f"new{i}") for i in range(300)) if not a["holdout"]
    )
    assert later["recs:3"] / sum(later.values()) > 0.85


def test_metrics_show_stored_points_beside_live_counters(
    client: TestClient, context: Context
) -> None:
    now = datetime.now(UTC)
    record_metrics(
        context,
        [Point("model.ctr", 0.125, now - timedelta(hours=1), now, {"deployment": "default"})],
    )
    get(client, "u1")
    text = client.get("/metrics").text
    assert "kibble_requests_total{" in text
    assert 'kibble_model_ctr{deployment="default",project="default"} 0.125' in text
