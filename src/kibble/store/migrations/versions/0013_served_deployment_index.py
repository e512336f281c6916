"""served_requests: index a deployment's traffic by time

Revision ID: 0013_served_deployment_index
Revises: 0012_served_guardrails
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_served_deployment_index"
down_revision: str | Sequence[str] | None = "0012_served_guardrails"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_served_requests_deployment_ts",
        "served_requests",
        ["project_id", "deployment", "ts"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_served_requests_deployment_ts", table_name="served_requests")
