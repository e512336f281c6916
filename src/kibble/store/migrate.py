"""Alembic migrations, run programmatically: on start, and by ``kibble db upgrade``.

Several processes may start at once (replicas, CLI beside a server). PostgreSQL takes
an advisory lock and SQLite a file lock, so exactly one of them migrates.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x6B6962626C65  # "kibble"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def is_up_to_date(engine: sa.Engine) -> bool:
    return current_revisions(engine) == head_revisions()


@contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_suffix(".migrate.lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: sa.Engine) -> list[str]:
    """Bring the schema to the newest revision. Returns the revisions applied."""
    with _migration_lock(engine):
        before = current_revisions(engine)
        if before == head_revisions():
            return []
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "heads")
        return sorted(current_revisions(engine) - before)


def new_revision(
    engine: sa.Engine,
    message: str,
    rev_id: str,
    *,
    head: str = "heads",
    branch_label: str | None = None,
) -> None:
    """Autogenerate a migration from the models against a store at ``heads`` (for developers)."""
    upgrade(engine)
    with engine.begin() as conn:
        command.revision(
            alembic_config(conn),
            message=message,
            autogenerate=True,
            rev_id=rev_id,
            head=head,
            branch_label=branch_label,
        )
