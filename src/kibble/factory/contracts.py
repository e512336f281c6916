"""The factory's ``tables:`` as the lake's data contracts, stored by `kibble apply`.

A declared table's contract is written onto the project's dataset record inside the
apply's transaction. The lake reads a stored contract before a built-in one, so the
factory wins: a factory that declares ``events`` replaces the built-in K9s contract for
its project only. A table the previous version declared and this one drops loses its
stored contract (the built-in one, if any, applies again), so a rollback brings back
exactly the contracts of the version it restores.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.data.contracts import Column, Contract, ForeignKey, VolumeRule
from kibble.data.lake import Lake
from kibble.factory.definition import Factory, TableSpec
from kibble.store.models import FactoryVersion
from kibble.store.repositories.data import DataRecords


def table_contract(name: str, spec: TableSpec) -> Contract:
    """The contract a declared table stands for.

    ``freshness_deadline`` HH:MM is the hour of the next day a partition is due by;
    ``volume_tolerance`` is the narrowest relative band of the volume check (partitioned
    tables only, as volume is judged per partition).
    """
    hours = None
    if spec.freshness_deadline is not None:
        hour, minute = spec.freshness_deadline.split(":")
        hours = int(hour) + int(minute) / 60
    return Contract(
        name=name,
        description="declared in the factory",
        columns=[
            Column(
                name=c.name,
                type=c.type,
                nullable=c.nullable,
                min=c.min,
                max=c.max,
                allowed=c.allowed,
            )
            for c in spec.columns
        ],
        key=list(spec.key),
        foreign_keys=[
            ForeignKey(
                column=column, table=target.partition(".")[0], ref_column=target.partition(".")[2]
            )
            for column, target in sorted(spec.foreign_keys.items())
        ],
        partition_by=spec.partition_by,
        freshness_hours=hours,
        volume=VolumeRule(min_relative_width=spec.volume_tolerance) if spec.partition_by else None,
    )


_TYPES: tuple[tuple[type[pl.DataType], str], ...] = (
    (pl.Int64, "int64"),
    (pl.Float64, "float64"),
    (pl.String, "string"),
    (pl.Boolean, "bool"),
    (pl.Date, "date"),
    (pl.Datetime, "timestamp"),
)


def _type_name(dtype: pl.DataType) -> str:
    return next((name for cls, name in _TYPES if isinstance(dtype, cls)), str(dtype))


def existing_columns(lake: Lake, factory: Factory) -> dict[str, dict[str, str]]:
    """Column -> type of each declared table that already holds data in the lake: what a
    new contract must not break (read from the Delta log, no data scanned)."""
    out = {}
    for name in sorted(factory.tables):
        if lake.exists(name):
            schema = lake.scan(name).collect_schema()
            out[name] = {column: _type_name(dtype) for column, dtype in schema.items()}
    return out


def _previous_tables(session: Session, project_id: str, number: int) -> set[str]:
    spec: dict[str, Any] | None = session.scalar(
        sa.select(FactoryVersion.spec)
        .where(FactoryVersion.project_id == project_id, FactoryVersion.version < number)
        .order_by(FactoryVersion.version.desc())
        .limit(1)
    )
    return set((spec or {}).get("tables", {}))


def sync_contracts(
    session: Session, project_id: str, lake: Lake, factory: Factory, number: int
) -> None:
    """Store each declared table's contract; clear those the previous version declared."""
    records = DataRecords(session, project_id)
    for name, spec in sorted(factory.tables.items()):
        records.ensure_dataset(name, lake.uri(name), table_contract(name, spec).to_json())
    for name in sorted(_previous_tables(session, project_id, number) - set(factory.tables)):
        dataset = records.find_dataset(name)
        if dataset is not None:
            dataset.contract = {}
    session.flush()
