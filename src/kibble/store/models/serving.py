"""Serving tables: feedback events, the served-request log, rollouts and their decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kibble.store.models.base import Base, ProjectScoped


class FeedbackEvent(ProjectScoped, Base):
    """One user reaction to a served list; unique per (project, event_id) for idempotence."""

    __tablename__ = "feedback_events"
    __table_args__ = (sa.UniqueConstraint("project_id", "event_id"),)
    event_id: Mapped[str] = mapped_column(sa.String(128))
    user_id: Mapped[str] = mapped_column(sa.String(128))
    item_id: Mapped[str] = mapped_column(sa.String(128))
    event_type: Mapped[str] = mapped_column(sa.String(32))
    ts: Mapped[datetime] = mapped_column(index=True)
    session_id: Mapped[str | None] = mapped_column(sa.String(128))
    request_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    arm: Mapped[str | None] = mapped_column(sa.String(128))


class ServedRequest(ProjectScoped, Base):
    """What was served, by which version and arm, with its propensity (explain/replay)."""

    __tablename__ = "served_requests"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "request_id"),
        # a deployment's traffic since a time: the controller, bandit counts, the dashboard
        sa.Index("ix_served_requests_deployment_ts", "project_id", "deployment", "ts"),
    )
    request_id: Mapped[str] = mapped_column(sa.String(64))
    deployment: Mapped[str] = mapped_column(sa.String(128))
    user_id: Mapped[str] = mapped_column(sa.String(128))
    arm: Mapped[str] = mapped_column(sa.String(128))
    model_version: Mapped[str] = mapped_column(sa.String(128))
    probability: Mapped[float]
    items: Mapped[list[Any]] = mapped_column(default=list)
    ts: Mapped[datetime] = mapped_column(index=True)
    # Guardrail inputs for the rollout controller, and shadow answers (never shown).
    latency_ms: Mapped[float | None] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.String(256))
    shadow_of: Mapped[str | None] = mapped_column(sa.String(64))


class Rollout(ProjectScoped, Base):
    """The controller's stored state for one deployment's challenger."""

    __tablename__ = "rollouts"
    deployment: Mapped[str] = mapped_column(sa.String(128), index=True)
    champion: Mapped[str] = mapped_column(sa.String(128))
    challenger: Mapped[str] = mapped_column(sa.String(128))
    policy: Mapped[str] = mapped_column(sa.String(16), default="gradual")
    step: Mapped[int] = mapped_column(default=0)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    updated_at: Mapped[datetime | None]


class RolloutDecision(ProjectScoped, Base):
    """One controller decision with the numbers it was based on."""

    __tablename__ = "rollout_decisions"
    rollout_id: Mapped[str] = mapped_column(
        sa.ForeignKey("rollouts.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(16))
    step: Mapped[int]
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    numbers: Mapped[dict[str, Any]] = mapped_column(default=dict)
