"""Feedback is attributed by the server, never by the client, and needs a credential.

The probes of issue 23 as tests: a client-sent arm is never stored, a made-up request id
is kept unattributed and counts nowhere, attribution survives a restart, and writes
without a serving.write token are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kibble.config import load_settings
from kibble.context import Context
from kibble.serving.app import create_app
from kibble.serving.feedback import export_feedback
from kibble.store.repositories.serving import Feedback, ServedRequests
from tests.serving.helpers import register_versions, serving_headers

HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def click(event_id: str, answer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": answer["user_id"],
        "item_id": answer["items"][0]["item_id"],
        "event_type": "click",
        "request_id": answer["request_id"],
        **extra,
    }


def stored_arms(context: Context) -> dict[str, str | None]:
    table = export_feedback(context)
    events, arms = table.column("event_id").to_pylist(), table.column("arm").to_pylist()
    return dict(zip(events, arms, strict=True))


def test_the_client_cannot_choose_the_arm(client: TestClient, context: Context) -> None:
    answer = client.get("/v1/recommendations", params={"user_id": "u1", "k": 2}).json()
    other = "recs:2" if answer["arm"] == "recs:1" else "recs:1"
    sent = [
        click("mine", answer, arm=other),  # a real answer, a false arm
        click("arm-object", answer, arm={"$ne": None}),
        click("made-up", {**answer, "request_id": "f" * 32}, arm=other),
        click("tampered", {**answer, "request_id": answer["request_id"][:-2] + "AA"}),
        {**click("no-id", answer, arm=other), "request_id": None},
    ]
    r = client.post("/v1/feedback", json={"events": sent})
    assert r.status_code == 200 and r.json() == {"accepted": 5, "new": 5, "attributed": 2}
    assert stored_arms(context) == {
        "mine": answer["arm"],
        "arm-object": answer["arm"],
        "made-up": None,  # kept, marked unattributed
        "tampered": None,
        "no-id": None,
    }
    with context.store.session() as session:  # the bandit's rewards: attributed only
        assert Feedback(session, context.project_id).count_by_arm(HOUR_AGO) == {answer["arm"]: 2}
    metrics = client.get("/metrics").text
    assert "kibble_feedback_unattributed_total 3.0" in metrics


def test_attribution_survives_a_restart(context: Context) -> None:
    headers = serving_headers(context)

    register_versions(context)
    with TestClient(create_app(context, "default", "recs"), headers=headers) as first:
        answer = first.get("/v1/recommendations", params={"user_id": "u2"}).json()
    # A new process (same home, so the same key) attributes a click on that answer.
    with TestClient(create_app(context, "default", "recs"), headers=headers) as second:
        r = second.post("/v1/feedback", json={"events": [click("later", answer)]})
    assert r.json()["attributed"] == 1
    assert stored_arms(context) == {"later": answer["arm"]}


def test_an_unsigned_id_is_attributed_from_the_request_log(
    client: TestClient, context: Context
) -> None:
    """Answers logged before ids were signed (or under an old key) still count."""
    with context.store.session() as session:
        ServedRequests(session, context.project_id).add_many(
            [
                {
                    "request_id": "legacy-1",
                    "deployment": "default",
                    "user_id": "u3",
                    "arm": "recs:1",
                    "model_version": "recs:1",
                    "probability": 0.5,
                    "items": [],
                    "ts": datetime.now(UTC),
                },
                {
                    "request_id": "other-deployment",
                    "deployment": "elsewhere",
                    "user_id": "u3",
                    "arm": "recs:1",
                    "model_version": "recs:1",
                    "probability": 0.5,
                    "items": [],
                    "ts": datetime.now(UTC),
                },
            ]
        )
    base = {"user_id": "u3", "items": [{"item_id": "i1"}]}
    events = [
        click("old", {**base, "request_id": "legacy-1"}),
        click("elsewhere", {**base, "request_id": "other-deployment"}),
    ]
    assert client.post("/v1/feedback", json={"events": events}).json()["attributed"] == 1
    assert stored_arms(context) == {"old": "recs:1", "elsewhere": None}


def test_feedback_needs_a_serving_write_token(client: TestClient, context: Context) -> None:
    answer = client.get("/v1/recommendations", params={"user_id": "u4"}).json()
    body = {"events": [click("x", answer)]}
    anonymous = client.post("/v1/feedback", json=body, headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.json()["hint"]
    garbage = client.post("/v1/feedback", json=body, headers={"Authorization": "Bearer kb_x"})
    assert garbage.status_code == 401
    viewer = client.post("/v1/feedback", json=body, headers=serving_headers(context, "viewer"))
    assert viewer.status_code == 403
    assert export_feedback(context).num_rows == 0  # nothing written by any of them
    assert client.post("/v1/feedback", json=body).status_code == 200


def test_a_public_storefront_needs_no_token(context: Context) -> None:

    register_versions(context)
    settings = load_settings(
        {"home": context.settings.home, "serving.public_feedback": True}, environ={}
    )
    public = Context.open(settings)
    try:
        with TestClient(create_app(public, "default", "recs")) as c:
            answer = c.get("/v1/recommendations", params={"user_id": "u5"}).json()
            r = c.post("/v1/feedback", json={"events": [click("p", answer, arm="recs:9")]})
        assert r.status_code == 200 and r.json()["attributed"] == 1
        assert stored_arms(public) == {"p": answer["arm"]}
    finally:
        public.close()
