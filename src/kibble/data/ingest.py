"""Idempotent ingestion: source -> contract -> quarantine / dedup -> one Delta commit.

Loading the same file or day twice adds nothing: rows are deduplicated on the
contract's key against the partitions they land in (an anti-join), or a partition is
replaced as a whole. The table changes in one atomic commit, so a load killed half-way
leaves the previous version readable and a re-run completes it. Each load is recorded
with its source, row counts and the version it produced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads

from kibble.checks.rows import conform, dedup_batch
from kibble.context import Context
from kibble.data.connectors import SourceOptions, read_source, source_kind
from kibble.data.contracts import Contract
from kibble.data.tables import QUARANTINE_SUFFIX, Tables
from kibble.errors import UsageError
from kibble.store.repositories.data import DataRecords

IngestMode = Literal["merge", "replace-partition", "replace"]
MODES: tuple[str, ...] = ("merge", "replace-partition", "replace")


@dataclass(frozen=True)
class LoadResult:
    load_id: str
    table: str
    mode: str
    rows_read: int
    rows_written: int
    rows_rejected: int
    rows_duplicate: int
    table_version: int | None
    quarantine_version: int | None
    partitions: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _partitions(frame: pl.DataFrame, contract: Contract) -> list[str]:
    if not contract.partition_by or frame.height == 0:
        return []
    values = frame.get_column(contract.partition_by).unique().sort()
    return [str(v) for v in values.to_list()]


def _existing_keys(tables: Tables, contract: Contract, partitions: list[str]) -> pl.DataFrame:
    ds = tables.lake.dataset(contract.name)
    filt = None
    if contract.partition_by and partitions:
        values = pa.array([date.fromisoformat(p) for p in partitions], pa.date32())
        filt = pads.field(contract.partition_by).isin(values)
    frame = pl.from_arrow(ds.to_table(columns=contract.key, filter=filt))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _quarantine(tables: Tables, table: str, bad: pl.DataFrame, load_id: str) -> int:
    rows = bad.with_columns(
        pl.lit(load_id).alias("_load_id"),
        pl.lit(datetime.now(UTC)).dt.replace_time_zone("UTC").alias("_quarantined_at"),
    )
    return tables.lake.write(table + QUARANTINE_SUFFIX, rows.to_arrow(), mode="append")


def ingest(
    context: Context,
    source: str | pa.Table | pl.DataFrame,
    table: str,
    *,
    partition: str | date | None = None,
    mode: IngestMode = "merge",
    mapping: dict[str, str] | None = None,
    options: SourceOptions | None = None,
    run_id: str | None = None,
) -> LoadResult:
    """Load ``source`` (a path/URL/database URL, or an in-memory frame) into ``table``."""
    if mode not in MODES:
        raise UsageError(f"unknown ingest mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    part = date.fromisoformat(partition) if isinstance(partition, str) else partition
    tables = Tables(context)
    contract = tables.contract(table)
    if mode == "replace-partition" and not contract.partition_by:
        raise UsageError(f"table {table} is not partitioned", hint="use --mode replace")
    if isinstance(source, str):
        label, kind = source, source_kind(source)
        opts = options or SourceOptions(allow_private_urls=context.settings.allow_private_urls)
    else:
        label, kind, opts = "<frame>", "frame", options or SourceOptions()
    dataset = tables.register(contract)
    with context.store.session() as session:
        load_id = (
            DataRecords(session, context.project_id)
            .start_load(
                dataset,
                source=_redact(label),
                source_kind=kind,
                mode=mode,
                partition=str(part) if part else None,
            )
            .id
        )
    try:
        result = _run(tables, contract, source, opts, load_id, mode, part, mapping, run_id)
    except BaseException as exc:
        with context.store.session() as session:
            DataRecords(session, context.project_id).finish_load(
                load_id, status="failed", error=str(exc) or exc.__class__.__name__
            )
        raise
    context.audit("data.ingest", table, load_id=load_id, version=result.table_version)
    return result


def _redact(source: str) -> str:
    """Keep passwords of database URLs out of the records."""
    if "://" in source and "@" in source.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = source.split("://", 1)
        creds, host = rest.split("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return source


def _run(
    tables: Tables,
    contract: Contract,
    source: str | pa.Table | pl.DataFrame,
    options: SourceOptions,
    load_id: str,
    mode: str,
    partition: date | None,
    mapping: dict[str, str] | None,
    run_id: str | None,
) -> LoadResult:
    context, table = tables.context, contract.name
    if isinstance(source, str):
        raw: Any = pl.from_arrow(read_source(source, options))
    else:
        raw = source if isinstance(source, pl.DataFrame) else pl.from_arrow(source)
    conformed = conform(raw, contract, mapping=mapping, partition=partition)
    del raw  # the source frame is not needed past this point: free it early
    good, duplicates = dedup_batch(conformed.good, contract.key)
    partitions = _partitions(good, contract)
    if partition is not None and mode == "replace-partition":
        partitions = sorted({*partitions, str(partition)})
    exists = tables.lake.exists(table)
    if mode == "merge" and exists:
        before = good.height
        keys = contract.key or good.columns
        good = good.join(_existing_keys(tables, contract, partitions), on=keys, how="anti")
        duplicates += before - good.height
    quarantine_version = None
    if conformed.bad.height:
        quarantine_version = _quarantine(tables, table, conformed.bad, load_id)
    version = tables.lake.version(table)
    write_mode: Literal["append", "overwrite"] = "append"
    predicate = None
    if mode == "replace":
        write_mode = "overwrite"
    elif mode == "replace-partition" and partitions:
        write_mode = "overwrite"
        listed = ", ".join(f"'{p}'" for p in partitions)
        predicate = f"{contract.partition_by} IN ({listed})"
    if good.height or (write_mode == "overwrite" and (exists or good.height)):
        version = tables.lake.write(
            table,
            good.to_arrow(),
            mode=write_mode if exists else "append",
            partition_by=contract.partition_by,
            predicate=predicate if exists else None,
            metadata={"kibble.load_id": load_id},
        )
        dataset = tables.register(contract)
        tables.record_version(
            dataset,
            table,
            version,
            f"ingest:{mode}",
            {"load_id": load_id, "rows_added": good.height, "partitions": partitions},
            run_id,
        )
    result = LoadResult(
        load_id=load_id,
        table=table,
        mode=mode,
        rows_read=conformed.rows_read,
        rows_written=good.height,
        rows_rejected=conformed.bad.height,
        rows_duplicate=duplicates,
        table_version=version,
        quarantine_version=quarantine_version,
        partitions=partitions if good.height else [],
    )
    with context.store.session() as session:
        DataRecords(session, context.project_id).finish_load(
            load_id,
            status="succeeded",
            rows_read=result.rows_read,
            rows_written=result.rows_written,
            rows_rejected=result.rows_rejected,
            rows_duplicate=result.rows_duplicate,
            table_version=version,
            quarantine_version=quarantine_version,
            partitions=result.partitions,
            details={"extra_columns": conformed.extra_columns, "run_id": run_id},
        )
    return result
