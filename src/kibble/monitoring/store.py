"""Write and read metric points through a project's context."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from kibble.context import Context
from kibble.monitoring.points import Point, matches, parse_duration
from kibble.store.repositories.monitoring import DEPLOYMENT_LABEL, MetricPoints


def record_metrics(context: Context, points: Iterable[Point]) -> int:
    """Store points in this project; re-recording a window replaces its value. Returns count."""
    with context.store.session() as session:
        return MetricPoints(session, context.project_id).write(points)


def since_time(since: datetime | timedelta | str | None, now: datetime | None = None) -> datetime:
    """``"7d"``, a timedelta back from now, or an absolute aware datetime."""
    now = now or datetime.now(UTC)
    if since is None:
        return now - timedelta(days=7)
    if isinstance(since, str):
        return now - parse_duration(since)
    if isinstance(since, timedelta):
        return now - since
    return since


def query_metrics(
    context: Context,
    name: str | Sequence[str] | None = None,
    since: datetime | timedelta | str | None = "7d",
    labels: dict[str, str] | None = None,
    *,
    prefix: str | None = None,
    until: datetime | None = None,
) -> list[Point]:
    """Points of one metric (or several, or all with ``prefix``), oldest first."""
    names = [name] if isinstance(name, str) else list(name or [])
    deployment = (labels or {}).get(DEPLOYMENT_LABEL)
    with context.store.session() as session:
        rows = MetricPoints(session, context.project_id).query(
            names,
            since=since_time(since),
            until=until,
            prefix=prefix,
            deployment=None if deployment is None else str(deployment),
        )
        return [
            Point(
                name=row.name,
                value=row.value,
                window_start=row.window_start,
                window_end=row.window_end,
                labels={str(k): str(v) for k, v in row.labels.items()},
            )
            for row in rows
            if matches(row.labels, labels)
        ]
