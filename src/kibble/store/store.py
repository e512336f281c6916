"""The metadata store: one engine, short transactions, schema kept at head."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from kibble.config import Settings
from kibble.errors import StoreError
from kibble.store import migrate
from kibble.store.engine import create_engine


class Store:
    """Owns the engine. Use ``with store.session() as s:`` for one transaction."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, settings: Settings, *, migrate_schema: bool = True) -> Store:
        store = cls(create_engine(settings.database_url))
        if migrate_schema:
            store.upgrade()
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self) -> list[str]:
        try:
            return migrate.upgrade(self.engine)
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"cannot reach the metadata store at {self.engine.url.render_as_string()}: "
                f"{exc.orig}",
                hint="check database_url (`kibble config show`) and that the server is up",
            ) from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on any exception."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
