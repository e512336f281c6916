"""Registry tables: one row per (model, alias), the alias history, and stored gate reports."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kibble.store.models.base import Base, ProjectScoped


class ModelAlias(ProjectScoped, Base):
    """Where an alias (champion/challenger/baseline) points; moved under a row lock."""

    __tablename__ = "model_aliases"
    __table_args__ = (sa.UniqueConstraint("model_id", "alias"),)

    model_id: Mapped[str] = mapped_column(sa.ForeignKey("registered_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(sa.String(32))
    version_id: Mapped[str] = mapped_column(sa.ForeignKey("model_versions.id", ondelete="CASCADE"))


class AliasHistory(ProjectScoped, Base):
    """Every alias move: who, why, from which version to which, and the gate report id."""

    __tablename__ = "model_alias_history"

    model_id: Mapped[str] = mapped_column(
        sa.ForeignKey("registered_models.id", ondelete="CASCADE"), index=True
    )
    alias: Mapped[str] = mapped_column(sa.String(32))
    from_version_id: Mapped[str | None] = mapped_column(sa.String(32))
    to_version_id: Mapped[str | None] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(128))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    gate_report_id: Mapped[str | None] = mapped_column(sa.String(32))


class GateReportRecord(ProjectScoped, Base):
    """A stored promotion-gate report (JSON) for one model version."""

    __tablename__ = "gate_reports"

    version_id: Mapped[str] = mapped_column(
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    passed: Mapped[bool]
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)


class GatePolicyRecord(ProjectScoped, Base):
    """The promotion policy of one registered model, as the applied factory declared it.

    Keyed by model name (not id): a factory may declare a policy before the model's first
    version is registered. ``factory_version`` says which applied definition wrote it.
    """

    __tablename__ = "gate_policies"
    __table_args__ = (sa.UniqueConstraint("project_id", "model_name"),)

    model_name: Mapped[str] = mapped_column(sa.String(128))
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    factory_version: Mapped[int | None]
