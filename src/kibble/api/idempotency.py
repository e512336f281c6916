"""``Idempotency-Key`` on mutating endpoints: a retried request returns the first answer.

The key is claimed before the work runs (so two concurrent retries cannot both do it),
the response is stored when the work succeeds, and a failed attempt releases the key so
the client can retry. Reusing a key for a different request is a 409, never a silent mix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from kibble.api.deps import Scoped
from kibble.api.hardening import BODY_KEY
from kibble.errors import ConflictError, UsageError
from kibble.store.repositories.auth import IdempotentResponses

HEADER = "idempotency-key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 128


def request_hash(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode() + b"\0")
    digest.update(request.scope.get(BODY_KEY, b""))
    return digest.hexdigest()


def _check_key(key: str) -> str:
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(33 <= ord(c) < 127 for c in key):
        raise UsageError(
            "the Idempotency-Key header is not usable",
            hint=f"use 1-{MAX_KEY_LENGTH} printable ASCII characters, e.g. a UUID",
        )
    return key


def idempotent(
    scoped: Scoped,
    request: Request,
    work: Callable[[], Any],
    *,
    status_code: int = 200,
    stored: Callable[[Any], Any] | None = None,
) -> JSONResponse:
    """Run ``work`` once per key. ``stored`` redacts what is kept (e.g. a new secret)."""
    raw_key = request.headers.get(HEADER)
    if raw_key is None:
        return JSONResponse(jsonable_encoder(work()), status_code=status_code)
    key = _check_key(raw_key)
    fingerprint = request_hash(request)
    with scoped.session() as session:
        existing = IdempotentResponses(session, scoped.project_id).reserve(key, fingerprint)
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise ConflictError(
                    "this Idempotency-Key was already used for a different request",
                    hint="use a new key for each distinct request",
                )
            if existing.status_code == 0:
                raise ConflictError(
                    "a request with this Idempotency-Key is still running",
                    hint="retry in a moment to get its result",
                )
            return JSONResponse(
                existing.body.get("content"),
                status_code=existing.status_code,
                headers={REPLAY_HEADER: "true"},
            )
    try:
        content = jsonable_encoder(work())
    except BaseException:
        with scoped.session() as session:
            IdempotentResponses(session, scoped.project_id).release(key)
        raise
    keep = content if stored is None else jsonable_encoder(stored(content))
    with scoped.session() as session:
        IdempotentResponses(session, scoped.project_id).complete(key, status_code, keep)
    return JSONResponse(content, status_code=status_code)
