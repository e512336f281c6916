"""Per-project quotas on shared resources: concurrent runs, storage bytes, deployments.

``check`` is the pure rule; ``enforce`` gathers the project's usage and applies it, so
a run launcher, an upload or a new deployment calls one function before it starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.artifacts import ArtifactStore
from kibble.errors import QuotaExceededError
from kibble.store.models import Deployment, Run
from kibble.store.repositories.auth import Quotas

ACTIVE_RUN_STATUSES = ("pending", "running")
INACTIVE_DEPLOYMENT_STATUSES = ("retired", "deleted", "archived")
KINDS = {
    "concurrent_runs": "max_concurrent_runs",
    "storage_bytes": "max_storage_bytes",
    "deployments": "max_deployments",
}


@dataclass(frozen=True)
class Limits:
    max_concurrent_runs: int | None = None
    max_storage_bytes: int | None = None
    max_deployments: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Usage:
    concurrent_runs: int = 0
    storage_bytes: int = 0
    deployments: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(kind: str, used: int, adding: int, limit: int | None) -> None:
    """Raise QuotaExceededError when ``used + adding`` would pass ``limit`` (None: no limit)."""
    if limit is None or adding <= 0 or used + adding <= limit:
        return
    raise QuotaExceededError(
        f"quota {kind} exceeded: {used} used + {adding} requested > limit {limit}",
        hint="wait for running work to finish, free space, or ask an admin to raise the quota",
    )


def check_all(limits: Limits, usage: Usage, adding: Usage) -> None:
    for kind, limit_field in KINDS.items():
        check(kind, getattr(usage, kind), getattr(adding, kind), getattr(limits, limit_field))


def limits_of(session: Session, project_id: str) -> Limits:
    quota = Quotas(session, project_id).find()
    if quota is None:
        return Limits()
    return Limits(quota.max_concurrent_runs, quota.max_storage_bytes, quota.max_deployments)


def usage_of(session: Session, project_id: str, artifacts: ArtifactStore, project: str) -> Usage:
    runs = session.scalar(
        sa.select(sa.func.count()).where(
            Run.project_id == project_id, Run.status.in_(ACTIVE_RUN_STATUSES)
        )
    )
    deployments = session.scalar(
        sa.select(sa.func.count()).where(
            Deployment.project_id == project_id,
            Deployment.status.not_in(INACTIVE_DEPLOYMENT_STATUSES),
        )
    )
    return Usage(int(runs or 0), artifacts.project_bytes(project), int(deployments or 0))


def enforce(
    session: Session,
    project_id: str,
    artifacts: ArtifactStore,
    project: str,
    *,
    runs: int = 0,
    storage_bytes: int = 0,
    deployments: int = 0,
) -> None:
    """Raise QuotaExceededError (429) if adding this much would pass a project limit."""
    limits = limits_of(session, project_id)
    if limits == Limits():
        return
    check_all(
        limits,
        usage_of(session, project_id, artifacts, project),
        Usage(runs, storage_bytes, deployments),
    )
