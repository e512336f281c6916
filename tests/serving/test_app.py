"""The serving app in process, on real models, a real store and real artifacts."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from kibble.context import Context
from kibble.rollouts import service
from kibble.serving.feedback import export_feedback


def test_recommendations_get_and_post(client: TestClient) -> None:
    r = client.get("/v1/recommendations", params={"user_id": "u3", "k": 5})
    assert r.status_code == 200
    body = r.json()
    assert len(body["items"]) == 5 and body["arm"] in ("recs:1", "recs:2")
    assert 0 < body["probability"] <= 1 and body["request_id"]
    post = client.post("/v1/recommendations", json={"user_id": "u3", "k": 5})
    assert post.json()["arm"] == body["arm"]  # sticky
    assert [i["item_id"] for i in post.json()["items"]] == [i["item_id"] for i in body["items"]]


def test_unknown_user_gets_fallback_and_bad_k_is_4xx(client: TestClient) -> None:
    r = client.get("/v1/recommendations", params={"user_id": "stranger", "k": 3})
    assert r.status_code == 200 and len(r.json()["items"]) == 3
    assert client.get("/v1/recommendations", params={"user_id": "u1", "k": 0}).status_code == 422
    assert client.get("/v1/recommendations", params={"user_id": "u1", "k": 999}).status_code == 422


def test_explain_a_served_request(client: TestClient) -> None:
    served = client.get("/v1/recommendations", params={"user_id": "u5", "k": 4}).json()
    r = client.get(f"/v1/recommendations/{served['request_id']}")
    assert r.status_code == 200
    assert r.json()["arm"] == served["arm"] and r.json()["items"] == served["items"]
    missing = client.get("/v1/recommendations/nope")
    assert missing.status_code == 404 and missing.json()["hint"]


def test_feedback_is_idempotent_attributed_and_exported(
    client: TestClient, context: Context
) -> None:
    served = client.get("/v1/recommendations", params={"user_id": "u7", "k": 2}).json()
    item = served["items"][0]["item_id"]
    events = [
        {
            "event_id": "e1",
            "user_id": "u7",
            "item_id": item,
            "event_type": "impression",
            "request_id": served["request_id"],
        },
        {
            "event_id": "e2",
            "user_id": "u7",
            "item_id": item,
            "event_type": "click",
            "request_id": served["request_id"],
            "ts": "2026-01-01T10:00:00+00:00",
        },
    ]
    first = client.post("/v1/feedback", json={"events": events})
    assert first.status_code == 200 and first.json() == {"accepted": 2, "new": 2, "attributed": 2}
    again = client.post("/v1/feedback", json={"events": events})
    assert again.json() == {"accepted": 2, "new": 0, "attributed": 2}
    table = export_feedback(context)
    assert table.num_rows == 2
    assert table.column_names == [
        "event_id",
        "user_id",
        "item_id",
        "event_type",
        "ts",
        "session_id",
        "request_id",
        "arm",
    ]
    assert set(table.column("arm").to_pylist()) == {served["arm"]}
    recent = export_feedback(context, since=datetime(2026, 6, 1, tzinfo=UTC))
    assert recent.column("event_id").to_pylist() == ["e1"]
    bad = client.post("/v1/feedback", json={"events": [{**events[0], "event_type": "like"}]})
    assert bad.status_code == 422 and "event_type" in bad.json()["message"]


def test_open_inference_protocol(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/models/default/ready").json()["ready"] is True
    assert client.get("/v2/models/other").status_code == 404
    body = {
        "inputs": [{"name": "user_id", "datatype": "BYTES", "shape": [2], "data": ["u1", "u2"]}],
        "parameters": {"k": 3},
    }
    out = client.post("/v2/models/default/infer", json=body).json()
    items, scores = out["outputs"]
    assert items["shape"] == [2, 3] and len(items["data"]) == 6 and len(scores["data"]) == 6


def test_metrics_have_arm_labels_and_no_users(client: TestClient) -> None:
    client.get("/v1/recommendations", params={"user_id": "u9", "k": 2})
    text = client.get("/metrics").text
    assert "kibble_requests_total{" in text and 'arm="recs:' in text
    assert "u9" not in text and "kibble_latency_seconds_bucket" in text
    assert "kibble_request_log_queued " in text  # what a kill -9 would lose, live


def test_rollout_swaps_models_without_restart(client: TestClient, context: Context) -> None:
    holder = client.app.state.holder  # type: ignore[attr-defined]
    before = holder.current.version
    service.start(context, "default", "recs", "recs:1", policy="canary")
    assert holder.refresh() is True
    snap = holder.current
    assert snap.version == before + 1 and snap.spec.challenger == "recs:1"
    service.finish(context, "default", "abort", "test rollback")
    holder.refresh()
    assert holder.current.spec.challenger is None
    status = service.status(context, "default")
    assert status["status"] == "rolled_back" and status["decisions"][0]["reasons"] == [
        "test rollback"
    ]
