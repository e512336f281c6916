"""Deployments (read-only here; the serving and rollout areas change them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kibble.api import reads
from kibble.api.deps import ProjectScope, action
from kibble.api.reads import as_dict
from kibble.api.routers.common import Limit, Name, Offset

router = APIRouter(tags=["deployments"])


@router.get("/deployments", openapi_extra=action("deployments.read"))
def list_deployments(
    s: ProjectScope, limit: Limit = 100, offset: Offset = 0
) -> list[dict[str, Any]]:
    with s.session() as session:
        return [as_dict(d) for d in reads.deployments(session, s.project_id, limit, offset)]


@router.get("/deployments/{name}", openapi_extra=action("deployments.read"))
def show_deployment(s: ProjectScope, name: Name) -> dict[str, Any]:
    with s.session() as session:
        return as_dict(reads.deployment(session, s.project_id, name))
