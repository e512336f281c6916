"""Run every check a table's contract declares and record the verdicts.

``run_checks(context, "events", partition="2026-11-23")`` is the gate pipelines call:
``report.passed`` decides, ``report.reasons`` says why in sentences.

The table is never loaded whole: row-level counts, key uniqueness and referential
integrity are aggregates over one lazy (streamed) scan, volume history comes from the
Delta log's statistics, and drift reads one column of the reference partitions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from kibble.checks import rules
from kibble.checks.result import CheckReport, CheckResult
from kibble.checks.rows import REASON, key_expr
from kibble.context import Context
from kibble.data.contracts import Contract
from kibble.data.tables import QUARANTINE_SUFFIX, Tables
from kibble.store.models import new_id
from kibble.store.repositories.data import DataRecords

_ROWS = "__kibble_rows"
_DISTINCT = "__kibble_distinct_keys"
_SAMPLE = 5


def _scan_checks(
    tables: Tables, contract: Contract, scan: pl.LazyFrame, skip: tuple[str, ...]
) -> tuple[int, list[CheckResult]]:
    """Schema, values, keys and foreign keys as aggregates of one streamed pass.

    Referenced tables (catalogues, much smaller than the facts) are read first, so
    referential integrity is an ``is_in`` inside the same pass.
    """
    schema = scan.collect_schema()
    present = [c for c in contract.column_names if c in schema]
    aggregates = [pl.len().alias(_ROWS), *rules.value_rule_exprs(contract, present)]
    if contract.key and all(k in schema for k in contract.key):
        # distinct 64-bit hashes prove distinct keys; only a shortfall needs the exact count
        aggregates.append(key_expr(contract.key).hash().n_unique().alias(_DISTINCT))
    foreign = []
    for i, fk in enumerate(contract.foreign_keys):
        if fk.table in skip or fk.column not in schema or not tables.lake.exists(fk.table):
            continue
        known = tables.scan(fk.table).select(fk.ref_column).unique().collect().to_series()
        column = pl.col(fk.column)
        unknown = column.is_not_null() & ~column.is_in(known.implode())
        aggregates += [unknown.sum().alias(f"__fk{i}"), column.count().alias(f"__fk{i}_present")]
        foreign.append((i, fk, unknown))
    totals = scan.select(aggregates).collect(engine="streaming").row(0, named=True)
    rows = int(totals.pop(_ROWS))
    distinct_keys = totals.pop(_DISTINCT, None)
    fk_counts = {k: totals.pop(k) for k in [k for k in totals if k.startswith("__fk")]}
    if distinct_keys is not None and distinct_keys != rows:
        exact = scan.select(key_expr(contract.key).n_unique()).collect(engine="streaming")
        distinct_keys = exact.item()
    results = [
        rules.check_schema(schema, contract),
        rules.values_result(totals, rows, contract),
        rules.duplicate_keys_result(rows - int(distinct_keys or rows), contract),
    ]
    for i, fk, unknown in foreign:
        n_unknown = int(fk_counts[f"__fk{i}"])
        sample: list[str] = []
        if n_unknown:  # the rare failing case: one more pass for a few examples
            first = scan.filter(unknown).select(fk.column).unique().sort(fk.column).head(_SAMPLE)
            sample = [str(v) for v in first.collect().to_series().to_list()]
        present_n = int(fk_counts[f"__fk{i}_present"])
        results.append(rules.foreign_key_result(n_unknown, present_n, sample, fk))
    return rows, results


def _rejected(
    tables: Tables, contract: Contract, partition: str | None, accepted: int, label: str
) -> CheckResult | None:
    """Quarantined rows of this table (or partition) against the rows it kept."""
    name = contract.name + QUARANTINE_SUFFIX
    if not tables.lake.exists(name):
        return None
    quarantine = tables.lake.scan(name)
    if partition is not None and contract.partition_by:
        quarantine = quarantine.filter(pl.col(contract.partition_by) == partition)
    reasons = (
        quarantine.group_by(REASON).len().sort(["len", REASON], descending=[True, False])
    ).collect()
    counts = {str(r): int(n) for r, n in reasons.iter_rows()}
    return rules.check_rejected(
        sum(counts.values()), accepted, counts, contract.max_rejected_share, label
    )


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
    """Check ``table`` (one ``partition`` when given) as of ``version`` and record it.

    ``skip`` names checks (``freshness``, ``volume``, ``drift``, ``rejected``) or referenced
    tables to leave out; ``now`` is the clock freshness judges against (a simulation's).
    """
    tables = Tables(context)
    contract = tables.contract(table)
    version = tables.lake.version(table) if version is None else version
    scan = tables.scan(table, version=version, partition=partition)
    rows, results = _scan_checks(tables, contract, scan, skip)
    label = f"{table} {partition}" if partition else table
    if "rejected" not in skip:
        rejected = _rejected(tables, contract, partition, rows, label)
        if rejected is not None:
            results.append(rejected)
    part_col = contract.partition_by
    if partition is not None and part_col:
        day = date.fromisoformat(partition)
        if contract.freshness_hours is not None and "freshness" not in skip:
            dataset = tables.dataset(table)
            with context.store.session() as session:
                load = DataRecords(session, context.project_id).first_arrival(dataset, partition)
            arrived = load.created_at if load else None
            if arrived is not None and arrived.tzinfo is None:
                arrived = arrived.replace(tzinfo=UTC)
            results.append(
                rules.check_freshness(
                    day, arrived, contract.freshness_hours, now or datetime.now(UTC)
                )
            )
        if contract.volume is not None or contract.drift:
            counts = tables.lake.partition_counts(table, part_col, version)
            earlier = counts.filter(pl.col(part_col) < day).sort(part_col)
            if contract.volume is not None and "volume" not in skip:
                history = earlier.get_column("len").to_list()
                results.append(rules.check_volume(rows, history, contract.volume, label))
            for rule in contract.drift if "drift" not in skip else []:
                days = earlier.get_column(part_col).tail(rule.reference_partitions)
                full = tables.lake.scan(table, version)
                current = scan.select(rule.column).collect().to_series()
                reference = (
                    full.filter(pl.col(part_col).is_in(days.implode()))
                    .select(rule.column)
                    .collect()
                    .to_series()
                )
                results.append(rules.check_drift(current, reference, rule))
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
    from kibble.lineage.openlineage import emit_finished

    checked = {
        "kind": "table",
        "name": table,
        "version": version,
        "assertions": [(r.name, not r.failed) for r in results],
    }
    emit_finished(
        context.settings,
        context.project,
        job=f"check.{table}",
        run_key=report.report_id,
        state="COMPLETE" if report.passed else "FAIL",
        inputs=[checked],
        error=None if report.passed else "; ".join(report.reasons)[:2000],
    )
    return report
