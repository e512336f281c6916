"""`kibble ingest`, `kibble check` and `kibble tables`: the data engineer's commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from kibble.cli.output import JsonOption, console, emit, print_json, print_table, working
from kibble.cli.state import state
from kibble.errors import DataQualityError, UsageError

tables_app = typer.Typer(help="Inspect versioned tables: schema, versions, loads, checks.")


def _mapping(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        column, sep, source = pair.partition("=")
        if not sep or not column or not source:
            raise UsageError(f"--map {pair!r} is not COLUMN=SOURCE_COLUMN")
        out[column] = source
    return out


def ingest(
    ctx: typer.Context,
    source: str | None = typer.Argument(
        None, help="file or folder (csv/tsv/jsonl/json/parquet), http(s) URL, or database URL"
    ),
    table: str | None = typer.Option(None, "--table", "-t", help="target table, e.g. events"),
    declared: str | None = typer.Option(
        None, "--source", help="a source declared in the applied factory (instead of SOURCE)"
    ),
    partition: str | None = typer.Option(None, "--partition", help="day YYYY-MM-DD"),
    mode: str = typer.Option(
        "merge", "--mode", help="merge (dedup on key), replace-partition, or replace"
    ),
    maps: list[str] = typer.Option([], "--map", help="COLUMN=SOURCE_COLUMN, repeatable"),
    fmt: str | None = typer.Option(None, "--format", help="force csv, tsv, jsonl, json, parquet"),
    sql_table: str | None = typer.Option(None, "--sql-table", help="table of an SQL source"),
    query: str | None = typer.Option(None, "--query", help="SELECT for an SQL source"),
    records_path: str | None = typer.Option(None, "--records-path", help="e.g. data.items"),
    as_json: bool = JsonOption,
) -> None:
    """Load a source into a table. Loading the same data twice adds no rows.

    Give SOURCE and --table, or --source NAME for a source the applied factory declares
    (its location, kind, column mapping and secrets come from the definition). Bad rows
    go to TABLE__quarantine with a reason; the load is recorded with its counts and the
    table version it made.
    """
    from kibble.data.connectors import SourceOptions
    from kibble.data.ingest import MODES
    from kibble.data.ingest import ingest as run_ingest
    from kibble.factory.sources import ingest_source

    if mode not in MODES:
        raise UsageError(f"unknown --mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    if (source is None) == (declared is None):
        raise UsageError(
            "give either SOURCE (with --table) or --source NAME",
            hint="e.g. `kibble ingest events.csv --table events` or "
            "`kibble ingest --source clickstream`",
        )
    if declared is not None and (table or maps or sql_table or query):
        raise UsageError(
            f"--source {declared} takes its table, mapping and SQL table from the factory",
            hint="drop --table, --map, --sql-table and --query, or change the source there",
        )
    if source is not None and table is None:
        raise UsageError("--table is required with SOURCE", hint="e.g. --table events")
    context = state(ctx).context()
    options = SourceOptions(
        format=fmt,
        table=sql_table,
        query=query,
        records_path=records_path,
        allow_private_urls=context.settings.allow_private_urls,
    )
    with working(f"loading {table or declared}", as_json):
        if declared is not None:
            result = ingest_source(
                context,
                declared,
                partition=partition,
                mode=mode,  # type: ignore[arg-type]
                options=options,
            )
        else:
            assert source is not None and table is not None
            result = run_ingest(
                context,
                source,
                table,
                partition=partition,
                mode=mode,  # type: ignore[arg-type]
                mapping=_mapping(maps),
                options=options,
                arrived_at=_landed_at(source),
            )
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"{result.table}: read {result.rows_read:,}, wrote {result.rows_written:,}, "
        f"rejected {result.rows_rejected:,}, duplicates {result.rows_duplicate:,}; "
        f"version {result.table_version} (load {result.load_id})"
    )


def _landed_at(source: str) -> datetime | None:
    """When a local file or folder landed (its newest file's time, never later than now):
    what freshness means for a landing folder. None for URLs (they arrive now)."""
    path = Path(source)
    if not path.exists():
        return None
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    if not files:
        return None
    newest = max(datetime.fromtimestamp(f.stat().st_mtime, UTC) for f in files)
    return min(newest, datetime.now(UTC))


def check(
    ctx: typer.Context,
    table: str = typer.Argument(..., help="table to check, e.g. events"),
    partition: str | None = typer.Option(None, "--partition", help="day YYYY-MM-DD"),
    version: int | None = typer.Option(None, "--version", help="table version (default latest)"),
    as_json: bool = JsonOption,
) -> None:
    """Run the table's contract checks; exit 1 if any fails (usable as a gate)."""
    from kibble.checks.runner import run_checks

    context = state(ctx).context()
    report = run_checks(context, table, partition=partition, version=version)
    if as_json:
        print_json(report.to_dict())
    else:
        print_table(
            f"checks of {table} v{report.version}" + (f" {partition}" if partition else ""),
            ["check", "status", "message"],
            [[r.name, r.status, r.message] for r in report.results],
        )
    if not report.passed:
        raise DataQualityError(f"{table}: " + "; ".join(report.reasons))


@tables_app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Tables of this project with their latest version and row count."""
    from kibble.store.repositories.data import DataRecords

    context = state(ctx).context()
    with context.store.session() as session:
        repo = DataRecords(session, context.project_id)
        rows = []
        for dataset in repo.datasets():
            latest = repo.versions(dataset, 1)
            rows.append(
                {
                    "name": dataset.name,
                    "version": latest[0].version if latest else None,
                    "rows": latest[0].row_count if latest else 0,
                    "uri": dataset.uri,
                }
            )
    emit(
        rows,
        as_json,
        "tables",
        ["table", "version", "rows", "uri"],
        ["name", "version", "rows", "uri"],
    )


def _versions(context: object, table: str, limit: int) -> list[dict[str, object]]:
    from kibble.context import Context
    from kibble.store.repositories.data import DataRecords

    assert isinstance(context, Context)
    with context.store.session() as session:
        repo = DataRecords(session, context.project_id)
        dataset = repo.dataset(table)
        return [
            {
                "version": v.version,
                "rows": v.row_count,
                "operation": v.operation,
                "load_id": v.details.get("load_id"),
                "created_at": v.created_at,
            }
            for v in repo.versions(dataset, limit)
        ]


@tables_app.command("history")
def history(
    ctx: typer.Context,
    table: str = typer.Argument(...),
    limit: int = typer.Option(100, min=1, max=10_000),
    as_json: bool = JsonOption,
) -> None:
    """Versions of a table, newest first, with row counts and the load that made each."""
    rows = _versions(state(ctx).context(), table, limit)
    emit(
        rows,
        as_json,
        f"history of {table}",
        ["version", "rows", "operation", "load", "at"],
        ["version", "rows", "operation", "load_id", "created_at"],
    )


@tables_app.command("show")
def show(ctx: typer.Context, table: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Schema (contract), recent versions, recent loads and the latest check results."""
    from kibble.store.repositories.data import DataRecords

    context = state(ctx).context()
    versions = _versions(context, table, 10)
    with context.store.session() as session:
        repo = DataRecords(session, context.project_id)
        dataset = repo.dataset(table)
        loads = [
            {
                "load_id": load.id,
                "status": load.status,
                "source": load.source,
                "read": load.rows_read,
                "written": load.rows_written,
                "rejected": load.rows_rejected,
                "duplicates": load.rows_duplicate,
                "version": load.table_version,
                "created_at": load.created_at,
            }
            for load in repo.loads(dataset, 10)
        ]
        checks = [
            {"name": c.name, "status": c.status, "version": c.table_version, "message": c.message}
            for c in repo.latest_checks(dataset)
        ]
        contract = dataset.contract
    data = {"table": table, "contract": contract, "versions": versions, "loads": loads}
    data["checks"] = checks
    if as_json:
        print_json(data)
        return
    print_table(
        f"{table}: schema",
        ["column", "type", "nullable"],
        [[c["name"], c["type"], c["nullable"]] for c in contract.get("columns", [])],
    )
    print_table(
        "versions",
        ["version", "rows", "operation", "load"],
        [[v["version"], v["rows"], v["operation"], v["load_id"]] for v in versions],
    )
    print_table(
        "loads",
        ["load", "status", "read", "written", "rejected", "duplicates"],
        [
            [x["load_id"], x["status"], x["read"], x["written"], x["rejected"], x["duplicates"]]
            for x in loads
        ],
    )
    print_table(
        "latest checks",
        ["check", "status", "message"],
        [[c["name"], c["status"], c["message"]] for c in checks],
    )
