"""The Lineage and Explain pages: from a model, an artifact or a served request back to the
data and parameters it came from, and forward to what it fed.

The walk itself is ``kibble.lineage`` (the same trees `kibble lineage` prints); this module
only lays the trees out as tables and as an interactive Plotly graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.context import Context
from kibble.errors import KibbleError, NotFoundError
from kibble.lineage import downstream, upstream
from kibble.store.models import (
    Deployment,
    FeedbackEvent,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
    Run,
    ServedRequest,
)
from kibble.store.repositories.serving import ServedRequests
from kibble.ui.views import Page, cards, chart, json_block, link, table, when

RECENT = 20
BECAUSE = re.compile(r"because of (\S+?)(?=[ ,;]|$)")
"""An item a reason names ("because of 49618 (62%)"): shown by its title when known."""


def _short_digest(digest: str | None) -> str:
    return (digest or "")[7:19] if (digest or "").startswith("sha256:") else (digest or "")


def _target_of(q: dict[str, str]) -> str:
    if q.get("target"):
        return q["target"].strip()
    if q.get("model"):
        version = q.get("version", "").strip()
        return f"model:{q['model'].strip()}" + (f":{version}" if version.isdigit() else "")
    return ""


KIND_COLOURS = {
    "table": "#2b7bb9",
    "run": "#7a5195",
    "version": "#ef5675",
    "deployment": "#ffa600",
    "request": "#58a55c",
    "artifact": "#888888",
}


def _kind_of(label: str, hover: str) -> str:
    """What a node is, from how it is labelled: tables, runs, versions, deployments."""
    if hover == "table":
        return "table"
    first = label.split(" ", 1)[0]
    if first in ("run", "deployment", "request"):
        return first
    return "version" if " v" in label else "artifact"


@dataclass
class _Graph:
    """A left-to-right graph: what the target was made from on the left, what was derived
    from it on the right, each node labelled and coloured by kind, edges as arrows."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)
    per_column: dict[int, int] = field(default_factory=dict)

    def add(self, label: str, column: int, hover: str) -> int:
        row = self.per_column.get(column, 0)
        self.per_column[column] = row + 1
        kind = _kind_of(label, hover)
        text = label if kind in ("run", "deployment", "request") else f"{kind} {label}"
        self.nodes.append({"label": text, "x": column, "y": -row, "hover": hover, "kind": kind})
        return len(self.nodes) - 1

    def section(self, title: str) -> dict[str, Any]:
        arrows = [
            {
                "x": self.nodes[b]["x"],
                "y": self.nodes[b]["y"],
                "ax": self.nodes[a]["x"],
                "ay": self.nodes[a]["y"],
                "xref": "x",
                "yref": "y",
                "axref": "x",
                "ayref": "y",
                "showarrow": True,
                "arrowhead": 2,
                "arrowcolor": "#999",
                "standoff": 9,
                "startstandoff": 9,
                "text": "",
            }
            for a, b in self.edges
        ]
        kinds = sorted({n["kind"] for n in self.nodes}, key=list(KIND_COLOURS).index)
        traces = [
            {
                "x": [n["x"] for n in self.nodes if n["kind"] == kind],
                "y": [n["y"] for n in self.nodes if n["kind"] == kind],
                "text": [n["label"] for n in self.nodes if n["kind"] == kind],
                "hovertext": [n["hover"] for n in self.nodes if n["kind"] == kind],
                "hoverinfo": "text",
                "mode": "markers+text",
                "textposition": "top center",
                "type": "scatter",
                "name": kind,
                "marker": {"size": 14, "color": KIND_COLOURS[kind]},
            }
            for kind in kinds
        ]
        columns = [n["x"] for n in self.nodes] or [0]
        rows = [n["y"] for n in self.nodes] or [0]
        return chart(
            "lineage-graph",
            title,
            [
                {
                    "name": "node (column: <0 made from, >0 derived)",
                    "x": [n["label"] for n in self.nodes],
                    "y": [n["x"] for n in self.nodes],
                }
            ],
            type="graph",
            traces=traces,
            annotations=arrows,
            xaxis={
                "title": {"text": "made from  →  target  →  derived"},
                "range": [min(columns) - 0.7, max(columns) + 0.7],
                "showticklabels": False,
                "showgrid": False,
                "zeroline": False,
            },
            yaxis={"visible": False, "range": [min(rows) - 0.7, max(rows) + 0.7]},
        )


def _walk_up(
    node: dict[str, Any],
    depth: int,
    graph: _Graph,
    me: int,
    rows: list[list[Any]],
    tables: dict[tuple[str, Any], None],
    prefix: str,
) -> None:
    made = node.get("made_by")
    if not made:
        return
    rows.append(
        [
            depth,
            node.get("name") or _short_digest(node.get("digest")),
            link(made["run_id"][:8], f"{prefix}/runs/{made['run_id']}", f"lineage-run-{depth}"),
            made.get("pipeline"),
            made.get("step"),
            "yes" if made.get("cached") else "no",
            ", ".join(f"{k}={v}" for k, v in (made.get("params") or {}).items()) or None,
        ]
    )
    for item in made.get("inputs", []):
        if item.get("kind") == "table":
            key = (item["name"], item.get("version"))
            tables[key] = None
            child = graph.add(f"{item['name']} v{item.get('version')}", -(depth + 1), "table")
            graph.edges.append((child, me))
        else:
            label = item.get("name") or _short_digest(item.get("digest"))
            child = graph.add(label, -(depth + 1), item.get("digest") or "")
            graph.edges.append((child, me))
            _walk_up(item, depth + 1, graph, child, rows, tables, prefix)


def _walk_down(
    node: dict[str, Any],
    depth: int,
    graph: _Graph,
    me: int,
    rows: list[list[Any]],
    prefix: str,
) -> None:
    for use in node.get("used_by", []):
        outputs = use.get("outputs", [])
        rows.append(
            [
                depth,
                link(use["run_id"][:8], f"{prefix}/runs/{use['run_id']}"),
                use.get("step"),
                use.get("argument"),
                ", ".join(_short_digest(o.get("digest")) for o in outputs) or None,
            ]
        )
        for out in outputs:
            child = graph.add(
                f"{use.get('step')}: {_short_digest(out.get('digest'))}",
                depth,
                out.get("digest") or "",
            )
            graph.edges.append((me, child))
            _walk_down(out, depth + 1, graph, child, rows, prefix)


def lineage(ctx: Context, session: Session, prefix: str, q: dict[str, str]) -> Page:
    """Upstream and downstream of a model version or an artifact, or a list to pick from."""
    target = _target_of(q)
    page = Page("Lineage", subtitle="Where a model or artifact came from, and what it fed.")
    page.add(
        {
            "kind": "search",
            "id": "lineage-search",
            "name": "target",
            "value": target,
            "placeholder": "model NAME[:VERSION] or sha256:... digest",
            "button": "trace",
        }
    )
    if not target:
        return _lineage_index(session, ctx.project_id, prefix, page)
    up = upstream(ctx, target)
    down = downstream(ctx, target)
    if up.get("kind") == "model":
        label = f"{up['model']} v{up['version']}"
        page.subtitle = f"Model {label} ({_short_digest(up.get('digest'))})"
        if up.get("request"):
            page.subtitle = f"Request {up['request']['request_id']}, answered by {page.subtitle}"
    else:
        label = up.get("name") or _short_digest(up.get("digest"))
        page.subtitle = f"Artifact {up.get('digest')}"
    graph = _Graph()
    root = graph.add(label, 0, up.get("digest") or "")
    rows: list[list[Any]] = []
    tables: dict[tuple[str, Any], None] = {}
    _walk_up(up, 0, graph, root, rows, tables, prefix)
    if up.get("kind") == "model" and not rows and up.get("run_id"):
        _registered_by(session, ctx.project_id, up, graph, root, rows, prefix)
    recorded = _recorded_lineage(session, ctx.project_id, up)
    for name, version in (recorded.get("tables") or {}).items():
        if (name, version) not in tables:
            tables[(name, version)] = None
            graph.edges.append((graph.add(f"{name} v{version}", -1, "table"), root))
    used: list[list[Any]] = []
    _walk_down(down, 1, graph, root, used, prefix)
    serving = _serving(session, ctx.project_id, up, graph, root, prefix)
    if up.get("request"):
        _request(page, up["request"], graph, root, prefix)
    page.add(graph.section(f"Lineage of {label}"))
    page.add(
        table(
            "lineage-tables",
            "Table versions it came from",
            ["table", "version"],
            [[link(name, f"{prefix}/data?table={quote(name)}"), v] for name, v in tables],
            empty="no table versions recorded upstream",
        )
    )
    made = up.get("made_by") or {}
    page.add(
        json_block(
            "lineage-params",
            "Parameters",
            {
                "model": up.get("params") if up.get("kind") == "model" else None,
                "recorded": {k: v for k, v in recorded.items() if k != "tables"} or None,
                "run": made.get("params"),
                "step": made.get("step_params"),
                "code": made.get("code_version"),
            },
        )
    )
    page.add(
        table(
            "lineage-upstream",
            "Made from",
            ["depth", "artifact", "run", "pipeline", "step", "cached", "run parameters"],
            rows,
            empty="no recorded run made this (registered or uploaded by hand)",
        )
    )
    page.add(
        table(
            "lineage-downstream",
            "What it fed",
            ["depth", "run", "step", "as argument", "outputs"],
            used,
            empty="nothing has used it yet",
        )
    )
    if up.get("kind") == "model":
        page.add(
            table(
                "lineage-deployments",
                "Deployments serving it",
                ["deployment", "traffic share"],
                serving,
                empty="no deployment routes traffic to this version",
            )
        )
    return page


def _request(page: Page, served: dict[str, Any], graph: _Graph, root: int, prefix: str) -> None:
    """The served request the trace started from: the model's answer to one customer."""
    node = graph.add(f"request {served['request_id'][:12]}", 1, f"user {served['user_id']}")
    graph.edges.append((root, node))
    href = f"{prefix}/explain?{urlencode({'request': served['request_id']})}"
    page.add(
        table(
            "lineage-request",
            "The request",
            ["request", "user", "arm", "chance", "served", "items"],
            [
                [
                    link(served["request_id"], href, "lineage-request-link"),
                    served["user_id"],
                    served["arm"],
                    round(served["probability"], 4),
                    served["ts"][:19],
                    len(served["items"]),
                ]
            ],
        )
    )


def _registered_by(
    session: Session,
    project_id: str,
    up: dict[str, Any],
    graph: _Graph,
    root: int,
    rows: list[list[Any]],
    prefix: str,
) -> None:
    """The run that registered a model version whose artifact no step recorded."""
    run = session.scalar(sa.select(Run).where(Run.project_id == project_id, Run.id == up["run_id"]))
    if run is None:
        return
    rows.append(
        [
            0,
            _short_digest(up.get("digest")),
            link(run.id[:8], f"{prefix}/runs/{run.id}", "lineage-registered-by"),
            run.pipeline,
            "registered this version",
            "no",
            ", ".join(f"{k}={v}" for k, v in run.params.items()) or None,
        ]
    )
    graph.edges.append((graph.add(f"run {run.id[:8]}", -1, run.pipeline), root))


def _serving(
    session: Session, project_id: str, up: dict[str, Any], graph: _Graph, root: int, prefix: str
) -> list[list[Any]]:
    """Deployments whose recorded split gives this model version traffic (forward)."""
    if up.get("kind") != "model":
        return []
    label = f"{up['model']}:{up['version']}"
    rows = []
    for d in session.scalars(
        sa.select(Deployment)
        .where(Deployment.project_id == project_id, Deployment.model_name == up["model"])
        .order_by(Deployment.name)
    ):
        share = (d.policy.get("arms") or {}).get(label)
        if not share:
            continue
        rows.append(
            [
                link(d.name, f"{prefix}/deployments?name={quote(d.name)}", f"serving-{d.name}"),
                f"{100 * share:.1f}%",
            ]
        )
        graph.edges.append((root, graph.add(f"deployment {d.name}", 1, f"{100 * share:.1f}%")))
    return rows


def _recorded_lineage(session: Session, project_id: str, root: dict[str, Any]) -> dict[str, Any]:
    """What the registry stored with a model version (table versions, the day...), for
    versions registered outside a recorded pipeline run."""
    if root.get("kind") != "model":
        return {}
    lineage = session.scalar(
        sa.select(ModelVersion.lineage)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(
            RegisteredModel.project_id == project_id,
            RegisteredModel.name == root["model"],
            ModelVersion.version == root["version"],
        )
    )
    return lineage if isinstance(lineage, dict) else {}


def _lineage_index(session: Session, project_id: str, prefix: str, page: Page) -> Page:
    latest = session.execute(
        sa.select(RegisteredModel.name, sa.func.max(ModelVersion.version))
        .join(ModelVersion, ModelVersion.model_id == RegisteredModel.id)
        .where(RegisteredModel.project_id == project_id)
        .group_by(RegisteredModel.name)
        .order_by(RegisteredModel.name)
    ).all()
    page.add(
        table(
            "lineage-models",
            "Models",
            ["model", "latest version"],
            [
                [
                    link(name, f"{prefix}/lineage?model={quote(name)}&version={v}"),
                    v,
                ]
                for name, v in latest
            ],
            empty="no registered models",
        )
    )
    outputs = session.scalars(
        sa.select(LineageEdge)
        .where(
            LineageEdge.project_id == project_id,
            LineageEdge.direction == "out",
            LineageEdge.digest.is_not(None),
        )
        .order_by(LineageEdge.created_at.desc())
        .limit(RECENT)
    ).all()
    page.add(
        table(
            "lineage-artifacts",
            "Recent step outputs",
            ["output", "step", "run", "digest"],
            [
                [
                    link(e.name or "output", f"{prefix}/lineage?target={e.digest}"),
                    e.step,
                    link(e.run_id[:8], f"{prefix}/runs/{e.run_id}"),
                    _short_digest(e.digest),
                ]
                for e in outputs
            ],
            empty="no recorded step outputs",
        )
    )
    return page


def item_titles(ctx: Context, ids: list[str]) -> dict[str, str]:
    """Product titles for item ids, from the project's ``products`` table when it has one
    with a ``title`` column (the K9s shop does); {} otherwise, so ids still show."""
    from kibble.data.tables import Tables

    tables = Tables(ctx)
    try:
        if not ids or not tables.lake.exists("products"):
            return {}
        frame = tables.polars("products", columns=["item_id", "title"])
    except KibbleError:
        return {}
    wanted = frame.filter(pl.col("item_id").cast(pl.String).is_in(ids))
    return {str(i): str(t) for i, t in wanted.iter_rows() if t}


def explain(
    session: Session,
    project_id: str,
    prefix: str,
    request_id: str,
    titles: Callable[[list[str]], dict[str, str]] | None = None,
) -> Page:
    """What was served for one request, by which deployment, arm and version, and the
    feedback it got; without an id, the latest requests to pick from."""
    page = Page("Explain", subtitle="Enter a request id: what was served, by which version, why.")
    page.add(
        {
            "kind": "search",
            "id": "explain-search",
            "name": "request",
            "value": request_id,
            "placeholder": "request id",
            "button": "explain",
        }
    )
    if not request_id.strip():
        recent = session.scalars(
            sa.select(ServedRequest)
            .where(ServedRequest.project_id == project_id)
            .order_by(ServedRequest.ts.desc())
            .limit(RECENT)
        ).all()
        page.add(
            table(
                "served",
                "Latest served requests",
                ["request", "deployment", "arm", "user", "served"],
                [
                    [
                        link(r.request_id, f"{prefix}/explain?request={quote(r.request_id)}"),
                        r.deployment,
                        r.arm,
                        r.user_id,
                        when(r.ts),
                    ]
                    for r in recent
                ],
                empty="no served requests recorded",
            )
        )
        return page
    try:
        row = ServedRequests(session, project_id).get(request_id.strip())
    except NotFoundError as exc:
        page.add(table("explained", "Not found", ["why"], [[str(exc)]]))
        return page
    page.add(
        cards(
            "explained",
            [
                ("deployment", "deployment", link(row.deployment, _deployment_href(prefix, row))),
                ("arm", "arm", row.arm),
                ("model_version", "model version", row.model_version),
                ("probability", "chance of this arm", round(row.probability, 4)),
                ("served", "served at", when(row.ts)),
            ],
        )
    )
    feedback = session.scalars(
        sa.select(FeedbackEvent)
        .where(FeedbackEvent.project_id == project_id, FeedbackEvent.request_id == row.request_id)
        .order_by(FeedbackEvent.ts)
    ).all()
    shown = [_item(item) for item in row.items]
    mentioned = {str(i[0]) for i in shown} | {f.item_id for f in feedback}
    for cells in shown:
        mentioned |= set(BECAUSE.findall(str(cells[2] or "")))
    named = titles(sorted(mentioned)) if titles else {}

    def name(item_id: Any) -> Any:
        title = named.get(str(item_id))
        return f"{title} ({item_id})" if title else item_id

    page.add(
        table(
            "served-items",
            f"What user {row.user_id} saw, and why",
            ["rank", "item", "score", "because", "source"],
            [
                [
                    i + 1,
                    name(item),
                    score,
                    BECAUSE.sub(lambda m: f"because of {name(m.group(1))}", why) if why else why,
                    source,
                ]
                for i, (item, score, why, source) in enumerate(shown)
            ],
        )
    )
    page.add(
        table(
            "served-feedback",
            "What the user did",
            ["event", "item", "at"],
            [[f.event_type, name(f.item_id), when(f.ts)] for f in feedback],
            empty="no feedback for this request",
        )
    )
    page.add(
        table(
            "explain-lineage",
            "Lineage",
            ["answered by", "trace"],
            [
                [
                    row.model_version,
                    link(
                        "from this request back to the data",
                        f"{prefix}/lineage?{urlencode({'target': f'request:{row.request_id}'})}",
                        "explain-lineage-link",
                    ),
                ]
            ],
        )
    )
    return page


def _deployment_href(prefix: str, row: ServedRequest) -> str:
    return f"{prefix}/deployments?name={quote(row.deployment)}"


def _item(item: Any) -> list[Any]:
    """Item, score, reasons and source of one served item (a bare id has only the id)."""
    if not isinstance(item, dict):
        return [item, None, None, None]
    score = item.get("score")
    return [
        item.get("item_id") or item.get("item"),
        round(score, 4) if isinstance(score, int | float) else None,
        "; ".join(str(r) for r in item.get("reasons") or []) or None,
        item.get("source") or None,
    ]
