"""Applied factory definitions: one immutable row per version, per project."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kibble.store.models.base import Base, ProjectScoped


class FactoryVersion(ProjectScoped, Base):
    __tablename__ = "factory_versions"
    __table_args__ = (sa.UniqueConstraint("project_id", "version"),)
    version: Mapped[int]
    digest: Mapped[str] = mapped_column(sa.String(71))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    git: Mapped[dict[str, Any]] = mapped_column(default=dict)
    applied_by: Mapped[str] = mapped_column(sa.String(128))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    allowed: Mapped[list[Any]] = mapped_column(default=list)
