"""The project's audit log: every mutating call, newest first. Admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from kibble.api import reads
from kibble.api.deps import ProjectScope, action
from kibble.api.reads import as_dict
from kibble.api.routers.common import Limit, Offset

router = APIRouter(tags=["audit"])


@router.get("/audit", openapi_extra=action("audit.read"))
def list_audit(
    s: ProjectScope,
    limit: Limit = 100,
    offset: Offset = 0,
    action_name: Annotated[str | None, Query(alias="action", max_length=128)] = None,
) -> list[dict[str, Any]]:
    with s.session() as session:
        rows = reads.audit_events(session, s.project_id, limit, offset, action_name)
        return [as_dict(e) for e in rows]
