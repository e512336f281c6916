"""SQL for monitoring: metric points and the alert lifecycle. Every call names a project.

The store knows points only by their shape (``PointRow``); ``kibble.monitoring.points``
defines the domain type that satisfies it, so the adapter never imports the service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError, UsageError
from kibble.store.models import Alert, AlertEvent, MetricPoint, utcnow

DEPLOYMENT_LABEL = "deployment"
"""The label copied into its own indexed column: a deployment's series are read often."""


class PointRow(Protocol):
    """What a metric point must offer to be stored (``kibble.monitoring.points.Point``)."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def window_start(self) -> datetime: ...
    @property
    def window_end(self) -> datetime: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def labels_key(self) -> str: ...


class MetricPoints:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def write(self, points: Iterable[PointRow]) -> int:
        """Insert points; a point for an already-recorded window replaces the old value."""
        rows = {(p.name, p.labels_key, p.window_start, p.window_end): p for p in points}
        if not rows:
            return 0
        by_series: dict[tuple[str, str], list[datetime]] = {}
        for name, key, start, _ in rows:
            by_series.setdefault((name, key), []).append(start)
        for (name, key), starts in by_series.items():
            self.session.execute(
                sa.delete(MetricPoint).where(
                    MetricPoint.project_id == self.project_id,
                    MetricPoint.name == name,
                    MetricPoint.labels_key == key,
                    MetricPoint.window_start.in_(starts),
                )
            )
        self.session.add_all(
            MetricPoint(
                project_id=self.project_id,
                name=p.name,
                labels=dict(p.labels),
                labels_key=p.labels_key,
                deployment=p.labels.get(DEPLOYMENT_LABEL, ""),
                window_start=p.window_start,
                window_end=p.window_end,
                value=float(p.value),
            )
            for p in rows.values()
        )
        self.session.flush()
        return len(rows)

    def query(
        self,
        names: Sequence[str] | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        prefix: str | None = None,
        deployment: str | None = None,
        limit: int | None = None,
    ) -> list[MetricPoint]:
        """Rows oldest first (per name); the caller filters on labels other than deployment."""
        query = sa.select(MetricPoint).where(MetricPoint.project_id == self.project_id)
        if names:
            query = query.where(MetricPoint.name.in_(list(names)))
        if prefix:
            query = query.where(MetricPoint.name.startswith(prefix, autoescape=True))
        if since is not None:
            query = query.where(MetricPoint.window_start >= since)
        if until is not None:
            query = query.where(MetricPoint.window_start < until)
        if deployment is not None:
            query = query.where(MetricPoint.deployment == deployment)
        query = query.order_by(MetricPoint.name, MetricPoint.window_start)
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))


class AlertRecords:
    """Alerts deduplicated by fingerprint: one open alert per fingerprint at a time."""

    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def open_for(self, fingerprint: str) -> Alert | None:
        return self.session.scalar(
            sa.select(Alert)
            .where(
                Alert.project_id == self.project_id,
                Alert.fingerprint == fingerprint,
                Alert.status.in_(("open", "acked")),
            )
            .order_by(Alert.created_at.desc())
            .limit(1)
        )

    def create(
        self, *, kind: str, fingerprint: str, message: str, evidence: dict[str, Any], severity: str
    ) -> Alert:
        alert = Alert(
            project_id=self.project_id,
            kind=kind,
            fingerprint=fingerprint,
            message=message,
            evidence=evidence,
            severity=severity,
            status="open",
        )
        self.session.add(alert)
        self.session.flush()
        return alert

    def get(self, alert_id: str) -> Alert:
        """By full id, or by a unique prefix of at least 6 characters (as listed)."""
        query = sa.select(Alert).where(Alert.project_id == self.project_id)
        if 6 <= len(alert_id) < 32:
            query = query.where(Alert.id.startswith(alert_id, autoescape=True))
        else:
            query = query.where(Alert.id == alert_id)
        found = list(self.session.scalars(query.limit(2)))
        if len(found) > 1:
            raise UsageError(
                f"alert id prefix {alert_id!r} matches more than one alert",
                hint="give more characters of the id (`kibble alerts list --json` shows it whole)",
            )
        if not found:
            raise NotFoundError(
                f"alert {alert_id} does not exist in this project",
                hint="list alerts with `kibble alerts list --all`",
            )
        return found[0]

    def search(
        self, *, status: Sequence[str] | None = None, kind: str | None = None, limit: int = 100
    ) -> list[Alert]:
        query = sa.select(Alert).where(Alert.project_id == self.project_id)
        if status:
            query = query.where(Alert.status.in_(list(status)))
        if kind:
            query = query.where(Alert.kind == kind)
        return list(self.session.scalars(query.order_by(Alert.created_at.desc()).limit(limit)))

    def record(
        self, alert: Alert, action: str, actor: str = "", details: dict[str, Any] | None = None
    ) -> AlertEvent:
        event = AlertEvent(
            project_id=self.project_id,
            alert_id=alert.id,
            action=action,
            actor=actor,
            details=details or {},
        )
        self.session.add(event)
        self.session.flush()
        return event

    def events(self, alert_id: str) -> list[AlertEvent]:
        return list(
            self.session.scalars(
                sa.select(AlertEvent)
                .where(AlertEvent.project_id == self.project_id, AlertEvent.alert_id == alert_id)
                .order_by(AlertEvent.created_at)
            )
        )

    def occurrences(self, alert_ids: Sequence[str]) -> dict[str, int]:
        """How many times each alert was raised (first raise plus deduplicated repeats)."""
        if not alert_ids:
            return {}
        rows = self.session.execute(
            sa.select(AlertEvent.alert_id, sa.func.count())
            .where(
                AlertEvent.project_id == self.project_id,
                AlertEvent.alert_id.in_(list(alert_ids)),
                AlertEvent.action.in_(("raised", "repeated", "escalated")),
            )
            .group_by(AlertEvent.alert_id)
        )
        return {alert_id: int(count) for alert_id, count in rows}

    @staticmethod
    def now() -> datetime:
        return utcnow()
