from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.core.names import validate_project_name
from kibble.errors import NotFoundError
from kibble.store.models import Project


class Projects:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, name: str) -> Project:
        project = self.session.scalar(sa.select(Project).where(Project.name == name))
        if project is None:
            raise NotFoundError(
                f"project {name!r} does not exist", hint="create it with `kibble projects create`"
            )
        return project

    def ensure(self, name: str, description: str = "") -> Project:
        """Get or create; safe when two processes race to create the same project."""
        validate_project_name(name)
        existing = self.session.scalar(sa.select(Project).where(Project.name == name))
        if existing is not None:
            return existing
        try:
            with self.session.begin_nested():
                project = Project(name=name, description=description)
                self.session.add(project)
            return project
        except sa.exc.IntegrityError:
            return self.get(name)

    def list(self) -> list[Project]:
        return list(self.session.scalars(sa.select(Project).order_by(Project.name)))
