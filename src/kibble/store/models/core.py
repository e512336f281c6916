"""The platform's foundation records: projects, datasets, runs, artifacts, models,
deployments, alerts and audit. Later areas add their tables in sibling modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kibble.store.models.base import Base, IdMixin, ProjectScoped


class Project(IdMixin, Base):
    __tablename__ = "projects"
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")


class Dataset(ProjectScoped, Base):
    """A logical table (``events``, ``products``) and its declared contract."""

    __tablename__ = "datasets"
    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)
    name: Mapped[str] = mapped_column(sa.String(128))
    uri: Mapped[str] = mapped_column(sa.Text)
    contract: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TableVersion(ProjectScoped, Base):
    """One committed version of a dataset and the load or run that made it."""

    __tablename__ = "table_versions"
    __table_args__ = (sa.UniqueConstraint("dataset_id", "version"),)
    dataset_id: Mapped[str] = mapped_column(sa.ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int]
    row_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    operation: Mapped[str] = mapped_column(sa.String(32), default="write")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    run_id: Mapped[str | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))


class Run(ProjectScoped, Base):
    """One execution of a pipeline (or an evaluation, or an ingestion)."""

    __tablename__ = "runs"
    pipeline: Mapped[str] = mapped_column(sa.String(256), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32), default="pipeline")
    status: Mapped[str] = mapped_column(sa.String(16), index=True, default="pending")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    code_version: Mapped[dict[str, Any]] = mapped_column(default=dict)
    environment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    held_reasons: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    factory_version: Mapped[int | None]  # the applied factory definition when it started


class StepRun(ProjectScoped, Base):
    __tablename__ = "step_runs"
    __table_args__ = (sa.UniqueConstraint("run_id", "name"),)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    cache_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    cached: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class Artifact(ProjectScoped, Base):
    """Metadata of a content-addressed blob; the bytes live in the artifact store."""

    __tablename__ = "artifacts"
    __table_args__ = (sa.UniqueConstraint("project_id", "digest"),)
    digest: Mapped[str] = mapped_column(sa.String(71))
    media_type: Mapped[str] = mapped_column(sa.String(128))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    name: Mapped[str] = mapped_column(sa.String(256), default="")
    run_id: Mapped[str | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RegisteredModel(ProjectScoped, Base):
    __tablename__ = "registered_models"
    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)
    name: Mapped[str] = mapped_column(sa.String(128))
    description: Mapped[str] = mapped_column(sa.Text, default="")


class ModelVersion(ProjectScoped, Base):
    """An immutable trained model: its artifact, the run that made it, its metrics."""

    __tablename__ = "model_versions"
    __table_args__ = (sa.UniqueConstraint("model_id", "version"),)
    model_id: Mapped[str] = mapped_column(sa.ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int]
    artifact_digest: Mapped[str] = mapped_column(sa.String(71))
    run_id: Mapped[str | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))
    flavor: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="registered")


class Deployment(ProjectScoped, Base):
    __tablename__ = "deployments"
    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)
    name: Mapped[str] = mapped_column(sa.String(128))
    model_name: Mapped[str] = mapped_column(sa.String(128))
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    updated_at: Mapped[datetime | None]


class Alert(ProjectScoped, Base):
    """A raised condition. ``fingerprint`` deduplicates repeats of the same problem."""

    __tablename__ = "alerts"
    kind: Mapped[str] = mapped_column(sa.String(64), index=True)
    severity: Mapped[str] = mapped_column(sa.String(16), default="warning")
    status: Mapped[str] = mapped_column(sa.String(16), default="open", index=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(128), index=True)
    message: Mapped[str] = mapped_column(sa.Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resolved_at: Mapped[datetime | None]
    acked_by: Mapped[str | None] = mapped_column(sa.String(128))


class AuditEvent(ProjectScoped, Base):
    """Who did what, when, from where, and how it ended. Append-only."""

    __tablename__ = "audit_events"
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(128), index=True)
    target: Mapped[str] = mapped_column(sa.String(512), default="")
    result: Mapped[str] = mapped_column(sa.String(32), default="ok")
    source: Mapped[str] = mapped_column(sa.String(128), default="local")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
