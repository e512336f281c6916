"""Pipeline tables: schedules and triggers, step leases, step logs and lineage edges.

Runs and step runs themselves are the foundation ``runs`` / ``step_runs`` tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kibble.store.models.base import Base, ProjectScoped


class PipelineSchedule(ProjectScoped, Base):
    """A cron schedule or a data trigger, with the state that makes restarts lossless.

    ``last_slot_at`` is the last cron slot fired (or claimed); ``last_version`` the last
    table version a trigger fired for. Both are updated compare-and-set, so two
    schedulers never fire the same slot.
    """

    __tablename__ = "pipeline_schedules"
    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)
    name: Mapped[str] = mapped_column(sa.String(128))
    pipeline_ref: Mapped[str] = mapped_column(sa.String(512))
    kind: Mapped[str] = mapped_column(sa.String(16), default="cron")
    cron: Mapped[str] = mapped_column(sa.String(128), default="")
    table_name: Mapped[str] = mapped_column(sa.String(128), default="")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    paused: Mapped[bool] = mapped_column(default=False)
    last_slot_at: Mapped[datetime | None]
    last_version: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_run_id: Mapped[str | None] = mapped_column(sa.String(32))
    last_fired_at: Mapped[datetime | None]
    factory_version: Mapped[int | None]  # set when `kibble apply` manages this schedule


class StepLease(ProjectScoped, Base):
    """Who executes a step (or owns a run) right now; expired leases may be taken over."""

    __tablename__ = "pipeline_leases"
    __table_args__ = (sa.UniqueConstraint("run_id", "key"),)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(256))
    owner: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime]


class StepLog(ProjectScoped, Base):
    """One log line a step wrote while it ran."""

    __tablename__ = "pipeline_logs"
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(sa.String(256))
    level: Mapped[str] = mapped_column(sa.String(16), default="INFO")
    message: Mapped[str] = mapped_column(sa.Text)
    logged_at: Mapped[datetime]


class LineageEdge(ProjectScoped, Base):
    """A step read (``in``) or wrote (``out``) an artifact or a table version."""

    __tablename__ = "lineage_edges"
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(sa.String(256))
    direction: Mapped[str] = mapped_column(sa.String(8))
    kind: Mapped[str] = mapped_column(sa.String(16), default="artifact")
    name: Mapped[str] = mapped_column(sa.String(256), default="")
    digest: Mapped[str | None] = mapped_column(sa.String(71), index=True)
    version: Mapped[int | None] = mapped_column(sa.BigInteger)
