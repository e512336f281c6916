"""registry: model aliases, alias history, gate reports

Revision ID: 0004_registry
Revises: 0001_foundation
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import kibble.store.models.base

revision: str = "0004_registry"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _common() -> list[sa.Column[Any]]:
    return [
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", kibble.store.models.base.UTCDateTime(timezone=True), nullable=False
        ),
    ]


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"],
        ["projects.id"],
        name=op.f(f"fk_{table}_project_id_projects"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        *_common(),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_model_aliases_model_id_registered_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_model_aliases_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        _project_fk("model_aliases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_aliases")),
        sa.UniqueConstraint("model_id", "alias", name=op.f("uq_model_aliases_model_id_alias")),
    )
    op.create_index(
        op.f("ix_model_aliases_project_id"), "model_aliases", ["project_id"], unique=False
    )
    op.create_table(
        "model_alias_history",
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=32), nullable=False),
        sa.Column("from_version_id", sa.String(length=32), nullable=True),
        sa.Column("to_version_id", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("gate_report_id", sa.String(length=32), nullable=True),
        *_common(),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_model_alias_history_model_id_registered_models"),
            ondelete="CASCADE",
        ),
        _project_fk("model_alias_history"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_alias_history")),
    )
    op.create_index(
        op.f("ix_model_alias_history_model_id"), "model_alias_history", ["model_id"], unique=False
    )
    op.create_index(
        op.f("ix_model_alias_history_project_id"),
        "model_alias_history",
        ["project_id"],
        unique=False,
    )
    op.create_table(
        "gate_reports",
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        *_common(),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_gate_reports_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        _project_fk("gate_reports"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_reports")),
    )
    op.create_index(
        op.f("ix_gate_reports_project_id"), "gate_reports", ["project_id"], unique=False
    )
    op.create_index(
        op.f("ix_gate_reports_version_id"), "gate_reports", ["version_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("gate_reports")
    op.drop_table("model_alias_history")
    op.drop_table("model_aliases")
