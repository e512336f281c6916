"""One function per page: read the store for the signed-in project, return a ``Page``.

Every query is filtered by ``project_id``; pages paginate so a year of daily runs or
fifty model versions stays fast.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.store.models import (
    Alert,
    AliasHistory,
    AuditEvent,
    Dataset,
    Deployment,
    GateReportRecord,
    MetricPoint,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    Run,
    StepRun,
    TableVersion,
)
from kibble.store.repositories.pipelines import RunRecords
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
LOG_LINES = 200
METRIC_CHARTS = 24
METRIC_COLUMNS = 8
METRIC_WINDOW = timedelta(days=90)
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
    layers = dag_layers(list(steps), edges)
    page.add({"kind": "dag", "id": "dag", "title": "Steps", "layers": layers})
    order = {node["name"]: i for i, node in enumerate(n for layer in layers for n in layer)}
    steps = sorted(steps, key=lambda s: order[s.name])  # pipeline order, not-started too
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
                    short(s.inputs),
                    short(s.outputs),
                    s.error,
                ]
                for s in steps
            ],
        )
    )
    outputs = [
        (s.name, s.outputs["value"]["digest"])
        for s in steps
        if isinstance(s.outputs.get("value"), dict) and s.outputs["value"].get("digest")
    ]
    page.add(
        table(
            "run-outputs",
            "Outputs",
            ["step", "artifact", "trace"],
            [
                [
                    name,
                    digest,
                    link("lineage", f"{prefix}/lineage?target={digest}", f"trace-{name}"),
                ]
                for name, digest in outputs
            ],
            empty="no stored outputs",
        )
    )
    logs = RunRecords(session, project_id).logs(run.id)[-LOG_LINES:]
    page.add(
        table(
            "logs",
            "Logs",
            ["at", "step", "level", "message"],
            [[when(line.logged_at), line.step, line.level, line.message] for line in logs],
            empty="no log lines",
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
                            f"{prefix}/models/{quote(names.get(m.model_id, ''))}",
                            f"model-link-{names.get(m.model_id, '')}-{m.version}",
                        ),
                        m.version,
                    ]
                    for m in models
                ],
            )
        )
    return page


def short(data: Any, limit: int = 160) -> str:
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
    flat = {v.id: _numeric_metrics(v.metrics) for v in versions}
    metric_names = sorted({k for v in versions for k in flat[v.id]})[:METRIC_COLUMNS]
    numbers = dict(
        session.execute(
            sa.select(ModelVersion.id, ModelVersion.version).where(
                ModelVersion.project_id == project_id, ModelVersion.model_id == model.id
            )
        ).all()
    )
    aliases = session.scalars(
        sa.select(ModelAlias)
        .where(ModelAlias.project_id == project_id, ModelAlias.model_id == model.id)
        .order_by(ModelAlias.alias)
    ).all()
    alias_of: dict[int, list[str]] = defaultdict(list)
    for a in aliases:
        alias_of[numbers.get(a.version_id, -1)].append(a.alias)
    page = Page(f"Model {model.name}", subtitle=model.description)
    page.add(
        table(
            "aliases",
            "Aliases",
            ["alias", "version"],
            [[a.alias, _version_label(numbers.get(a.version_id))] for a in aliases],
            empty="no aliases set",
        )
    )
    page.add(
        table(
            "versions",
            "Versions (metrics side by side)",
            ["version", "aliases", "flavor", "status", "run", "created", *metric_names],
            [
                [
                    v.version,
                    ", ".join(alias_of.get(v.version, [])) or None,
                    v.flavor,
                    status(v.status),
                    link(v.run_id[:8], f"{prefix}/runs/{v.run_id}") if v.run_id else None,
                    when(v.created_at),
                    *[_fmt(flat[v.id].get(k)) for k in metric_names],
                ]
                for v in versions
            ],
        )
    )
    for section in _metric_charts(list(reversed(versions)), flat, metric_names):
        page.add(section)
    history = session.scalars(
        sa.select(AliasHistory)
        .where(AliasHistory.project_id == project_id, AliasHistory.model_id == model.id)
        .order_by(AliasHistory.created_at.desc(), AliasHistory.id)
        .limit(PAGE_SIZE)
    ).all()
    page.add(
        table(
            "alias-history",
            "Alias history",
            ["when", "alias", "from", "to", "by", "why", "gate report"],
            [
                [
                    when(h.created_at),
                    h.alias,
                    _version_label(numbers.get(h.from_version_id or "")),
                    _version_label(numbers.get(h.to_version_id or "")),
                    h.actor,
                    h.reason,
                    h.gate_report_id[:8] if h.gate_report_id else None,
                ]
                for h in history
            ],
            empty="no alias moves yet",
        )
    )
    reports = session.scalars(
        sa.select(GateReportRecord)
        .where(
            GateReportRecord.project_id == project_id,
            GateReportRecord.version_id.in_(list(numbers)),
        )
        .order_by(GateReportRecord.created_at.desc())
        .limit(PAGE_SIZE)
    ).all()
    page.add(
        table(
            "gate-reports",
            "Gate reports",
            ["report", "version", "passed", "when", "checks"],
            [
                [
                    r.id[:8],
                    _version_label(numbers.get(r.version_id)),
                    status("passed" if r.passed else "failed"),
                    when(r.created_at),
                    _gate_summary(r.report),
                ]
                for r in reports
            ],
            empty="no gate reports",
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
                    link(
                        d.name,
                        f"{prefix}/deployments?name={quote(d.name)}",
                        f"deployment-{d.name}",
                    ),
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


def _version_label(version: int | None) -> str | None:
    return None if version is None else f"v{version}"


def _gate_summary(report: dict[str, Any]) -> str:
    """``name: passed`` per check when the report lists checks, else the report, short."""
    checks = report.get("checks")
    if isinstance(checks, list) and all(isinstance(c, dict) for c in checks):
        return short(
            "; ".join(
                f"{c.get('name', '?')}: {'pass' if c.get('passed') else 'FAIL'}" for c in checks
            ),
            240,
        )
    return short(report, 240)


def _numeric_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Numbers of a version's metrics, one nested level flattened (``ab.ctr_diff``), so
    what an A/B or an evaluation stored as a group compares side by side too."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if _is_number(value):
            out[key] = value
        elif isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items() if _is_number(v)})
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _metric_charts(
    ordered: list[ModelVersion], flat: dict[str, dict[str, float]], names: list[str]
) -> list[dict[str, Any]]:
    """Metrics by version, one chart per unit: rates (every value within -1..1: CTR, NDCG,
    recall) apart from counts (interactions, impressions); versions in order on x, as
    labels; a unit with no values gets no chart."""
    labels = [f"v{v.version}" for v in ordered]
    rates = [k for k in names if all(-1 <= flat[v.id][k] <= 1 for v in ordered if k in flat[v.id])]
    charts = []
    for section_id, title, keys, axis in (
        ("metrics-by-version", "Rates by version", rates, "rate (a difference: -1..1)"),
        ("counts-by-version", "Counts by version", [k for k in names if k not in rates], "count"),
    ):
        series = [
            {
                "name": k,
                "x": [f"v{v.version}" for v in ordered if k in flat[v.id]],
                "y": [flat[v.id][k] for v in ordered if k in flat[v.id]],
            }
            for k in keys
        ]
        if series:
            charts.append(
                chart(
                    section_id,
                    title,
                    series,
                    xaxis={
                        "type": "category",
                        "categoryorder": "array",
                        "categoryarray": labels,
                        "title": {"text": "version"},
                    },
                    yaxis={"title": {"text": axis}},
                )
            )
    return charts


def _fmt(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def metric_chart(
    session: Session, project_id: str, section_id: str, deployment: str
) -> dict[str, Any]:
    """The metric series labelled with one deployment (CTR per arm, latency...)."""
    return chart(
        section_id,
        f"Metrics of {deployment}",
        _metric_series(session, project_id, MetricPoint.deployment == deployment),
    )


def _metric_series(
    session: Session, project_id: str, *where: sa.ColumnElement[bool]
) -> list[dict[str, Any]]:
    """One series per (metric, labels) over the last ``METRIC_WINDOW`` of recorded data
    (the newest point, not the clock, ends the window: simulated days may lie ahead)."""
    scope = [MetricPoint.project_id == project_id, *where]
    latest = session.scalar(sa.select(sa.func.max(MetricPoint.window_start)).where(*scope))
    series: dict[str, dict[str, Any]] = {}
    if latest is None:
        return []
    points = session.execute(  # columns, not ORM objects: a year of points stays cheap
        sa.select(MetricPoint.name, MetricPoint.labels, MetricPoint.window_start, MetricPoint.value)
        .where(*scope, MetricPoint.window_start >= latest - METRIC_WINDOW)
        .order_by(MetricPoint.name, MetricPoint.labels_key, MetricPoint.window_start)
    ).all()
    for name, point_labels, start, value in points:
        labels = ",".join(f"{k}={v}" for k, v in sorted(point_labels.items()))
        key = f"{name}{{{labels}}}" if labels else name
        if key not in series and len(series) >= METRIC_CHARTS:
            continue
        entry = series.setdefault(key, {"name": key, "x": [], "y": []})
        entry["x"].append(start.isoformat())
        entry["y"].append(round(value, 6))
    return list(series.values())


def monitoring(session: Session, project_id: str, prefix: str, family: str = "") -> Page:
    """One chart per metric of one family (``model``, ``serving``, ``drift``...), each line a
    label set; families are listed to switch between them. Alerts below."""
    page = Page("Monitoring", subtitle="Quality, system health, data and drift over time.")
    names = session.scalars(
        sa.select(MetricPoint.name)
        .where(MetricPoint.project_id == project_id)
        .distinct()
        .order_by(MetricPoint.name)
    ).all()
    families: dict[str, list[str]] = defaultdict(list)
    for name in names:
        families[name.split(".")[0]].append(name)
    chosen = family if family in families else ("model" if "model" in families else "")
    chosen = chosen or next(iter(sorted(families)), "")
    page.add(
        table(
            "metric-families",
            "Metric families",
            ["family", "metrics", ""],
            [
                [
                    link(f, f"{prefix}/monitoring?family={quote(f)}", f"family-{_slug(f)}"),
                    len(members),
                    "shown" if f == chosen else None,
                ]
                for f, members in sorted(families.items())
            ],
            empty="no metrics recorded yet",
        )
    )
    if not families:
        page.add(chart("metrics", "Metrics over time", []))
    for name in families.get(chosen, [])[:METRIC_CHARTS]:
        page.add(
            chart(
                f"metric-{_slug(name)}",
                name,
                _metric_series(session, project_id, MetricPoint.name == name),
            )
        )
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
            xaxis={"type": "category"},
        )
    )
    page.add(alert_table(list(alerts), "alerts", "Alerts"))
    return page


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "x"


def audit(session: Session, project_id: str, limit: int = 100) -> list[AuditEvent]:
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.project_id == project_id)
            .order_by(AuditEvent.created_at.desc())
            .limit(limit)
        )
    )
