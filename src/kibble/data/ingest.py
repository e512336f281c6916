"""Idempotent ingestion: source -> contract -> quarantine / dedup -> one Delta commit.

Loading the same file or day twice adds nothing: rows are deduplicated on the
contract's key against the partitions they land in (an anti-join), or a partition is
replaced as a whole. The table changes in one atomic commit, so a load killed half-way
leaves the previous version readable and a re-run completes it. Each load is recorded
with its source, row counts and the version it produced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import polars as pl
import pyarrow as pa

from kibble.checks.rows import REASON, conform, first_of_each_key, key_expr
from kibble.context import Context
from kibble.data.connectors import SourceOptions, read_frame, source_kind
from kibble.data.contracts import Contract
from kibble.data.tables import QUARANTINE_SUFFIX, Tables
from kibble.errors import UsageError
from kibble.store.repositories.data import DataRecords

IngestMode = Literal["merge", "replace-partition", "replace"]
MODES: tuple[str, ...] = ("merge", "replace-partition", "replace")
_SLICE = 1_000_000  # rows converted to Arrow at a time while writing


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
    """Keys already in the partitions a batch lands in (only those files are read)."""
    scan = tables.lake.scan(contract.name)
    if contract.partition_by and partitions:
        days = pl.Series([date.fromisoformat(p) for p in partitions], dtype=pl.Date)
        scan = scan.filter(pl.col(contract.partition_by).is_in(days.implode()))
    return scan.select(contract.key or contract.column_names).collect()


def _new_rows(good: pl.DataFrame, existing: pl.DataFrame | None, key: list[str]) -> pl.Series:
    """True for rows whose key is neither earlier in the batch nor already in the table."""
    columns = key or good.columns
    new = first_of_each_key(good, columns)
    if existing is not None and existing.height:
        known = existing.select(key_expr(columns)).to_series().implode()
        seen = good.select(key_expr(columns).is_in(known).fill_null(False)).to_series()
        new = new & ~seen
    return new


def _arrow_batches(frame: pl.DataFrame, keep: pl.Series | None) -> pa.RecordBatchReader:
    """The rows to write as a stream, filtered slice by slice (never a full copy)."""
    level = pl.CompatLevel.newest()
    schema = frame.head(0).to_arrow(compat_level=level).schema

    def batches() -> Iterator[pa.RecordBatch]:
        for offset in range(0, frame.height, _SLICE):
            part = frame.slice(offset, _SLICE)
            if keep is not None:
                part = part.filter(keep.slice(offset, _SLICE))
            yield from part.to_arrow(compat_level=level).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _quarantine(
    tables: Tables,
    contract: Contract,
    bad: pl.DataFrame,
    load_id: str,
    mode: str,
    partitions: list[str],
) -> int | None:
    """Write rejected rows; a replaced table or partition replaces its quarantine too.

    Merging the same bad rows again adds nothing (same key and reason), so the
    quarantine stays a faithful list of what the current table is missing.
    """
    name = contract.name + QUARANTINE_SUFFIX
    exists = tables.lake.exists(name)
    part = contract.partition_by
    rows = bad.with_columns(
        pl.lit(load_id).alias("_load_id"),
        pl.lit(datetime.now(UTC)).dt.replace_time_zone("UTC").alias("_quarantined_at"),
    )
    if not exists:
        if bad.height == 0:
            return None
        return tables.lake.write(name, rows.to_arrow(), mode="append")
    current = tables.lake.scan(name)
    predicate = None
    if mode == "replace-partition" and part and partitions:
        predicate = f"{part} IN ({', '.join(repr(p) for p in partitions)})"
        stale = current.filter(pl.col(part).is_in(partitions)).select(pl.len()).collect().item()
    elif mode == "replace":
        stale = current.select(pl.len()).collect().item()
    else:
        keys = [*(contract.key or contract.column_names), REASON]
        rows = rows.join(current.select(keys).collect(), on=keys, how="anti", nulls_equal=True)
        stale = 0
    if rows.height == 0 and stale == 0:
        return None
    write_mode: Literal["append", "overwrite"] = "append" if mode == "merge" else "overwrite"
    return tables.lake.write(name, rows.to_arrow(), mode=write_mode, predicate=predicate)


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
    arrived_at: datetime | None = None,
) -> LoadResult:
    """Load ``source`` (a path/URL/database URL, or an in-memory frame) into ``table``.

    ``arrived_at`` records when the data arrived (default: now); a simulation passes
    its own clock so freshness is judged in simulated time.
    """
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
                **({"created_at": arrived_at} if arrived_at is not None else {}),
            )
            .id
        )
    lineage = _IngestLineage(context, table, load_id, label if kind == "files" else None)
    try:
        result = _run(tables, contract, source, opts, load_id, mode, part, mapping, run_id)
    except BaseException as exc:
        with context.store.session() as session:
            DataRecords(session, context.project_id).finish_load(
                load_id, status="failed", error=str(exc) or exc.__class__.__name__
            )
        lineage.finish("FAIL", None, contract, f"{type(exc).__name__}: {exc}")
        raise
    lineage.finish("COMPLETE", result.table_version, contract)
    context.audit("data.ingest", table, load_id=load_id, version=result.table_version)
    return result


class _IngestLineage:
    """The load as an OpenLineage job ``ingest.<table>``: the source file in, the table
    out with its new Delta version and the contract's schema."""

    def __init__(self, context: Context, table: str, load_id: str, path: str | None) -> None:
        from kibble.lineage.openlineage import LineageEmitter, step_run_uuid

        self.emitter = LineageEmitter(context.settings, context.project)
        self.run_uuid = step_run_uuid(load_id, "ingest")
        self.job = f"ingest.{table}"
        self.table = table
        self.inputs = [{"url": path}] if path else []
        self.emitter.emit_job("START", run_uuid=self.run_uuid, job=self.job, inputs=self.inputs)

    def finish(
        self, state: str, version: int | None, contract: Contract, error: str | None = None
    ) -> None:
        output = {
            "kind": "table",
            "name": self.table,
            "version": version,
            "schema": [(c.name, str(c.type)) for c in contract.columns],
        }
        self.emitter.emit_job(
            state,
            run_uuid=self.run_uuid,
            job=self.job,
            inputs=self.inputs,
            outputs=[output] if version is not None else [],
            error=error,
        )
        self.emitter.close()


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
        raw: Any = read_frame(source, options)
    else:
        raw = source if isinstance(source, pl.DataFrame) else pl.from_arrow(source)
    conformed = conform(raw, contract, mapping=mapping, partition=partition)
    del raw  # the source frame is not needed past this point: free it early
    good = conformed.good
    partitions = _partitions(good, contract)
    if partition is not None and mode == "replace-partition":
        partitions = sorted({*partitions, str(partition)})
    exists = tables.lake.exists(table)
    existing = None
    if mode == "merge" and exists:
        existing = _existing_keys(tables, contract, partitions)
    new = _new_rows(good, existing, contract.key)
    del existing
    written = int(new.sum())
    duplicates = good.height - written
    keep = None if duplicates == 0 else new
    written_partitions = partitions
    if keep is not None and contract.partition_by and mode != "replace-partition":
        written_partitions = _partitions(good.select(contract.partition_by).filter(keep), contract)
    quarantine_version = _quarantine(tables, contract, conformed.bad, load_id, mode, partitions)
    version = tables.lake.version(table)
    write_mode: Literal["append", "overwrite"] = "append"
    predicate = None
    if mode == "replace":
        write_mode = "overwrite"
    elif mode == "replace-partition" and partitions:
        write_mode = "overwrite"
        listed = ", ".join(f"'{p}'" for p in partitions)
        predicate = f"{contract.partition_by} IN ({listed})"
    if written or (write_mode == "overwrite" and exists):
        version = tables.lake.write(
            table,
            _arrow_batches(good, keep),
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
            {"load_id": load_id, "rows_added": written, "partitions": written_partitions},
            run_id,
        )
    del good, keep, new
    result = LoadResult(
        load_id=load_id,
        table=table,
        mode=mode,
        rows_read=conformed.rows_read,
        rows_written=written,
        rows_rejected=conformed.bad.height,
        rows_duplicate=duplicates,
        table_version=version,
        quarantine_version=quarantine_version,
        partitions=written_partitions if written else [],
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
