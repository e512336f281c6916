"""Read-only queries over the foundation tables, always filtered by project.

Other areas own how these rows are written; the API only lists and shows them. Each
function takes the project id first so a query without a tenant cannot be written.
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError
from kibble.store.models import (
    Alert,
    Artifact,
    AuditEvent,
    Dataset,
    Deployment,
    ModelVersion,
    RegisteredModel,
    Rollout,
    Run,
    StepRun,
    TableVersion,
)

T = TypeVar("T")
SECRET_FIELDS = {"token_hash"}


def as_dict(row: Any, exclude: set[str] | None = None) -> dict[str, Any]:
    """A row's columns as a dict; secrets are never included."""
    skip = SECRET_FIELDS | (exclude or set())
    return {
        attr.key: getattr(row, attr.key)
        for attr in sa.inspect(row).mapper.column_attrs
        if attr.key not in skip
    }


def page(session: Session, query: sa.Select[T], limit: int, offset: int) -> list[T]:
    return list(session.scalars(query.limit(limit).offset(offset)))


def _one(session: Session, query: sa.Select[T], what: str, hint: str) -> T:
    row = session.scalar(query)
    if row is None:
        raise NotFoundError(f"{what} does not exist in this project", hint=hint)
    return row


def datasets(session: Session, project_id: str, limit: int, offset: int) -> list[Dataset]:
    query = sa.select(Dataset).where(Dataset.project_id == project_id).order_by(Dataset.name)
    return page(session, query, limit, offset)


def dataset(session: Session, project_id: str, name: str) -> Dataset:
    query = sa.select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name)
    return _one(session, query, f"dataset {name!r}", "list datasets first")


def table_versions(
    session: Session, project_id: str, dataset_id: str, limit: int, offset: int
) -> list[TableVersion]:
    query = (
        sa.select(TableVersion)
        .where(TableVersion.project_id == project_id, TableVersion.dataset_id == dataset_id)
        .order_by(TableVersion.version.desc())
    )
    return page(session, query, limit, offset)


def runs(
    session: Session,
    project_id: str,
    limit: int,
    offset: int,
    status: str | None = None,
    pipeline: str | None = None,
) -> list[Run]:
    query = sa.select(Run).where(Run.project_id == project_id)
    if status:
        query = query.where(Run.status == status)
    if pipeline:
        query = query.where(Run.pipeline == pipeline)
    return page(session, query.order_by(Run.created_at.desc(), Run.id), limit, offset)


def run(session: Session, project_id: str, run_id: str) -> Run:
    query = sa.select(Run).where(Run.project_id == project_id, Run.id == run_id)
    return _one(session, query, f"run {run_id!r}", "list runs first")


def step_runs(session: Session, project_id: str, run_id: str) -> list[StepRun]:
    query = (
        sa.select(StepRun)
        .where(StepRun.project_id == project_id, StepRun.run_id == run_id)
        .order_by(StepRun.created_at, StepRun.name)
    )
    return list(session.scalars(query))


def models(session: Session, project_id: str, limit: int, offset: int) -> list[RegisteredModel]:
    query = (
        sa.select(RegisteredModel)
        .where(RegisteredModel.project_id == project_id)
        .order_by(RegisteredModel.name)
    )
    return page(session, query, limit, offset)


def model(session: Session, project_id: str, name: str) -> RegisteredModel:
    query = sa.select(RegisteredModel).where(
        RegisteredModel.project_id == project_id, RegisteredModel.name == name
    )
    return _one(session, query, f"model {name!r}", "list models first")


def model_versions(
    session: Session, project_id: str, model_id: str, limit: int, offset: int
) -> list[ModelVersion]:
    query = (
        sa.select(ModelVersion)
        .where(ModelVersion.project_id == project_id, ModelVersion.model_id == model_id)
        .order_by(ModelVersion.version.desc())
    )
    return page(session, query, limit, offset)


def deployments(session: Session, project_id: str, limit: int, offset: int) -> list[Deployment]:
    query = (
        sa.select(Deployment).where(Deployment.project_id == project_id).order_by(Deployment.name)
    )
    return page(session, query, limit, offset)


def deployment(session: Session, project_id: str, name: str) -> Deployment:
    query = sa.select(Deployment).where(
        Deployment.project_id == project_id, Deployment.name == name
    )
    return _one(session, query, f"deployment {name!r}", "list deployments first")


def rollouts(
    session: Session, project_id: str, deployment: str, limit: int, offset: int
) -> list[Rollout]:
    query = (
        sa.select(Rollout)
        .where(Rollout.project_id == project_id, Rollout.deployment == deployment)
        .order_by(Rollout.created_at.desc(), Rollout.id)
    )
    return page(session, query, limit, offset)


def alerts(
    session: Session, project_id: str, limit: int, offset: int, status: str | None = None
) -> list[Alert]:
    query = sa.select(Alert).where(Alert.project_id == project_id)
    if status:
        query = query.where(Alert.status == status)
    return page(session, query.order_by(Alert.created_at.desc(), Alert.id), limit, offset)


def alert(session: Session, project_id: str, alert_id: str) -> Alert:
    query = sa.select(Alert).where(Alert.project_id == project_id, Alert.id == alert_id)
    return _one(session, query, f"alert {alert_id!r}", "list alerts first")


def audit_events(
    session: Session, project_id: str, limit: int, offset: int, action: str | None = None
) -> list[AuditEvent]:
    query = sa.select(AuditEvent).where(AuditEvent.project_id == project_id)
    if action:
        query = query.where(AuditEvent.action == action)
    query = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id)
    return page(session, query, limit, offset)


def artifacts(session: Session, project_id: str, limit: int, offset: int) -> list[Artifact]:
    query = (
        sa.select(Artifact)
        .where(Artifact.project_id == project_id)
        .order_by(Artifact.created_at.desc(), Artifact.id)
    )
    return page(session, query, limit, offset)
