"""A served request as lineage's first link: what a customer saw, from which model
version and arm, with what probability and why, and what they did next."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError
from kibble.store.models import FeedbackEvent
from kibble.store.repositories.serving import ServedRequests


def served_request(session: Session, project_id: str, request_id: str) -> dict[str, Any]:
    """The logged answer and its attributed feedback (NotFoundError past retention)."""
    row = ServedRequests(session, project_id).get(request_id)
    feedback = session.scalars(
        sa.select(FeedbackEvent)
        .where(FeedbackEvent.project_id == project_id, FeedbackEvent.request_id == request_id)
        .order_by(FeedbackEvent.ts, FeedbackEvent.event_id)
    ).all()
    return {
        "request_id": row.request_id,
        "deployment": row.deployment,
        "user_id": row.user_id,
        "arm": row.arm,
        "model_version": row.model_version,
        "probability": row.probability,
        "items": row.items,
        "ts": row.ts.isoformat(),
        "latency_ms": row.latency_ms,
        "error": row.error,
        "feedback": [
            {"event_type": f.event_type, "item_id": f.item_id, "ts": f.ts.isoformat()}
            for f in feedback
        ],
    }


def served_version(served: dict[str, Any]) -> tuple[str, int]:
    """The registered model version (name, number) that answered a request."""
    name, _, version = str(served["model_version"]).rpartition(":")
    if not name or not version.isdigit():
        raise NotFoundError(
            f"request {served['request_id']} was answered by {served['model_version']!r}, "
            "not a registered model version",
            hint="trace the model with `kibble lineage NAME:VERSION` instead",
        )
    return name, int(version)
