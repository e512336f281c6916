"""Monitoring tables: metric points over time, and the history of each alert.

Alerts themselves live in the foundation ``alerts`` table (fingerprint, status); the
events here record every raise, repeat, resolve and acknowledgement, so deduplicated
repeats are still counted and the dashboard can draw an alert's timeline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kibble.store.models.base import Base, ProjectScoped


class MetricPoint(ProjectScoped, Base):
    """One value of a named metric over a time window, with its labels.

    ``labels_key`` is the labels as canonical JSON (sorted keys), so a point is unique per
    (project, name, labels, window) and re-recording a window replaces it.
    ``deployment`` copies the label of that name into an indexed column, because most
    queries ask for one deployment.
    """

    __tablename__ = "metric_points"
    __table_args__ = (
        sa.UniqueConstraint(
            "project_id",
            "name",
            "labels_key",
            "window_start",
            "window_end",
            name="uq_metric_points_window",
        ),
        sa.Index("ix_metric_points_lookup", "project_id", "name", "window_start"),
    )
    name: Mapped[str] = mapped_column(sa.String(128))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labels_key: Mapped[str] = mapped_column(sa.String(512), default="{}")
    deployment: Mapped[str] = mapped_column(sa.String(128), default="", index=True)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    value: Mapped[float] = mapped_column(sa.Float)


class AlertEvent(ProjectScoped, Base):
    """What happened to an alert: raised, repeated, resolved, acked, notified."""

    __tablename__ = "alert_events"
    alert_id: Mapped[str] = mapped_column(
        sa.ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(128), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
