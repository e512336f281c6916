"""Who belongs to the project and with which role."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from kibble.api.deps import ProjectScope, action
from kibble.api.idempotency import idempotent
from kibble.api.reads import as_dict
from kibble.api.routers.common import UserName
from kibble.core.names import validate_name
from kibble.errors import ConflictError
from kibble.store.repositories.auth import Members

router = APIRouter(tags=["members"])


class MemberBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["viewer", "editor", "deployer", "admin"]


def _keep_an_admin(members: Members, user: str) -> None:
    current = members.find(user)
    if current is not None and current.role == "admin" and members.count_role("admin") == 1:
        raise ConflictError(
            f"{user!r} is the project's last admin", hint="make someone else admin first"
        )


@router.get("/members", openapi_extra=action("members.read"))
def list_members(s: ProjectScope) -> list[dict[str, Any]]:
    with s.session() as session:
        return [as_dict(m) for m in Members(session, s.project_id).list()]


@router.put("/members/{user}", openapi_extra=action("members.write"))
def set_member(s: ProjectScope, user: UserName, body: MemberBody, request: Request) -> JSONResponse:
    """Add a member or change their role."""
    validate_name(user, "user name")

    def work() -> dict[str, Any]:
        with s.session() as session:
            members = Members(session, s.project_id)
            if body.role != "admin":
                _keep_an_admin(members, user)
            return as_dict(members.set(user, body.role, added_by=s.principal.actor))

    return idempotent(s, request, work)


@router.delete("/members/{user}", openapi_extra=action("members.write"))
def remove_member(s: ProjectScope, user: UserName, request: Request) -> JSONResponse:
    """Remove a member; their tokens stop working at once (they have no role left)."""

    def work() -> dict[str, Any]:
        with s.session() as session:
            members = Members(session, s.project_id)
            _keep_an_admin(members, user)
            members.remove(user)
            return {"removed": user}

    return idempotent(s, request, work)
