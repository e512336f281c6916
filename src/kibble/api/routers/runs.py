"""Pipeline runs and their steps (read-only here; the pipelines area launches runs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from kibble.api import reads
from kibble.api.deps import ProjectScope, action
from kibble.api.reads import as_dict
from kibble.api.routers.common import Id, Limit, Offset

router = APIRouter(tags=["runs"])
Filter = Annotated[str | None, Query(max_length=256)]


@router.get("/runs", openapi_extra=action("runs.read"))
def list_runs(
    s: ProjectScope,
    limit: Limit = 100,
    offset: Offset = 0,
    status: Filter = None,
    pipeline: Filter = None,
) -> list[dict[str, Any]]:
    with s.session() as session:
        rows = reads.runs(session, s.project_id, limit, offset, status, pipeline)
        return [as_dict(r) for r in rows]


@router.get("/runs/{run_id}", openapi_extra=action("runs.read"))
def show_run(s: ProjectScope, run_id: Id) -> dict[str, Any]:
    with s.session() as session:
        return as_dict(reads.run(session, s.project_id, run_id))


@router.get("/runs/{run_id}/steps", openapi_extra=action("runs.read"))
def list_steps(s: ProjectScope, run_id: Id) -> list[dict[str, Any]]:
    with s.session() as session:
        run = reads.run(session, s.project_id, run_id)
        return [as_dict(step) for step in reads.step_runs(session, s.project_id, run.id)]
