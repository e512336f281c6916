"""Records of the data area: each load into a table and each check that judged one.

Table versions themselves are ``TableVersion`` rows (foundation); a load points at the
version it produced, and a check result at the version it judged, so a run can prove
what it was allowed to read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kibble.store.models.base import Base, ProjectScoped


class DataLoad(ProjectScoped, Base):
    """One ingestion: where from, how many rows read / written / rejected, what it made."""

    __tablename__ = "data_loads"
    dataset_id: Mapped[str] = mapped_column(
        sa.ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(sa.Text)
    source_kind: Mapped[str] = mapped_column(sa.String(16))
    mode: Mapped[str] = mapped_column(sa.String(32))
    partition: Mapped[str | None] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default="running", index=True)
    rows_read: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_duplicate: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    table_version: Mapped[int | None]
    quarantine_version: Mapped[int | None]
    partitions: Mapped[list[Any]] = mapped_column(default=list)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    finished_at: Mapped[datetime | None]


class CheckResultRecord(ProjectScoped, Base):
    """One check's verdict on one table version (and partition), grouped by report."""

    __tablename__ = "data_check_results"
    dataset_id: Mapped[str] = mapped_column(
        sa.ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    report_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    table_version: Mapped[int]
    partition: Mapped[str | None] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(8))
    observed: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expected: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str] = mapped_column(sa.Text)
    run_id: Mapped[str | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))
