"""Run every check a table's contract declares and record the verdicts.

``run_checks(context, "events", partition="2026-11-23")`` is the gate pipelines call:
``report.passed`` decides, ``report.reasons`` says why in sentences.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from kibble.checks import rules
from kibble.checks.result import CheckReport, CheckResult
from kibble.context import Context
from kibble.data.tables import Tables
from kibble.store.models import new_id
from kibble.store.repositories.data import DataRecords


def _frame(tables: Tables, table: str, **kwargs: object) -> pl.DataFrame:
    return tables.polars(table, **kwargs)  # type: ignore[arg-type]


def run_checks(
    context: Context,
    table: str,
    *,
    partition: str | None = None,
    version: int | None = None,
    skip: tuple[str, ...] = (),
    now: datetime | None = None,
    run_id: str | None = None,
) -> CheckReport:
    tables = Tables(context)
    contract = tables.contract(table)
    version = tables.lake.version(table) if version is None else version
    frame = _frame(tables, table, version=version, partition=partition)
    results: list[CheckResult] = [
        rules.check_schema(frame.schema, contract),
        rules.check_values(frame, contract),
        rules.check_duplicate_keys(frame, contract),
    ]
    for fk in contract.foreign_keys:
        if fk.table in skip or not tables.lake.exists(fk.table):
            continue
        ref = tables.read(fk.table, columns=[fk.ref_column]).column(0)
        results.append(rules.check_foreign_key(frame.get_column(fk.column), pl.Series(ref), fk))
    part_col = contract.partition_by
    if partition is not None and part_col:
        day = date.fromisoformat(partition)
        dataset = tables.dataset(table)
        if contract.freshness_hours is not None and "freshness" not in skip:
            with context.store.session() as session:
                load = DataRecords(session, context.project_id).first_arrival(dataset, partition)
            arrived = load.created_at if load else None
            results.append(
                rules.check_freshness(
                    day, arrived, contract.freshness_hours, now or datetime.now(UTC)
                )
            )
        if contract.volume is not None or contract.drift:
            parts = pl.from_arrow(tables.read(table, version=version, columns=[part_col]))
            assert isinstance(parts, pl.DataFrame)
            counts = parts.group_by(part_col).len().filter(pl.col(part_col) < day).sort(part_col)
            assert isinstance(counts, pl.DataFrame)
            if contract.volume is not None and "volume" not in skip:
                history = counts.get_column("len").to_list()
                results.append(
                    rules.check_volume(frame.height, history, contract.volume, f"{table} {day}")
                )
            for rule in contract.drift:
                if "drift" in skip:
                    break
                days = counts.get_column(part_col).tail(rule.reference_partitions).to_list()
                reference = pl.from_arrow(
                    tables.read(table, version=version, columns=[rule.column, part_col])
                )
                assert isinstance(reference, pl.DataFrame)
                ref = reference.filter(pl.col(part_col).is_in(days)).get_column(rule.column)
                results.append(rules.check_drift(frame.get_column(rule.column), ref, rule))
    report = CheckReport(table, version, partition, results, report_id=new_id())
    dataset = tables.register(contract)
    with context.store.session() as session:
        DataRecords(session, context.project_id).record_checks(
            dataset,
            [
                {
                    "report_id": report.report_id,
                    "table_version": version if version is not None else -1,
                    "partition": partition,
                    "run_id": run_id,
                    **r.to_dict(),
                }
                for r in results
            ],
        )
    return report
