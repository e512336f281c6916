"""Alerts raised for the project (read-only here; monitoring raises and resolves them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from kibble.api import reads
from kibble.api.deps import ProjectScope, action
from kibble.api.reads import as_dict
from kibble.api.routers.common import Id, Limit, Offset

router = APIRouter(tags=["alerts"])


@router.get("/alerts", openapi_extra=action("alerts.read"))
def list_alerts(
    s: ProjectScope,
    limit: Limit = 100,
    offset: Offset = 0,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> list[dict[str, Any]]:
    with s.session() as session:
        return [as_dict(a) for a in reads.alerts(session, s.project_id, limit, offset, status)]


@router.get("/alerts/{alert_id}", openapi_extra=action("alerts.read"))
def show_alert(s: ProjectScope, alert_id: Id) -> dict[str, Any]:
    with s.session() as session:
        return as_dict(reads.alert(session, s.project_id, alert_id))
