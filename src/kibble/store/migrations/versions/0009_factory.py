"""factory versions

Revision ID: 0009_factory
Revises: 0001_foundation
Create Date: 2026-11-24 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kibble.store.models.base

revision: str = "0009_factory"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "factory_versions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("git", sa.JSON(), nullable=False),
        sa.Column("applied_by", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("allowed", sa.JSON(), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", kibble.store.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_factory_versions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factory_versions")),
        sa.UniqueConstraint(
            "project_id", "version", name=op.f("uq_factory_versions_project_id_version")
        ),
    )
    with op.batch_alter_table("factory_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_factory_versions_project_id"), ["project_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("factory_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_factory_versions_project_id"))
    op.drop_table("factory_versions")
