"""Identity records: members and their roles, API tokens (hashes only), quotas, and
stored responses for idempotent API calls. All scoped to a project (tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kibble.store.models.base import Base, ProjectScoped


class Membership(ProjectScoped, Base):
    """A user's role in one project: viewer < editor < deployer < admin."""

    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("project_id", "user"),)
    user: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[str] = mapped_column(sa.String(16))
    added_by: Mapped[str] = mapped_column(sa.String(128), default="")


class ApiToken(ProjectScoped, Base):
    """A bearer token for one user in one project. Only its hash is kept."""

    __tablename__ = "api_tokens"
    user: Mapped[str] = mapped_column(sa.String(128), index=True)
    name: Mapped[str] = mapped_column(sa.String(128), default="")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    max_role: Mapped[str | None] = mapped_column(sa.String(16))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(sa.String(128), default="")


class ProjectQuota(ProjectScoped, Base):
    """Limits on shared resources; NULL means unlimited."""

    __tablename__ = "project_quotas"
    __table_args__ = (sa.UniqueConstraint("project_id"),)
    max_concurrent_runs: Mapped[int | None]
    max_storage_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    max_deployments: Mapped[int | None]


class IdempotentResponse(ProjectScoped, Base):
    """The first response to a mutating call with an ``Idempotency-Key``; replays return it."""

    __tablename__ = "idempotent_responses"
    __table_args__ = (sa.UniqueConstraint("project_id", "key"),)
    key: Mapped[str] = mapped_column(sa.String(128))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int] = mapped_column(default=0)
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
