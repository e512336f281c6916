"""Serving's outer guard: bodies over the size limit, too deep or too many values, and
pickle payloads are refused before any parser sees them (413, 400, 415).

The same checks as the control plane's (``kibble.jsonlimits``); without them a 50 MB
feedback body was read and parsed, and a deeply nested one overflowed the parser.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kibble.artifacts.formats import PICKLE_TYPES
from kibble.errors import UsageError
from kibble.jsonlimits import check_json_shape

MAX_DEPTH = 32
MAX_ITEMS = 100_000
_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type.decode("latin-1") in PICKLE_TYPES:
            await _refuse(send, 415, "pickle payloads are refused", "send JSON")
            return
        declared = headers.get(b"content-length", b"")
        if declared and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            check_json_shape(body, max_depth=MAX_DEPTH, max_items=MAX_ITEMS)
        except UsageError as exc:
            await _refuse(send, 400, exc.message, exc.hint or "")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, send: Send) -> None:
        await _refuse(
            send,
            413,
            f"the request body is over the {self.max_bytes} byte limit",
            "send fewer events per request, or raise serving.max_body_bytes",
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send: Send, status: int, message: str, hint: str) -> None:
    error = {413: "PayloadTooLarge", 415: "UnsupportedMediaType"}.get(status, "UsageError")
    payload = orjson.dumps({"error": error, "message": message, "hint": hint})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
