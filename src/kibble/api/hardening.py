"""The outer shell every request passes first: Host allowlist, pickle refusal, body size
and JSON shape limits, and security headers on every response.

It is plain ASGI so it runs before routing and parsing: a hostile request is turned away
before any handler, parser or database sees it. The buffered body is kept in the scope
(``kibble.body``) so idempotency can hash exactly what was received.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kibble.api.errors import error_body
from kibble.artifacts.formats import PICKLE_TYPES
from kibble.config import ApiSettings
from kibble.errors import UsageError
from kibble.jsonlimits import check_json_shape

BODY_KEY = "kibble.body"
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]
_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}
# Kubelet probes and Prometheus scrapes name the pod by IP in Host; these answer no data.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def host_allowed(host_header: str, allowed: Iterable[str]) -> bool:
    """``allowed`` entries: ``*``, an exact host, or ``.example.com`` for subdomains."""
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8000
        host = host[1 : host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if not host:
        return False
    for entry in allowed:
        entry = entry.strip().lower()
        if entry == "*" or entry == host or (entry.startswith(".") and host.endswith(entry)):
            return True
    return False


class Hardening:
    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings
        self.allowed_hosts = [h for h in settings.allowed_hosts.split(",") if h.strip()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refuse(scope, headers)
        if refusal is not None:
            await _respond(send_secure, *refusal)
            return
        if scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send_secure)
            return
        body, problem = await self._read_body(receive)
        if problem is not None:
            await _respond(send_secure, *problem)
            return
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if body and (content_type in ("", "application/json") or content_type.endswith("+json")):
            try:
                check_json_shape(
                    body,
                    max_depth=self.settings.max_json_depth,
                    max_items=self.settings.max_json_items,
                )
            except UsageError as exc:
                await _respond(send_secure, 400, "bad_request", exc.message, exc.hint or "")
                return
        scope[BODY_KEY] = body
        await self.app(scope, _replay(body, receive), send_secure)

    def _refuse(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str, str] | None:
        probe = scope["method"] == "GET" and scope["path"] in PROBE_PATHS
        if not probe and not host_allowed(headers.get("host", ""), self.allowed_hosts):
            return (
                400,
                "bad_host",
                "the Host header is not allowed on this server",
                "add the host to api.allowed_hosts (KIBBLE_API__ALLOWED_HOSTS)",
            )
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type in PICKLE_TYPES:
            return (
                415,
                "unsupported_media_type",
                "pickle payloads are refused: loading them can run arbitrary code",
                "send JSON, or upload arrays as .npz and tables as Parquet",
            )
        declared = headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > self.settings.max_body_bytes):
            return (
                413,
                "payload_too_large",
                f"the request body is over the {self.settings.max_body_bytes} byte limit",
                "send less per request, or raise api.max_body_bytes",
            )
        return None

    async def _read_body(self, receive: Receive) -> tuple[bytes, tuple[int, str, str, str] | None]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.settings.max_body_bytes:
                return b"", (
                    413,
                    "payload_too_large",
                    f"the request body is over the {self.settings.max_body_bytes} byte limit",
                    "send less per request, or raise api.max_body_bytes",
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _respond(send: Send, status: int, code: str, message: str, hint: str) -> None:
    payload = json.dumps(error_body(code, message, hint)).encode()
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": payload})
