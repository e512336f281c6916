"""The data gate every daily pipeline starts with: land the factory's declared sources for
the day, check each table's contract on that day's partition, and hold the run (with an
alert per kind of problem) until the data is right. The scheduler re-runs this step for
held runs, so a late or fixed partition lets the run continue by itself."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from kibble.checks.result import CheckResult
from kibble.checks.rules import check_freshness, deadline_of
from kibble.context import Context
from kibble.data.tables import Tables
from kibble.factory.applied import sources
from kibble.factory.definition import SourceSpec
from kibble.factory.sources import ingest_source
from kibble.monitoring.alerts import raise_alert, resolve_alert
from kibble.pipelines import hold, log, record_read, step
from kibble.steps.context import run_id, step_context
from kibble.store.repositories.data import DataRecords

ALERT_KINDS = ("data_late", "data_incomplete", "data_incorrect")
FIXED = {
    "data_late": "partition {day} arrived late; its checks pass now",
    "data_incomplete": "partition {day} was re-delivered complete; its checks pass now",
    "data_incorrect": "partition {day} was re-delivered correct; its checks pass now",
}
"""What a resolved data alert says (its open text, "has not arrived", would read wrong)."""
PARTITION = "{partition}"


def alert_kind(check: str) -> str:
    """The alert a failed contract check raises (and the kind a held run names)."""
    if check == "freshness":
        return "data_late"
    if check == "volume":
        return "data_incomplete"
    return "data_incorrect"


def _arrived(spec: SourceSpec, day: str) -> bool:
    """Whether a partitioned files source has data for ``day`` (a file, or a folder with
    at least one file); other kinds are asked when they are read."""
    if spec.kind != "files":
        return True
    path = Path(spec.location.replace(PARTITION, day))
    if path.is_dir():
        return any(p.is_file() and not p.name.startswith(".") for p in path.iterdir())
    return path.is_file()


def land(context: Context, day: str) -> dict[str, bool]:
    """Load every source the applied factory declares; returns table -> whether its day's
    data arrived. A source whose location holds ``{partition}`` fills that day's
    partition; any other replaces its table (a catalogue, a customer list)."""
    arrived: dict[str, bool] = {}
    for name, spec in sources(context).items():
        if PARTITION not in spec.location:
            ingest_source(context, name, mode="replace")
            continue
        arrived[spec.table] = arrived.get(spec.table, False) or _arrived(spec, day)
        if _arrived(spec, day):
            ingest_source(context, name, partition=day, mode="replace-partition")
    return arrived


def _late(context: Context, table: str, day: str) -> CheckResult:
    """A partition that has not landed when the daily run starts is late."""
    tables = Tables(context)
    contract = tables.contract(table)
    hours = contract.freshness_hours or 0.0
    partition = date.fromisoformat(day)
    judged_at = deadline_of(partition, hours) + timedelta(seconds=1)
    result = check_freshness(partition, None, hours, judged_at)
    dataset = tables.register(contract)
    with context.store.session() as session:
        DataRecords(session, context.project_id).record_checks(
            dataset,
            [
                {
                    "report_id": f"late-{table}-{day}",
                    "table_version": tables.lake.version(table) or -1,
                    "partition": day,
                    "run_id": run_id(),
                    **result.to_dict(),
                }
            ],
        )
    return result


def check_partitions(context: Context, day: str, tables: list[str]) -> list[CheckResult]:
    """Land the day and check it; returns the failures that must hold the run.

    Drift is reported with the checks but does not hold retraining."""
    from kibble.checks.runner import run_checks

    arrived = land(context, day)
    failed: list[CheckResult] = []
    lake = Tables(context).lake
    for table in tables:
        if not arrived.get(table, lake.exists(table)) or not lake.exists(table):
            failed.append(_late(context, table, day))
            continue
        # a partitioned table is judged on the day's partition, any other as a whole
        partition = day if Tables(context).contract(table).partition_by else None
        report = run_checks(
            context, table, partition=partition, skip=("freshness",), run_id=run_id()
        )
        record_read(table, report.version)
        failed += [r for r in report.results if r.failed and not r.name.startswith("drift:")]
    return failed


@step(cache=False)
def check(day: str, tables: list[str] | None = None) -> dict[str, Any]:
    """Hold the run unless the day's data arrived complete and correct (the contracts).

    ``tables`` defaults to every table a partitioned source fills."""
    with step_context() as context:
        declared = sources(context).values()
        wanted = tables or sorted({s.table for s in declared if PARTITION in s.location})
        if not wanted:
            raise hold("no table to check: declare a source with {partition} in its location")
        failed = check_partitions(context, day, wanted)
        kinds = {alert_kind(r.name) for r in failed}
        for r in failed:
            kind = alert_kind(r.name)
            raise_alert(
                context,
                kind,
                f"{kind}|{day}",
                r.message,
                {"day": day, "check": r.name},
            )
        for kind in ALERT_KINDS:
            if kind not in kinds:
                resolve_alert(
                    context,
                    f"{kind}|{day}",
                    "the data is fixed",
                    message=FIXED[kind].format(day=day),
                )
    if failed:
        raise hold(*(f"{alert_kind(r.name)}: {r.message}" for r in failed))
    log(f"data gates passed for {day}: {', '.join(wanted)}")
    return {"day": day, "tables": wanted}
