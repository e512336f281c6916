"""The wiring every command and service starts from: settings, store, artifacts, project.

One place opens the adapters, so the CLI, the API, the scheduler and a notebook all see
the same home folder and the same project the same way.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Any

from kibble.artifacts import ArtifactRef, ArtifactStore, check_digest
from kibble.artifacts.formats import refuse_pickle
from kibble.config import Settings, load_settings
from kibble.store import Store
from kibble.store.models import Artifact
from kibble.store.repositories import ArtifactRecords, AuditLog, Projects


@dataclass
class Context:
    settings: Settings
    store: Store
    artifacts: ArtifactStore
    project: str
    project_id: str
    actor: str = field(default_factory=getpass.getuser)

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        project: str | None = None,
        actor: str | None = None,
    ) -> Context:
        settings = settings or load_settings()
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = Store.open(settings)
        name = project or settings.project
        with store.session() as session:
            project_id = Projects(session).ensure(name).id
        return cls(
            settings=settings,
            store=store,
            artifacts=ArtifactStore(
                settings.artifact_url, settings.storage.fsspec_options(settings.artifact_url)
            ),
            project=name,
            project_id=project_id,
            actor=actor or getpass.getuser(),
        )

    def save_artifact(
        self,
        data: bytes,
        media_type: str,
        *,
        name: str = "",
        run_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ArtifactRef:
        """Store bytes and record them; the same bytes twice are one artifact."""
        refuse_pickle(data, media_type)
        ref = self.artifacts.put_bytes(self.project, data, media_type)
        with self.store.session() as session:
            ArtifactRecords(session, self.project_id).record(
                ref.digest,
                media_type=media_type,
                size=ref.size,
                name=name,
                run_id=run_id,
                meta=meta,
            )
        return ref

    def load_artifact(self, digest: str) -> bytes:
        """Bytes of a recorded artifact of this project, verified against the digest."""
        check_digest(digest)
        with self.store.session() as session:
            ArtifactRecords(session, self.project_id).get(digest)
        return self.artifacts.get_bytes(self.project, digest)

    def artifact_record(self, digest: str) -> Artifact:
        with self.store.session() as session:
            return ArtifactRecords(session, self.project_id).get(digest)

    def audit(self, action: str, target: str = "", **details: Any) -> None:
        with self.store.session() as session:
            AuditLog(session, self.project_id).write(
                actor=self.actor, action=action, target=target, details=details
            )

    def close(self) -> None:
        self.store.close()
