"""Datasets and their committed table versions (read-only here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kibble.api import reads
from kibble.api.deps import ProjectScope, action
from kibble.api.reads import as_dict
from kibble.api.routers.common import Limit, Name, Offset

router = APIRouter(tags=["datasets"])


@router.get("/datasets", openapi_extra=action("datasets.read"))
def list_datasets(s: ProjectScope, limit: Limit = 100, offset: Offset = 0) -> list[dict[str, Any]]:
    with s.session() as session:
        return [as_dict(d) for d in reads.datasets(session, s.project_id, limit, offset)]


@router.get("/datasets/{name}", openapi_extra=action("datasets.read"))
def show_dataset(s: ProjectScope, name: Name) -> dict[str, Any]:
    with s.session() as session:
        return as_dict(reads.dataset(session, s.project_id, name))


@router.get("/datasets/{name}/versions", openapi_extra=action("datasets.read"))
def list_table_versions(
    s: ProjectScope, name: Name, limit: Limit = 100, offset: Offset = 0
) -> list[dict[str, Any]]:
    with s.session() as session:
        dataset = reads.dataset(session, s.project_id, name)
        rows = reads.table_versions(session, s.project_id, dataset.id, limit, offset)
        return [as_dict(v) for v in rows]
