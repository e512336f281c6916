"""The issue-23 probes of bad input, on SQLite and PostgreSQL: each answered 4xx, none
stored, and the server keeps answering (no 500, no reset connection)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kibble.config import Settings
from kibble.context import Context
from kibble.serving.app import create_app
from kibble.serving.feedback import export_feedback
from tests.serving.helpers import register_versions, serving_headers

JSON = {"content-type": "application/json"}
GOOD = {"event_id": "e", "user_id": "u1", "item_id": "i1", "event_type": "click"}
BAD_EVENTS: list[dict[str, Any]] = [
    {**GOOD, "user_id": ""},
    {**GOOD, "user_id": "u" * 200},
    {**GOOD, "user_id": "u\x00"},
    {**GOOD, "user_id": "\ud800"},
    {**GOOD, "session_id": "s" * 200},
    {**GOOD, "request_id": "r" * 65},
    {**GOOD, "event_type": ["click"]},
    {**GOOD, "ts": "yesterday"},
    {**GOOD, "ts": "0001-01-01T00:00:00+05:00"},
    {**GOOD, "item_id": 7},
]


@pytest.fixture
def backend(backend_settings: Settings) -> Iterator[tuple[TestClient, Context]]:
    context = Context.open(backend_settings)
    register_versions(context)
    try:
        app = create_app(context, "default", "recs")
        with TestClient(app, headers=serving_headers(context)) as client:
            yield client, context
    finally:
        context.close()


def test_bad_feedback_is_refused_before_the_store(backend: tuple[TestClient, Context]) -> None:
    client, context = backend
    for event in BAD_EVENTS:
        body = json.dumps({"events": [event]})  # ASCII: a lone surrogate as \ud800
        r = client.post("/v1/feedback", content=body, headers=JSON)
        assert r.status_code == 422, (event, r.text)
        assert r.json()["message"] and r.json()["hint"]
    assert client.post("/v1/feedback", json={"events": []}).status_code == 422
    assert client.post("/v1/feedback", json={"events": "x"}).status_code == 422
    assert client.post("/v1/feedback", json={"events": [GOOD] * 1001}).status_code == 422
    assert export_feedback(context).num_rows == 0
    arm_object = client.post("/v1/feedback", json={"events": [{**GOOD, "arm": {"a": 1}}]})
    assert arm_object.status_code == 200 and arm_object.json()["attributed"] == 0


def test_bad_recommendation_requests_are_4xx(backend: tuple[TestClient, Context]) -> None:
    client, _ = backend
    for user in ["", "u" * 200, "u\x00", "u\x1f"]:
        assert client.get("/v1/recommendations", params={"user_id": user}).status_code == 422
        post = client.post("/v1/recommendations", json={"user_id": user})
        assert post.status_code == 422
    assert client.post("/v1/recommendations", json={"user_id": "u1", "k": "abc"}).status_code == 422
    too_long = client.get(f"/v1/recommendations/{'r' * 65}")
    assert too_long.status_code == 422
    assert client.get("/v1/recommendations", params={"user_id": "u1"}).status_code == 200


def test_bodies_are_limited_in_size_and_shape(backend: tuple[TestClient, Context]) -> None:
    client, _ = backend
    big = b'{"events": [' + b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}]}'
    r = client.post("/v1/feedback", content=big, headers=JSON)
    assert r.status_code == 413 and "max_body_bytes" in r.json()["hint"]
    deep = b"[" * 5000 + b"]" * 5000
    r = client.post("/v1/feedback", content=deep, headers=JSON)
    assert r.status_code == 400 and "nests deeper" in r.json()["message"]
    pickled = client.post(
        "/v1/feedback", content=b"\x80\x04.", headers={"content-type": "application/pickle"}
    )
    assert pickled.status_code == 415
    assert client.get("/healthz").status_code == 200  # still answering
