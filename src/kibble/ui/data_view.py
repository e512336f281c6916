"""The Data page: tables, their versions, each partition's checks with what was expected
and what was seen, loads with their quarantine counts, and drift per partition."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.store.models import CheckResultRecord, Dataset, TableVersion
from kibble.store.repositories.data import DataRecords
from kibble.ui.pages import PAGE_SIZE, short
from kibble.ui.views import Page, chart, link, status, table, when

CHECK_STATUSES = ("pass", "warn", "fail")


def data(session: Session, project_id: str, prefix: str, q: dict[str, str]) -> Page:
    datasets = session.scalars(
        sa.select(Dataset).where(Dataset.project_id == project_id).order_by(Dataset.name)
    ).all()
    page = Page("Data", subtitle="Tables, their versions and the checks that judged them.")
    counts = dict(
        session.execute(
            sa.select(TableVersion.dataset_id, sa.func.count())
            .where(TableVersion.project_id == project_id)
            .group_by(TableVersion.dataset_id)
        ).all()
    )
    page.add(
        table(
            "tables",
            "Tables",
            ["table", "versions", "location"],
            [
                [
                    link(d.name, f"{prefix}/data?table={quote(d.name)}", f"table-{d.name}"),
                    counts.get(d.id, 0),
                    d.uri,
                ]
                for d in datasets
            ],
        )
    )
    chosen = next((d for d in datasets if d.name == q.get("table", "")), None)
    if chosen is not None:
        _versions(page, session, project_id, chosen)
        _checks(page, DataRecords(session, project_id), prefix, chosen, q.get("partition", ""))
    return page


def _versions(page: Page, session: Session, project_id: str, chosen: Dataset) -> None:
    versions = session.scalars(
        sa.select(TableVersion)
        .where(TableVersion.project_id == project_id, TableVersion.dataset_id == chosen.id)
        .order_by(TableVersion.version.desc())
        .limit(PAGE_SIZE)
    ).all()
    page.add(
        table(
            "versions",
            f"Versions of {chosen.name}",
            ["version", "rows", "operation", "written", "details"],
            [
                [v.version, v.row_count, v.operation, when(v.created_at), short(v.details)]
                for v in versions
            ],
        )
    )
    ordered = list(reversed(versions))
    page.add(
        chart(
            "rows-per-version",
            f"Rows per version of {chosen.name}",
            [
                {
                    "name": "rows",
                    "x": [f"v{v.version}" for v in ordered],
                    "y": [v.row_count for v in ordered],
                }
            ],
            type="bar",
        )
    )


def _checks(page: Page, records: DataRecords, prefix: str, chosen: Dataset, partition: str) -> None:
    summary = records.partition_summary(chosen, limit=PAGE_SIZE)

    def href(partition: str | None) -> str:
        return f"{prefix}/data?{urlencode({'table': chosen.name, 'partition': partition or ''})}"

    page.add(
        table(
            "partitions",
            f"Checks per partition of {chosen.name} (latest report of each)",
            ["partition", *CHECK_STATUSES, "checked"],
            [
                [
                    link(
                        r["partition"] or "(whole table)",
                        href(r["partition"]),
                        f"partition-{r['partition'] or 'all'}",
                    ),
                    *[r["counts"].get(s, 0) for s in CHECK_STATUSES],
                    when(r["at"]),
                ]
                for r in summary
            ],
            empty="no checks recorded",
        )
    )
    picked = next((r for r in summary if (r["partition"] or "") == partition), None)
    picked = picked or (summary[0] if summary else None)
    checks = [] if picked is None else records.checks_of_report(picked["report_id"])
    checks = [c for c in checks if c.dataset_id == chosen.id]
    label = "" if picked is None else f" for partition {picked['partition'] or '(whole table)'}"
    page.add(
        table(
            "checks",
            f"Checks of {chosen.name}{label}",
            ["check", "partition", "status", "expected", "observed", "version", "message"],
            [
                [
                    c.name,
                    c.partition,
                    status(c.status),
                    short(c.expected),
                    short(c.observed),
                    c.table_version,
                    c.message,
                ]
                for c in checks
            ],
            empty="no checks recorded",
        )
    )
    loads = records.loads(chosen, limit=PAGE_SIZE)
    page.add(
        table(
            "loads",
            f"Loads into {chosen.name}",
            ["partition", "status", "read", "written", "quarantined", "duplicates", "source"],
            [
                [
                    load.partition,
                    status(load.status),
                    load.rows_read,
                    load.rows_written,
                    load.rows_rejected,
                    load.rows_duplicate,
                    short(load.source, 80),
                ]
                for load in loads
            ],
            empty="no loads recorded",
        )
    )
    page.add(_drift(records.drift_history(chosen), chosen.name))


def _drift(history: list[CheckResultRecord], name: str) -> dict[str, Any]:
    """PSI per partition for each drift check, the warn line beside it."""
    series: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"x": [], "y": []})
    for check in history:
        psi = check.observed.get("psi")
        if not isinstance(psi, int | float):
            continue
        s = series[check.name]
        s["x"].append(check.partition or when(check.created_at))
        s["y"].append(psi)
        warn = check.expected.get("psi_warn")
        if isinstance(warn, int | float):
            line = series[f"{check.name} warn at"]
            line["x"].append(check.partition or when(check.created_at))
            line["y"].append(warn)
    return chart(
        "drift",
        f"Drift of {name} per partition (PSI against the reference)",
        [{"name": key, **s} for key, s in series.items()],
    )
