from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.store.models import AuditEvent


class AuditLog:
    """Append-only trail of mutating actions."""

    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def write(
        self,
        *,
        actor: str,
        action: str,
        target: str = "",
        result: str = "ok",
        source: str = "local",
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        event = AuditEvent(
            project_id=self.project_id,
            actor=actor,
            action=action,
            target=target,
            result=result,
            source=source,
            details=details or {},
        )
        self.session.add(event)
        self.session.flush()
        return event

    def list(self, action: str | None = None, limit: int = 100) -> list[AuditEvent]:
        query = sa.select(AuditEvent).where(AuditEvent.project_id == self.project_id)
        if action:
            query = query.where(AuditEvent.action == action)
        query = query.order_by(AuditEvent.created_at.desc()).limit(limit)
        return list(self.session.scalars(query))
