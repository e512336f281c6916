"""Tables of a project: the lake plus their records in the metadata store.

``Tables(context)`` is what services use: it finds a table's contract, writes through
the lake, and records every version it makes as a ``TableVersion``.

A contract stored with the dataset wins over a built-in K9s one of the same name.
`kibble apply` stores there the contract of every table the project's factory declares,
so a factory's ``events`` replaces the built-in one for that project alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa

from kibble.context import Context
from kibble.core.names import validate_name
from kibble.data.contracts import K9S_CONTRACTS, Contract
from kibble.data.lake import Lake, WriteMode, as_date
from kibble.errors import NotFoundError
from kibble.store.models import Dataset
from kibble.store.repositories.data import DataRecords

QUARANTINE_SUFFIX = "__quarantine"


class Tables:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.lake = Lake.from_settings(context.settings, context.project)

    def register(self, contract: Contract) -> Dataset:
        """Declare (or update) a table's contract in this project."""
        with self.context.store.session() as session:
            return DataRecords(session, self.context.project_id).ensure_dataset(
                contract.name, self.lake.uri(contract.name), contract.to_json()
            )

    def contract(self, table: str) -> Contract:
        validate_name(table, "table name")
        with self.context.store.session() as session:
            found = DataRecords(session, self.context.project_id).find_dataset(table)
        if found is not None and found.contract:
            return Contract.model_validate(found.contract)
        if table in K9S_CONTRACTS:
            return K9S_CONTRACTS[table]
        raise NotFoundError(
            f"table {table!r} has no contract in project {self.context.project!r}",
            hint="declare it under tables= in the factory and run `kibble apply` "
            f"(or use a built-in table: {', '.join(K9S_CONTRACTS)})",
        )

    def dataset(self, table: str) -> Dataset:
        with self.context.store.session() as session:
            return DataRecords(session, self.context.project_id).dataset(table)

    def write(
        self,
        table: str,
        data: pa.Table | pl.DataFrame,
        *,
        mode: WriteMode = "append",
        predicate: str | None = None,
        operation: str | None = None,
        details: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> int:
        """Write through the lake and record the new version; returns its number."""
        contract = self.contract(table)
        dataset = self.register(contract)
        arrow = data.to_arrow() if isinstance(data, pl.DataFrame) else data
        version = self.lake.write(
            table, arrow, mode=mode, partition_by=contract.partition_by, predicate=predicate
        )
        self.record_version(dataset, table, version, operation or mode, details or {}, run_id)
        return version

    def record_version(
        self,
        dataset: Dataset,
        table: str,
        version: int,
        operation: str,
        details: dict[str, Any],
        run_id: str | None = None,
    ) -> None:
        rows = int(self.lake.open(table, version).count())
        with self.context.store.session() as session:
            DataRecords(session, self.context.project_id).record_version(
                dataset,
                version,
                row_count=rows,
                operation=operation,
                details=details,
                run_id=run_id,
            )

    def read(
        self,
        table: str,
        *,
        version: int | datetime | None = None,
        partition: str | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        part = None
        if partition is not None:
            column = self.contract(table).partition_by
            if column is None:
                raise NotFoundError(f"table {table!r} is not partitioned")
            part = (column, partition)
        return self.lake.read(table, version=version, columns=columns, partition=part)

    def scan(
        self,
        table: str,
        *,
        version: int | datetime | None = None,
        partition: str | None = None,
    ) -> pl.LazyFrame:
        """A lazy scan (one partition when given): checks stream it instead of loading it."""
        frame = self.lake.scan(table, version)
        if partition is not None:
            column = self.contract(table).partition_by
            if column is None:
                raise NotFoundError(f"table {table!r} is not partitioned")
            frame = frame.filter(pl.col(column) == as_date(partition))
        return frame

    def polars(self, table: str, **kwargs: Any) -> pl.DataFrame:
        frame = pl.from_arrow(self.read(table, **kwargs))
        assert isinstance(frame, pl.DataFrame)
        return frame
