"""Alembic environment: kibble passes the connection in; no alembic.ini is needed."""

from __future__ import annotations

from alembic import context

from kibble.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached through `alembic` by hand
    raise RuntimeError("run migrations through `kibble db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
