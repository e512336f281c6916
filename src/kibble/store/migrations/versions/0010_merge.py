"""Join the per-area branches into one head so later migrations have a single parent.

Revision ID: 0010_merge
Revises: 0002_data, 0003_pipelines, 0004_registry, 0005_serving, 0006_monitoring, 0007_auth,
0009_factory
"""

from collections.abc import Sequence

revision: str = "0010_merge"
down_revision: str | Sequence[str] | None = (
    "0002_data",
    "0003_pipelines",
    "0004_registry",
    "0005_serving",
    "0006_monitoring",
    "0007_auth",
    "0009_factory",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: a merge point only."""


def downgrade() -> None:
    """Nothing to change: a merge point only."""
