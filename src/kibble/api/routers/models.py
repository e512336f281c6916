"""Registered models and their versions (read-only here; the registry area writes them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kibble.api import reads
from kibble.api.deps import ProjectScope, action
from kibble.api.reads import as_dict
from kibble.api.routers.common import Limit, Name, Offset
from kibble.store.repositories.registry import ALIASES, Registry

router = APIRouter(tags=["models"])


@router.get("/models", openapi_extra=action("models.read"))
def list_models(s: ProjectScope, limit: Limit = 100, offset: Offset = 0) -> list[dict[str, Any]]:
    with s.session() as session:
        return [as_dict(m) for m in reads.models(session, s.project_id, limit, offset)]


@router.get("/models/{name}", openapi_extra=action("models.read"))
def show_model(s: ProjectScope, name: Name) -> dict[str, Any]:
    """The model, with the version number each alias points at now (read per request, so
    every replica reports a promotion as soon as it is committed)."""
    with s.session() as session:
        model = reads.model(session, s.project_id, name)
        registry = Registry(session, s.project_id)
        aliases = {alias: registry.alias(model, alias) for alias in ALIASES}
        return {
            **as_dict(model),
            "aliases": {a: v.version for a, v in aliases.items() if v is not None},
        }


@router.get("/models/{name}/versions", openapi_extra=action("models.read"))
def list_versions(
    s: ProjectScope, name: Name, limit: Limit = 100, offset: Offset = 0
) -> list[dict[str, Any]]:
    with s.session() as session:
        model = reads.model(session, s.project_id, name)
        rows = reads.model_versions(session, s.project_id, model.id, limit, offset)
        return [as_dict(v) for v in rows]
