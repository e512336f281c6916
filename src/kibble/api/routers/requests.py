"""Served requests: what a customer saw, from which version and arm, and why."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from kibble.api.deps import ProjectScope, action
from kibble.lineage.served import served_request

router = APIRouter(tags=["deployments"])
RequestId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/requests/{request_id}", openapi_extra=action("deployments.read"))
def show_request(s: ProjectScope, request_id: RequestId) -> dict[str, Any]:
    """The logged answer (items with scores and reasons), its arm and propensity, and the
    feedback attributed to it; 404 once the request log's retention has dropped it."""
    with s.session() as session:
        return served_request(session, s.project_id, request_id)
