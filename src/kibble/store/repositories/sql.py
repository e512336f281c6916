"""SQL that differs by backend, written once: INSERT ... ON CONFLICT on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert(session: Session, model: type[Any]) -> Any:
    """The backend's INSERT for ``model``, which has ``on_conflict_do_nothing/_update``.

    One statement instead of a read, a savepoint and an insert: on the hot paths (a
    pipeline step's lease and output) that is most of the cost of the transaction.
    """
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
