"""Deployment records: which model a named deployment serves, and its current traffic."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import ConflictError
from kibble.store.models import Deployment, utcnow


class Deployments:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def get(self, name: str) -> Deployment | None:
        return self.session.scalar(
            sa.select(Deployment).where(
                Deployment.project_id == self.project_id, Deployment.name == name
            )
        )

    def save(self, name: str, model_name: str, policy: dict[str, Any]) -> Deployment:
        """Create or update ``name``; one deployment serves one model for its whole life."""
        row = self.get(name) or self._create(name, model_name)
        if row.model_name != model_name:
            raise ConflictError(
                f"deployment {name!r} serves model {row.model_name!r}, not {model_name!r}",
                hint="pick another --deployment name for this model",
            )
        row.policy, row.status, row.updated_at = policy, "active", utcnow()
        self.session.flush()
        return row

    def _create(self, name: str, model_name: str) -> Deployment:
        """Insert, or take the row a replica starting at the same moment just inserted."""
        try:
            with self.session.begin_nested():
                row = Deployment(project_id=self.project_id, name=name, model_name=model_name)
                self.session.add(row)
            return row
        except sa.exc.IntegrityError:
            found = self.get(name)
            if found is None:  # the other insert was rolled back: nothing to take
                raise ConflictError(
                    f"deployment {name!r} was being created elsewhere", hint="try again"
                ) from None
            return found
