"""The lake: Delta Lake tables under ``settings.lake_url``, one folder per project.

Every write is an atomic Delta commit, so a reader sees the previous version or the
new one, never half a load; a killed writer leaves only unreferenced files behind.
Table and project names are validated so no name can leave the project's prefix.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from kibble.artifacts.keys import check_key
from kibble.config import Settings
from kibble.core.names import validate_name
from kibble.errors import NotFoundError, UsageError

WriteMode = Literal["append", "overwrite"]


class Lake:
    def __init__(self, root: str, project: str, storage_options: dict[str, str] | None = None):
        self.root = root.rstrip("/")
        self.project = validate_name(project, "project name")
        self.storage_options = storage_options or None

    @classmethod
    def from_settings(cls, settings: Settings, project: str) -> Lake:
        url = settings.lake_url
        return cls(url, project, settings.storage.delta_options(url))

    def uri(self, table: str) -> str:
        key = check_key(f"{self.project}/{validate_name(table, 'table name')}")
        return f"{self.root}/{key}"

    def exists(self, table: str) -> bool:
        return DeltaTable.is_deltatable(self.uri(table), self.storage_options)

    def open(self, table: str, version: int | datetime | None = None) -> DeltaTable:
        try:
            dt = DeltaTable(self.uri(table), storage_options=self.storage_options)
        except TableNotFoundError as exc:
            raise NotFoundError(
                f"table {table!r} does not exist in project {self.project!r}",
                hint="load it first with `kibble ingest SOURCE --table NAME`",
            ) from exc
        if version is not None:
            try:
                dt.load_as_version(version)
            except Exception as exc:
                raise NotFoundError(
                    f"table {table!r} has no version as of {version}",
                    hint="see `kibble tables history TABLE` for the versions that exist",
                ) from exc
        return dt

    def version(self, table: str) -> int | None:
        return self.open(table).version() if self.exists(table) else None

    def write(
        self,
        table: str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        mode: WriteMode = "append",
        partition_by: str | None = None,
        predicate: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """Commit ``data`` as one new version and return its number.

        ``predicate`` with ``mode="overwrite"`` replaces only the matching rows (one
        partition), leaving the rest of the table as it was.
        """
        from deltalake import CommitProperties

        write_deltalake(  # type: ignore[misc]
            self.uri(table),
            data,
            mode=mode,  # type: ignore[arg-type]
            partition_by=[partition_by] if partition_by else None,
            predicate=predicate,
            storage_options=self.storage_options,
            commit_properties=CommitProperties(
                custom_metadata={k: str(v) for k, v in (metadata or {}).items()}
            ),
        )
        return self.open(table).version()

    def dataset(self, table: str, version: int | datetime | None = None) -> pads.Dataset:
        """A lazy Arrow dataset: Polars (``pl.scan_pyarrow_dataset``) and DuckDB read it."""
        return self.open(table, version).to_pyarrow_dataset()

    def scan(self, table: str, version: int | datetime | None = None) -> pl.LazyFrame:
        """A lazy Polars scan: filters on the partition column prune whole files."""
        return pl.scan_delta(self.open(table, version))

    def partition_counts(
        self, table: str, column: str, version: int | datetime | None = None
    ) -> pl.DataFrame:
        """Rows per partition value, from the Delta log's file statistics (no data read).

        Files written without row counts in their statistics fall back to a scan.
        """
        dt = self.open(table, version)
        actions = pl.DataFrame(dt.get_add_actions(flatten=True))
        name = f"partition.{column}"
        if (
            actions.height
            and name in actions.columns
            and actions.get_column("num_records").null_count() == 0
        ):
            counts = actions.group_by(pl.col(name).alias(column)).agg(
                pl.col("num_records").sum().alias("len")
            )
        else:
            counts = pl.scan_delta(dt).group_by(column).len().collect()
        return counts.sort(column)

    def read(
        self,
        table: str,
        *,
        version: int | datetime | None = None,
        columns: list[str] | None = None,
        partition: tuple[str, date | str] | None = None,
    ) -> pa.Table:
        """Read a table (or one partition) as Arrow, optionally as of a version or time."""
        ds = self.dataset(table, version)
        filt = None
        if partition is not None:
            column, value = partition
            if column not in ds.schema.names:
                raise UsageError(f"table {table!r} has no partition column {column!r}")
            filt = pads.field(column) == pa.scalar(as_date(value), ds.schema.field(column).type)
        return ds.to_table(columns=columns, filter=filt)

    def history(self, table: str) -> list[dict[str, Any]]:
        return list(self.open(table).history())


def as_date(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"partition {value!r} is not a date", hint="use YYYY-MM-DD") from exc
