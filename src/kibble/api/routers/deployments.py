"""Deployments (read-only here; the serving and rollout areas change them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kibble.api import reads
from kibble.api.deps import ProjectScope, action
from kibble.api.reads import as_dict
from kibble.api.routers.common import Limit, Name, Offset
from kibble.store.repositories.serving import Rollouts

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


@router.get("/deployments/{name}/rollouts", openapi_extra=action("deployments.read"))
def list_rollouts(
    s: ProjectScope, name: Name, limit: Limit = 100, offset: Offset = 0
) -> list[dict[str, Any]]:
    """Newest first, each with every decision the controller (or a person) made and the
    numbers it was based on."""
    with s.session() as session:
        reads.deployment(session, s.project_id, name)  # 404 for an unknown deployment
        rows = reads.rollouts(session, s.project_id, name, limit, offset)
        decisions = Rollouts(session, s.project_id).decisions_of([r.id for r in rows])
        return [
            {**as_dict(r), "decisions": [as_dict(d) for d in decisions.get(r.id, [])]} for r in rows
        ]
