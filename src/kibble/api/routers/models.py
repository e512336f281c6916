"""Registered models and their versions: read them, register, gate, promote, roll back,
archive (the same lifecycle calls as the Python API and the CLI)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from kibble.api import reads
from kibble.api.deps import ProjectScope, action
from kibble.api.reads import as_dict
from kibble.api.routers.common import Limit, Name, Offset
from kibble.registry import lifecycle
from kibble.store.repositories.registry import ALIASES, Registry

router = APIRouter(tags=["models"])
Version = Annotated[int, PathParam(ge=1, le=1_000_000_000)]
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad input; the error says what to fix"},
    401: {"description": "no or bad token"},
    403: {"description": "the token's role may not do this"},
    404: {"description": "unknown model, version, run or artifact in this project"},
    409: {"description": "conflicts with the current state"},
}


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


class RegisterBody(BaseModel):
    """A version from an artifact already uploaded to this project (never a server path)."""

    model_config = ConfigDict(extra="forbid")
    artifact: str = Field(..., pattern=r"^sha256:[0-9a-f]{64}$", description="artifact digest")
    run_id: str | None = Field(None, min_length=1, max_length=64)
    flavor: str = Field("recommender", min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(..., ge=1)
    alias: Literal["champion", "challenger", "baseline"] = "champion"
    reason: str = Field(..., min_length=1, max_length=500)


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("rollback", min_length=1, max_length=500)


@router.post(
    "/models/{name}/versions",
    status_code=201,
    openapi_extra=action("models.write"),
    responses=WRITE_ERRORS,
)
def register_version(s: ProjectScope, name: Name, body: RegisterBody) -> dict[str, Any]:
    """Register the next version of ``name`` (created on first use) from an artifact."""
    return lifecycle.register_model(
        s.context,
        name,
        body.artifact,
        flavor=body.flavor,
        run_id=body.run_id,
        params=body.params,
        metrics=body.metrics,
    )


@router.post(
    "/models/{name}/versions/{version}/gate",
    openapi_extra=action("models.write"),
    responses=WRITE_ERRORS,
)
def gate_version(s: ProjectScope, name: Name, version: Version) -> dict[str, Any]:
    """Run the stored gate policy (probe and offline checks) on a version; the report says
    why. Passing makes it challenger, failing archives it."""
    report = lifecycle.gate_model(s.context, name, version)
    return report.model_dump(mode="json")


@router.post(
    "/models/{name}/promote", openapi_extra=action("models.promote"), responses=WRITE_ERRORS
)
def promote(s: ProjectScope, name: Name, body: PromoteBody) -> dict[str, Any]:
    """Point an alias at a version (atomic, kept in the history with who and why)."""
    return lifecycle.promote_model(
        s.context, name, body.version, alias=body.alias, reason=body.reason
    )


@router.post(
    "/models/{name}/rollback", openapi_extra=action("models.promote"), responses=WRITE_ERRORS
)
def rollback(s: ProjectScope, name: Name, body: RollbackBody) -> dict[str, Any]:
    """Put the previous champion back."""
    return lifecycle.rollback_model(s.context, name, reason=body.reason)


@router.post(
    "/models/{name}/versions/{version}/archive",
    openapi_extra=action("models.promote"),
    responses=WRITE_ERRORS,
)
def archive(s: ProjectScope, name: Name, version: Version) -> dict[str, Any]:
    """Archive a version so it can never be promoted."""
    return lifecycle.archive_model(s.context, name, version)
