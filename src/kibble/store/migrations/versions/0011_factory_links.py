"""factory links: per-model gate policies, and the factory version on runs and schedules

Revision ID: 0011_factory_links
Revises: 0010_merge
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kibble.store.models.base

revision: str = "0011_factory_links"
down_revision: str | Sequence[str] | None = "0010_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gate_policies",
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("factory_version", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", kibble.store.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_gate_policies_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_policies")),
        sa.UniqueConstraint(
            "project_id", "model_name", name=op.f("uq_gate_policies_project_id_model_name")
        ),
    )
    with op.batch_alter_table("gate_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gate_policies_project_id"), ["project_id"], unique=False
        )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("factory_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("pipeline_schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("factory_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pipeline_schedules", schema=None) as batch_op:
        batch_op.drop_column("factory_version")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("factory_version")
    with op.batch_alter_table("gate_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gate_policies_project_id"))
    op.drop_table("gate_policies")
