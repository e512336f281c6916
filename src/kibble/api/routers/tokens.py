"""API tokens of the project: create (shown once), list (never the value), revoke."""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kibble.api.deps import ProjectScope, action
from kibble.api.idempotency import idempotent
from kibble.api.reads import as_dict
from kibble.api.routers.common import Id
from kibble.auth import issue_token
from kibble.errors import UsageError
from kibble.store.models import utcnow
from kibble.store.repositories.auth import Tokens

router = APIRouter(tags=["tokens"])
SCOPE_PATTERN = r"^(\*|[a-z_]+\.(\*|[a-z_]+))$"


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(..., min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field("", max_length=128)
    role: Literal["viewer", "editor", "deployer", "admin"] | None = Field(
        None, description="cap the token below the user's role"
    )
    scopes: list[str] = Field(default_factory=list, max_length=32)
    days: int | None = Field(None, ge=1, le=3650, description="default: api.token_days")

    def checked_scopes(self) -> list[str]:
        for scope in self.scopes:
            if not re.fullmatch(SCOPE_PATTERN, scope):
                raise UsageError(
                    f"scope {scope[:40]!r} is not valid", hint="use *, area.* or area.verb"
                )
        return self.scopes


def _public(record: Any) -> dict[str, Any]:
    return as_dict(record)


@router.get("/tokens", openapi_extra=action("tokens.read"))
def list_tokens(s: ProjectScope, include_revoked: bool = False) -> list[dict[str, Any]]:
    with s.session() as session:
        return [_public(t) for t in Tokens(session, s.project_id).list(include_revoked)]


@router.post("/tokens", status_code=201, openapi_extra=action("tokens.write"))
def create_token(s: ProjectScope, body: TokenBody, request: Request) -> JSONResponse:
    """Create a token for a member. The value is in this response only; store it now."""
    scopes = body.checked_scopes()

    def work() -> dict[str, Any]:
        with s.session() as session:
            issued = issue_token(
                session,
                s.project_id,
                body.user,
                created_by=s.principal.actor,
                name=body.name,
                max_role=body.role,
                scopes=scopes,
                days=body.days or s.state.settings.api.token_days,
            )
            return {"token": issued.value, **_public(issued.record)}

    def redact(content: dict[str, Any]) -> dict[str, Any]:
        return {**content, "token": None, "note": "the value was shown once, on creation"}

    return idempotent(s, request, work, status_code=201, stored=redact)


@router.delete("/tokens/{token_id}", openapi_extra=action("tokens.write"))
def revoke_token(s: ProjectScope, token_id: Id, request: Request) -> JSONResponse:
    """Revoke a token; it stops working on the next request."""

    def work() -> dict[str, Any]:
        with s.session() as session:
            return _public(Tokens(session, s.project_id).revoke(token_id, utcnow()))

    return idempotent(s, request, work)
