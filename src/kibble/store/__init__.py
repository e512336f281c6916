"""Metadata store: SQLAlchemy models, Alembic migrations, repositories."""

from kibble.store.store import Store

__all__ = ["Store"]
