"""Every mutating API call lands in the project's audit log: who, what, when, from where,
and how it ended (ok, denied, or the error status). Reads are not audited.

Calls that never authenticated have no project to file them under; they are logged
(without any credential) so brute-force attempts still leave a trace: refused ones as
warnings, a successful sign-in (which authenticates only once it is answered) as info.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kibble.api.deps import ACTION_KEY, PRINCIPAL_KEY
from kibble.auth import Principal
from kibble.store import Store
from kibble.store.repositories import AuditLog

log = logging.getLogger("kibble.api.audit")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def result_of(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403, 404):
        return "denied"
    return f"error:{status}"


class AuditTrail:
    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            await anyio.to_thread.run_sync(self._record, scope, status)

    def _record(self, scope: Scope, status: int) -> None:
        client = scope.get("client")
        source = str(client[0]) if client else "unknown"
        path = str(scope.get("path", ""))[:400]
        principal = scope.get(PRINCIPAL_KEY)
        if not isinstance(principal, Principal):
            # a refused call is worth a warning; a sign-in that succeeded is not
            level = logging.WARNING if status >= 400 else logging.INFO
            log.log(
                level, "unauthenticated %s %s from %s -> %s", scope["method"], path, source, status
            )
            return
        route = scope.get("route")
        extra: dict[str, Any] = getattr(route, "openapi_extra", None) or {}
        headers = dict(scope.get("headers", []))
        key = headers.get(b"idempotency-key", b"").decode("latin-1")[:128]
        details = {"method": scope["method"], "status": status, "token_id": principal.token_id}
        if key:
            details["idempotency_key"] = key
        try:
            with self.store.session() as session:
                AuditLog(session, principal.project_id).write(
                    actor=principal.actor,
                    action=str(extra.get(ACTION_KEY, f"{scope['method']} {path}"))[:128],
                    target=path,
                    result=result_of(status),
                    source=source[:128],
                    details=details,
                )
        except Exception:  # the response is already sent; never hide it behind an audit failure
            log.exception("could not write the audit event for %s %s", scope["method"], path)
