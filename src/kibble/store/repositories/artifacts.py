from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError
from kibble.store.models import Artifact
from kibble.store.repositories.sql import upsert


class ArtifactRecords:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def record(
        self,
        digest: str,
        *,
        media_type: str,
        size: int,
        name: str = "",
        run_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Idempotent: the same bytes recorded twice are one record (the first one)."""
        self.session.execute(
            upsert(self.session, Artifact)
            .values(
                project_id=self.project_id,
                digest=digest,
                media_type=media_type,
                size=size,
                name=name,
                run_id=run_id,
                meta=meta or {},
            )
            .on_conflict_do_nothing(index_elements=["project_id", "digest"])
        )

    def find(self, digest: str) -> Artifact | None:
        return self.session.scalar(
            sa.select(Artifact).where(
                Artifact.project_id == self.project_id, Artifact.digest == digest
            )
        )

    def get(self, digest: str) -> Artifact:
        artifact = self.find(digest)
        if artifact is None:
            raise NotFoundError(
                f"artifact {digest} is not recorded in this project",
                hint="list artifacts with `kibble artifacts list`",
            )
        return artifact

    def list(self, limit: int = 100) -> list[Artifact]:
        query = (
            sa.select(Artifact)
            .where(Artifact.project_id == self.project_id)
            .order_by(Artifact.created_at.desc())
            .limit(limit)
        )
        return list(self.session.scalars(query))
