"""GET /v1/recommendations without the framework's per-request machinery.

FastAPI's middleware stack, dependency solving and query validation cost about as much
CPU per request as the recommendation itself. This ASGI layer, outermost in the app
(``FastPathApp``: not even Starlette's error and body-limit layers run), answers the common,
well-formed GET directly and hands everything else (any parameter it does not
recognise, a value FastAPI would reject or coerce, other routes and methods) to the
full app, so responses and error bodies stay exactly those of the FastAPI route.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI

from kibble.errors import KibbleError
from kibble.serving.faults import Fault
from kibble.serving.schemas import is_clean

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[dict[str, Any]], dict[str, Any]]

PATH = "/v1/recommendations"
OPTIONAL = ("item_id", "category", "species")
_HEADERS = [(b"content-type", b"application/json")]


def parse(query: bytes, max_k: int, max_len: int = 128) -> dict[str, Any] | None:
    """The request's parameters when they are plainly valid, else None (FastAPI decides).

    Accepts each known key at most once, ``k`` as plain digits in 1..``max_k``, and a
    ``user_id`` and optional strings of 1..``max_len`` characters that are clean text.
    """
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    params: dict[str, Any] = {"k": 10, "item_id": None, "category": None, "species": None}
    seen: set[str] = set()
    for key, value in pairs:
        if key in seen or not value or len(value) > max_len or not is_clean(value):
            return None
        seen.add(key)
        if key == "user_id":
            params["user_id"] = value
        elif key == "k":
            if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= max_k:
                return None
            params["k"] = int(value)
        elif key in OPTIONAL:
            params[key] = value
        else:
            return None
    return params if "user_id" in params else None


class RecommendFastPath:
    """ASGI middleware: answers plain GETs of ``PATH`` with ``handler``, else delegates.

    ``handler`` gets the parsed parameters (and ``started``, the perf counter when the
    request arrived) and returns the JSON body; a ``KibbleError`` it raises is rendered
    like the app's exception handler renders it. A ``fault`` delays requests after arrival.
    """

    def __init__(
        self, app: ASGIApp, handler: Handler, max_k: int, fault: Fault | None = None
    ) -> None:
        self.app = app
        self.handler = handler
        self.max_k = max_k
        self.fault = fault

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        params = parse(scope.get("query_string", b""), self.max_k)
        if params is None:
            await self.app(scope, receive, send)
            return
        params["started"] = time.perf_counter()
        if self.fault is not None:
            await self.fault.wait()
        status = 200
        try:
            content = self.handler(params)
        except KibbleError as exc:
            status = exc.http_status
            content = {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        body = orjson.dumps(content)
        headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class FastPathApp(FastAPI):
    """FastAPI with one ASGI layer outside its whole middleware stack.

    ``app.add_middleware`` puts a layer inside Starlette's error, telemetry and body
    limit middlewares, each a coroutine per request; this one runs before all of them.
    """

    outermost: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack: ASGIApp = super().build_middleware_stack()
        return self.outermost(stack) if self.outermost is not None else stack
