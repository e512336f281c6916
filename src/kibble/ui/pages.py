"""One function per page: read the store for the signed-in project, return a ``Page``.

Every query is filtered by ``project_id``; pages paginate so a year of daily runs or
fifty model versions stays fast.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.store.models import (
    Alert,
    AuditEvent,
    Dataset,
    Deployment,
    ModelVersion,
    RegisteredModel,
    Run,
    StepRun,
    TableVersion,
)
from kibble.ui.views import (
    Page,
    cards,
    chart,
    duration,
    json_block,
    link,
    status,
    table,
    text_block,
    when,
)

PAGE_SIZE = 50
RUN_STATUSES = ["", "pending", "running", "succeeded", "failed", "held", "crashed", "cancelled"]


def _count(session: Session, query: sa.Select[Any]) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)


def overview(session: Session, project_id: str, prefix: str) -> Page:
    since = datetime.now(UTC) - timedelta(days=1)
    runs = sa.select(Run).where(Run.project_id == project_id)
    today = runs.where(Run.created_at >= since)
    held = runs.where(Run.status == "held")
    open_alerts = sa.select(Alert).where(Alert.project_id == project_id, Alert.status == "open")
    deployments = sa.select(Deployment).where(Deployment.project_id == project_id)
    page = Page("Overview", subtitle="Health of pipelines, deployments and data at a glance.")
    page.add(
        cards(
            "health",
            [
                ("runs_today", "runs in the last 24 h", _count(session, today)),
                (
                    "failed_today",
                    "failed in the last 24 h",
                    _count(session, today.where(Run.status.in_(["failed", "crashed"]))),
                ),
                ("held", "held runs", _count(session, held)),
                ("open_alerts", "open alerts", _count(session, open_alerts)),
                ("deployments", "deployments", _count(session, deployments)),
            ],
        )
    )
    recent = session.scalars(today.order_by(Run.created_at.desc()).limit(20)).all()
    page.add(
        table(
            "ran-today",
            "What ran today",
            ["run", "pipeline", "status", "started", "took"],
            [
                [
                    link(r.id[:8], f"{prefix}/runs/{r.id}"),
                    r.pipeline,
                    status(r.status),
                    when(r.started_at),
                    duration(r.started_at, r.ended_at),
                ]
                for r in recent
            ],
            empty="no runs in the last 24 hours",
        )
    )
    alerts = session.scalars(open_alerts.order_by(Alert.created_at.desc()).limit(20)).all()
    page.add(alert_table(list(alerts), "open-alerts", "Open alerts"))
    latest = session.execute(
        sa.select(
            Dataset.name, sa.func.max(TableVersion.version), sa.func.max(TableVersion.created_at)
        )
        .join(TableVersion, TableVersion.dataset_id == Dataset.id)
        .where(Dataset.project_id == project_id)
        .group_by(Dataset.name)
        .order_by(Dataset.name)
    ).all()
    page.add(
        table(
            "data-health",
            "Data",
            ["table", "latest version", "written"],
            [[link(name, f"{prefix}/data?table={name}"), v, when(t)] for name, v, t in latest],
        )
    )
    return page


def alert_table(alerts: list[Alert], section_id: str, title: str) -> dict[str, Any]:
    return table(
        section_id,
        title,
        ["kind", "severity", "status", "message", "raised"],
        [
            [a.kind, status(a.severity), status(a.status), a.message, when(a.created_at)]
            for a in alerts
        ],
        empty="no alerts",
    )


def runs(
    session: Session,
    project_id: str,
    prefix: str,
    *,
    status_filter: str,
    pipeline: str,
    offset: int,
) -> Page:
    query = sa.select(Run).where(Run.project_id == project_id)
    if status_filter:
        query = query.where(Run.status == status_filter)
    if pipeline:
        query = query.where(Run.pipeline == pipeline)
    total = _count(session, query)
    rows = session.scalars(
        query.order_by(Run.created_at.desc(), Run.id).offset(offset).limit(PAGE_SIZE)
    ).all()
    pipelines = session.scalars(
        sa.select(Run.pipeline)
        .where(Run.project_id == project_id)
        .distinct()
        .order_by(Run.pipeline)
    ).all()
    page = Page("Runs", subtitle=f"{total} run(s)")
    page.add(
        {
            "kind": "filters",
            "id": "run-filters",
            "fields": [
                {
                    "label": "status",
                    "name": "status",
                    "value": status_filter,
                    "options": [(s, s or "any") for s in RUN_STATUSES],
                },
                {
                    "label": "pipeline",
                    "name": "pipeline",
                    "value": pipeline,
                    "options": [("", "any"), *[(p, p) for p in pipelines]],
                },
            ],
        }
    )
    page.add(
        table(
            "runs",
            "",
            ["run", "pipeline", "kind", "status", "started", "took", "held because"],
            [
                [
                    link(r.id[:8], f"{prefix}/runs/{r.id}", f"run-link-{r.id}"),
                    r.pipeline,
                    r.kind,
                    status(r.status),
                    when(r.started_at),
                    duration(r.started_at, r.ended_at),
                    "; ".join(str(x) for x in r.held_reasons) or None,
                ]
                for r in rows
            ],
            empty="no runs match",
        )
    )
    params = {"status": status_filter, "pipeline": pipeline}
    page.add(
        {
            "kind": "pager",
            "prev": f"?{urlencode({**params, 'offset': max(offset - PAGE_SIZE, 0)})}"
            if offset
            else None,
            "next": f"?{urlencode({**params, 'offset': offset + PAGE_SIZE})}"
            if offset + PAGE_SIZE < total
            else None,
        }
    )
    return page


def dag_layers(steps: list[StepRun], edges: dict[str, list[str]]) -> list[list[dict[str, Any]]]:
    """Steps grouped by depth in the DAG (``edges``: step -> upstream steps)."""
    depth: dict[str, int] = {}

    def level(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name in depth:
            return depth[name]
        ups = [u for u in edges.get(name, []) if u not in seen]
        depth[name] = 0 if not ups else 1 + max(level(u, seen | {name}) for u in ups)
        return depth[name]

    layers: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for step in steps:
        detail = "cached" if step.cached else (duration(step.started_at, step.ended_at) or "")
        layers[level(step.name)].append(
            {"name": step.name, "status": step.status, "detail": detail}
        )
    return [layers[i] for i in sorted(layers)]


def run_detail(
    session: Session, project_id: str, prefix: str, run_id: str, *, can_release: bool
) -> Page | None:
    run = session.scalar(sa.select(Run).where(Run.project_id == project_id, Run.id == run_id))
    if run is None:
        return None
    steps = session.scalars(
        sa.select(StepRun)
        .where(StepRun.project_id == project_id, StepRun.run_id == run.id)
        .order_by(StepRun.started_at.is_(None), StepRun.started_at, StepRun.name)
    ).all()
    page = Page(f"Run {run.id[:8]} · {run.pipeline}", subtitle=f"kind {run.kind}")
    page.add(
        cards(
            "run-summary",
            [
                ("status", "status", status(run.status)),
                ("started", "started", when(run.started_at)),
                ("took", "took", duration(run.started_at, run.ended_at)),
                ("steps", "steps", len(steps)),
                ("cached", "cache hits", sum(1 for s in steps if s.cached)),
            ],
        )
    )
    if run.status == "held":
        page.add(
            table("held-reasons", "Held because", ["reason"], [[str(r)] for r in run.held_reasons])
        )
        page.add(
            {
                "kind": "action",
                "id": "release",
                "title": "Release this run",
                "allowed": can_release,
                "action": f"{prefix}/runs/{run.id}/release",
                "placeholder": "why it is safe to go on (recorded in the audit log)",
                "button": "release",
                "denied": "Your role cannot release held runs; ask a deployer or an admin.",
            }
        )
    edges = run.tags.get("dag", {}) if isinstance(run.tags, dict) else {}
    page.add(
        {"kind": "dag", "id": "dag", "title": "Steps", "layers": dag_layers(list(steps), edges)}
    )
    page.add(
        table(
            "steps",
            "Step details",
            ["step", "status", "attempts", "cached", "took", "inputs", "outputs", "error"],
            [
                [
                    s.name,
                    status(s.status),
                    s.attempts,
                    "yes" if s.cached else "no",
                    duration(s.started_at, s.ended_at),
                    _short(s.inputs),
                    _short(s.outputs),
                    s.error,
                ]
                for s in steps
            ],
        )
    )
    page.add(json_block("params", "Parameters", run.params))
    page.add(
        json_block(
            "code-version",
            "Code and environment",
            {"code": run.code_version, "environment": run.environment},
        )
    )
    if run.metrics:
        page.add(json_block("metrics", "Metrics", run.metrics))
    if run.error:
        page.add(text_block("run-error", "Error", run.error))
    models = session.scalars(
        sa.select(ModelVersion).where(
            ModelVersion.project_id == project_id, ModelVersion.run_id == run.id
        )
    ).all()
    if models:
        names = _model_names(session, project_id)
        page.add(
            table(
                "run-models",
                "Models this run produced",
                ["model", "version"],
                [
                    [
                        link(
                            f"{names.get(m.model_id, '?')} v{m.version}",
                            f"{prefix}/models/{names.get(m.model_id, '')}",
                            f"model-link-{m.version}",
                        ),
                        m.version,
                    ]
                    for m in models
                ],
            )
        )
    return page


def _short(data: Any, limit: int = 160) -> str:
    text = ", ".join(f"{k}={v}" for k, v in data.items()) if isinstance(data, dict) else str(data)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _model_names(session: Session, project_id: str) -> dict[str, str]:
    return dict(
        session.execute(
            sa.select(RegisteredModel.id, RegisteredModel.name).where(
                RegisteredModel.project_id == project_id
            )
        ).all()
    )


def data(session: Session, project_id: str, prefix: str, table_name: str) -> Page:
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
                [link(d.name, f"{prefix}/data?table={d.name}"), counts.get(d.id, 0), d.uri]
                for d in datasets
            ],
        )
    )
    chosen = next((d for d in datasets if d.name == table_name), None)
    if chosen is not None:
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
                    [v.version, v.row_count, v.operation, when(v.created_at), _short(v.details)]
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
                        "x": [v.version for v in ordered],
                        "y": [v.row_count for v in ordered],
                    }
                ],
                type="bar",
            )
        )
    return page


def models(session: Session, project_id: str, prefix: str) -> Page:
    registered = session.scalars(
        sa.select(RegisteredModel)
        .where(RegisteredModel.project_id == project_id)
        .order_by(RegisteredModel.name)
    ).all()
    counts = dict(
        session.execute(
            sa.select(ModelVersion.model_id, sa.func.count())
            .where(ModelVersion.project_id == project_id)
            .group_by(ModelVersion.model_id)
        ).all()
    )
    page = Page("Models", subtitle="Registered models; open one for its versions side by side.")
    page.add(
        table(
            "models",
            "Registered models",
            ["model", "versions", "description"],
            [
                [
                    link(m.name, f"{prefix}/models/{m.name}", f"model-{m.name}"),
                    counts.get(m.id, 0),
                    m.description,
                ]
                for m in registered
            ],
        )
    )
    return page


def model_detail(session: Session, project_id: str, prefix: str, name: str) -> Page | None:
    model = session.scalar(
        sa.select(RegisteredModel).where(
            RegisteredModel.project_id == project_id, RegisteredModel.name == name
        )
    )
    if model is None:
        return None
    versions = session.scalars(
        sa.select(ModelVersion)
        .where(ModelVersion.project_id == project_id, ModelVersion.model_id == model.id)
        .order_by(ModelVersion.version.desc())
        .limit(PAGE_SIZE)
    ).all()
    metric_names = sorted({k for v in versions for k, x in v.metrics.items() if _is_number(x)})[:8]
    page = Page(f"Model {model.name}", subtitle=model.description)
    page.add(
        table(
            "versions",
            "Versions (metrics side by side)",
            ["version", "flavor", "status", "run", "created", *metric_names],
            [
                [
                    v.version,
                    v.flavor,
                    status(v.status),
                    link(v.run_id[:8], f"{prefix}/runs/{v.run_id}") if v.run_id else None,
                    when(v.created_at),
                    *[_fmt(v.metrics.get(k)) for k in metric_names],
                ]
                for v in versions
            ],
        )
    )
    ordered = list(reversed(versions))
    page.add(
        chart(
            "metrics-by-version",
            "Offline metrics by version",
            [
                {
                    "name": k,
                    "x": [v.version for v in ordered if _is_number(v.metrics.get(k))],
                    "y": [v.metrics[k] for v in ordered if _is_number(v.metrics.get(k))],
                }
                for k in metric_names
            ],
        )
    )
    deployments = session.scalars(
        sa.select(Deployment).where(
            Deployment.project_id == project_id, Deployment.model_name == model.name
        )
    ).all()
    page.add(
        table(
            "model-deployments",
            "Deployments",
            ["deployment", "status"],
            [
                [
                    link(d.name, f"{prefix}/deployments?name={d.name}", f"deployment-{d.name}"),
                    status(d.status),
                ]
                for d in deployments
            ],
            empty="not deployed",
        )
    )
    page.add(
        table(
            "lineage-links",
            "Lineage",
            ["version", "trace"],
            [
                [
                    v.version,
                    link(
                        "lineage",
                        f"{prefix}/lineage?model={model.name}&version={v.version}",
                        f"lineage-{v.version}",
                    ),
                ]
                for v in versions[:10]
            ],
        )
    )
    return page


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fmt(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def deployments(session: Session, project_id: str, prefix: str, name: str) -> Page:
    rows = session.scalars(
        sa.select(Deployment).where(Deployment.project_id == project_id).order_by(Deployment.name)
    ).all()
    page = Page("Deployments", subtitle="Arms, traffic shares and rollout decisions.")
    page.add(
        table(
            "deployments",
            "Deployments",
            ["deployment", "model", "status", "policy"],
            [
                [
                    link(d.name, f"{prefix}/deployments?name={d.name}"),
                    d.model_name,
                    status(d.status),
                    _short(d.policy),
                ]
                for d in rows
            ],
        )
    )
    chosen = next((d for d in rows if d.name == name), None)
    if chosen is not None:
        page.add(json_block("policy", f"Routing policy of {chosen.name}", chosen.policy))
    return page


def monitoring(session: Session, project_id: str, prefix: str) -> Page:
    page = Page("Monitoring", subtitle="Quality, system health, data and drift over time.")
    alerts = session.scalars(
        sa.select(Alert)
        .where(Alert.project_id == project_id)
        .order_by(Alert.created_at.desc())
        .limit(PAGE_SIZE)
    ).all()
    by_day: dict[str, int] = defaultdict(int)
    for alert in alerts:
        by_day[alert.created_at.strftime("%Y-%m-%d")] += 1
    days = sorted(by_day)
    page.add(
        chart(
            "alerts-per-day",
            "Alerts per day",
            [{"name": "alerts", "x": days, "y": [by_day[d] for d in days]}],
            type="bar",
        )
    )
    page.add(alert_table(list(alerts), "alerts", "Alerts"))
    return page


def audit(session: Session, project_id: str, limit: int = 100) -> list[AuditEvent]:
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.project_id == project_id)
            .order_by(AuditEvent.created_at.desc())
            .limit(limit)
        )
    )
