"""The caller and their projects; a project's quota and usage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kibble.api.deps import Caller, ProjectScope, action
from kibble.api.idempotency import idempotent
from kibble.auth.quotas import limits_of, usage_of
from kibble.store.models import Project
from kibble.store.repositories.auth import Quotas

router = APIRouter(tags=["projects"])
project_router = APIRouter(tags=["projects"])


@router.get("/whoami")
def whoami(principal: Caller) -> dict[str, Any]:
    """Who this token acts as: user, project and role."""
    return {
        "user": principal.actor,
        "project": principal.project,
        "role": principal.role,
        "scopes": list(principal.scopes),
        "token_id": principal.token_id,
    }


@router.get("/projects")
def list_projects(principal: Caller) -> list[dict[str, Any]]:
    """Projects this token can see (a token belongs to exactly one)."""
    return [{"name": principal.project, "id": principal.project_id, "role": principal.role}]


@project_router.get("", openapi_extra=action("project.read"))
def show_project(s: ProjectScope) -> dict[str, Any]:
    """The project, its quota limits and current usage."""
    with s.session() as session:
        project = session.get(Project, s.project_id)
        limits = limits_of(session, s.project_id)
        usage = usage_of(session, s.project_id, s.state.artifacts, s.principal.project)
        return {
            "name": s.principal.project,
            "id": s.project_id,
            "description": project.description if project else "",
            "role": s.principal.role,
            "limits": limits.as_dict(),
            "usage": usage.as_dict(),
        }


class QuotaBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_concurrent_runs: int | None = Field(None, ge=0, le=1_000_000)
    max_storage_bytes: int | None = Field(None, ge=0, le=2**62)
    max_deployments: int | None = Field(None, ge=0, le=1_000_000)


@project_router.put("/quota", openapi_extra=action("project.quota"))
def set_quota(s: ProjectScope, body: QuotaBody, request: Request) -> JSONResponse:
    """Set the project's limits (null: unlimited). Admins only."""

    def work() -> dict[str, Any]:
        with s.session() as session:
            Quotas(session, s.project_id).set(**body.model_dump())
            return limits_of(session, s.project_id).as_dict()

    return idempotent(s, request, work)
