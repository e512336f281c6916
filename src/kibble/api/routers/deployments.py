"""Deployments: read them and their rollouts; start a rollout (the controller decides)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

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


class RolloutBody(BaseModel):
    """Start a rollout of ``challenger`` (``model:version``; default: the model's
    challenger alias) against the champion."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, max_length=128)
    challenger: str | None = Field(None, min_length=3, max_length=140, pattern=r"^.+:\d+$")
    policy: Literal["canary", "gradual", "ab", "shadow", "bandit"] | None = Field(
        None, description="default: the deployment's rollout policy in the applied factory"
    )
    steps: list[float] | None = Field(None, min_length=1, max_length=20)


@router.post(
    "/deployments/{name}/rollouts",
    status_code=201,
    openapi_extra=action("deployments.write"),
    responses={
        400: {"description": "bad input"},
        401: {"description": "no or bad token"},
        403: {"description": "the token's role may not start rollouts"},
        404: {"description": "unknown model or version"},
        409: {"description": "a rollout is already active, or the version is champion"},
    },
)
def start_rollout(s: ProjectScope, name: Name, body: RolloutBody) -> dict[str, Any]:
    """Hand a version to the rollout controller, which promotes or rolls back from live
    traffic under the policy's guardrails."""
    from kibble.rollouts import service as rollouts

    return rollouts.start(s.context, name, body.model, body.challenger, body.policy, body.steps)
