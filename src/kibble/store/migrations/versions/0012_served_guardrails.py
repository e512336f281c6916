"""served_requests: latency, error and shadow_of, the rollout controller's guardrail inputs

Revision ID: 0012_served_guardrails
Revises: 0011_factory_links
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_served_guardrails"
down_revision: str | Sequence[str] | None = "0011_factory_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("served_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("latency_ms", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("shadow_of", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("served_requests", schema=None) as batch_op:
        batch_op.drop_column("shadow_of")
        batch_op.drop_column("error")
        batch_op.drop_column("latency_ms")
