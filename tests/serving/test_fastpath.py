"""The GET fast path answers plain requests itself and leaves everything else to FastAPI,
with the same bodies either way; the request log writes mixed rows in one insert."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from kibble.context import Context
from kibble.errors import KibbleError, NotFoundError
from kibble.serving.fastpath import RecommendFastPath, parse
from kibble.serving.requestlog import RequestLog
from kibble.store.repositories.serving import ServedRequests


def test_parse_accepts_plain_requests() -> None:
    assert parse(b"user_id=u1&k=5", 100) == {
        "user_id": "u1",
        "k": 5,
        "item_id": None,
        "category": None,
        "species": None,
    }
    got = parse(b"user_id=a%20b&category=toys&species=dog&item_id=i3", 100)
    assert got is not None
    assert (got["user_id"], got["k"], got["category"], got["item_id"]) == ("a b", 10, "toys", "i3")


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"k=5",  # no user
        b"user_id=u1&user_id=u2",  # repeated key
        b"user_id=u1&k=0",
        b"user_id=u1&k=101",
        b"user_id=u1&k=ten",
        b"user_id=u1&k=-1",
        b"user_id=u1&k=%EF%BC%95",  # a non-ASCII digit
        b"user_id=",  # empty value
        b"user_id=u1&colour=red",  # unknown parameter
        b"user_id=" + b"x" * 129,
        b"user_id=u1&&k=3",  # malformed
    ],
)
def test_parse_leaves_anything_unusual_to_fastapi(query: bytes) -> None:
    assert parse(query, 100) is None


def _call(app: RecommendFastPath, path: str, query: bytes, method: str = "GET") -> dict[str, Any]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query}
    asyncio.run(app(scope, receive, send))
    headers = dict(sent[0].get("headers", []))
    return {"status": sent[0]["status"], "headers": headers, "body": sent[1]["body"]}


async def _downstream(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"framework"})


def test_middleware_answers_plain_gets_and_delegates_the_rest() -> None:
    seen: list[dict[str, Any]] = []

    def handler(params: dict[str, Any]) -> dict[str, Any]:
        seen.append(params)
        return {"user_id": params["user_id"], "k": params["k"]}

    app = RecommendFastPath(_downstream, handler=handler, max_k=100)
    fast = _call(app, "/v1/recommendations", b"user_id=u1&k=3")
    assert fast["status"] == 200 and orjson.loads(fast["body"]) == {"user_id": "u1", "k": 3}
    assert fast["headers"][b"content-length"] == str(len(fast["body"])).encode()
    assert _call(app, "/v1/recommendations", b"user_id=u1&k=0")["status"] == 299
    assert _call(app, "/v1/recommendations", b"user_id=u1", method="POST")["status"] == 299
    assert _call(app, "/healthz", b"")["status"] == 299
    assert len(seen) == 1


def test_middleware_renders_kibble_errors_like_the_app() -> None:
    def handler(params: dict[str, Any]) -> dict[str, Any]:
        raise NotFoundError("no such thing", hint="look elsewhere")

    app = RecommendFastPath(_downstream, handler=handler, max_k=100)
    out = _call(app, "/v1/recommendations", b"user_id=u1")
    assert out["status"] == NotFoundError("x").http_status
    assert orjson.loads(out["body"]) == {
        "error": "NotFoundError",
        "message": "no such thing",
        "hint": "look elsewhere",
    }
    assert issubclass(NotFoundError, KibbleError)


def test_fast_and_framework_paths_serve_the_same_answer(client: TestClient) -> None:
    fast = client.get("/v1/recommendations", params={"user_id": "u3", "k": 4})
    # an extra parameter FastAPI ignores sends the request down the framework route
    slow = client.get("/v1/recommendations", params={"user_id": "u3", "k": 4, "x": "1"})
    assert fast.status_code == slow.status_code == 200
    assert fast.headers["content-type"] == slow.headers["content-type"]
    a, b = fast.json(), slow.json()
    assert a["request_id"] != b["request_id"]
    for key in ("user_id", "model", "version", "arm", "probability", "holdout", "items"):
        assert a[key] == b[key]
    assert len(a["items"]) == 4 and all(i["reasons"] for i in a["items"])
    # both were logged and can be explained
    for body in (a, b):
        assert client.get(f"/v1/recommendations/{body['request_id']}").status_code == 200


def test_request_log_writes_rows_with_different_columns_in_one_batch(context: Context) -> None:
    log = RequestLog(context)
    log.start()
    now = datetime.now(UTC)
    base = {
        "deployment": "default",
        "user_id": "u1",
        "arm": "recs:1",
        "model_version": "recs:1",
        "probability": 1.0,
        "items": [{"item_id": "i1", "score": 1.0, "reasons": ["popular now"]}],
        "ts": now,
    }
    log.put({**base, "request_id": "r1", "latency_ms": 1.5})
    log.put({**base, "request_id": "r2", "items": [], "error": "ValueError: boom"})
    log.put({**base, "request_id": "r1:shadow", "shadow_of": "r1", "error": None})
    assert log.flush() == 3
    log.stop()
    with context.store.session() as session:
        rows = ServedRequests(session, context.project_id)
        first, failed, shadow = rows.get("r1"), rows.get("r2"), rows.get("r1:shadow")
        assert first.items == base["items"] and first.latency_ms == 1.5 and first.error is None
        assert failed.error == "ValueError: boom" and failed.items == []
        assert shadow.shadow_of == "r1"
        assert len({first.id, failed.id, shadow.id}) == 3
