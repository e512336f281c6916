"""Current version of a named table: from the store's records, else the Delta log."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from kibble.context import Context
from kibble.store.models import Dataset, TableVersion


def table_version(ctx: Context, name: str) -> int | None:
    """Latest committed version of table ``name`` in this project, or None if unknown."""
    with ctx.store.session() as session:
        version = session.scalar(
            sa.select(sa.func.max(TableVersion.version))
            .join(Dataset, Dataset.id == TableVersion.dataset_id)
            .where(Dataset.project_id == ctx.project_id, Dataset.name == name)
        )
    if version is not None:
        return int(version)
    for folder in (
        Path(ctx.settings.lake_url) / ctx.project / name,
        Path(ctx.settings.lake_url) / name,
    ):
        if (folder / "_delta_log").is_dir():
            from deltalake import DeltaTable

            return int(DeltaTable(str(folder)).version())
    return None
