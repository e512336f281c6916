"""`kibble monitor` (metrics over time; `run` monitors a deployment) and `kibble alerts`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from kibble.monitoring.points import Point

from kibble.cli.output import JsonOption, console, emit, print_json
from kibble.cli.state import state

alerts_app = typer.Typer(
    help=(
        "Alerts raised by rules, drift reports and the feedback-loop detector. "
        "Repeats of one problem share a fingerprint and stay one alert; alerts resolve "
        "by themselves when the condition clears. Notifications go to the channels in "
        "monitoring.channels (log, webhook, outbox)."
    ),
    no_args_is_help=True,
)


def _table(title: str, columns: list[tuple[str, bool]], rows: list[list[str]]) -> None:
    """A table whose ``wrap`` columns (messages, labels) share the width left over; the
    others (ids, names, sparklines) are never cut, so an id can be copied to `ack`."""
    from rich.table import Table

    widths = [
        max([len(name), *(len(row[i]) for row in rows)]) for i, (name, _) in enumerate(columns)
    ]
    fixed = sum(w for w, (_, wrap) in zip(widths, columns, strict=True) if not wrap)
    wrapped = sum(1 for _, wrap in columns if wrap) or 1
    room = console.width - fixed - (3 * len(columns) + 1)
    share = max(12, room // wrapped)
    table = Table(title=title, title_justify="left")
    for width, (name, wrap) in zip(widths, columns, strict=True):
        if wrap:
            table.add_column(name, overflow="fold", width=min(share, width))
        else:
            table.add_column(name, no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not rows:
        console.print("[dim](none)[/dim]")


def _series(points: list[Point]) -> list[dict[str, Any]]:
    from kibble.monitoring.points import labels_key

    grouped: dict[tuple[str, str], list[Point]] = {}
    for point in points:
        grouped.setdefault((point.name, labels_key(point.labels)), []).append(point)
    rows = []
    for (name, _), group in sorted(grouped.items()):
        group.sort(key=lambda p: p.window_start)
        values = [p.value for p in group]
        rows.append(
            {
                "name": name,
                "labels": group[0].labels,
                "last": values[-1],
                "min": min(values),
                "max": max(values),
                "points": [
                    {"window_start": p.window_start, "window_end": p.window_end, "value": p.value}
                    for p in group
                ],
            }
        )
    return rows


monitor_app = typer.Typer(
    help=(
        "Metrics over time (`kibble monitor --since 7d`), and `kibble monitor run`, which "
        "monitors a live deployment from its request log and feedback."
    ),
    invoke_without_command=True,
)


@monitor_app.callback()
def monitor(
    ctx: typer.Context,
    deployment: str | None = typer.Option(
        None, "--deployment", "-d", help="only series labelled with this deployment"
    ),
    since: str = typer.Option("7d", "--since", help="how far back: 30m, 12h, 7d, 2w"),
    metric: str | None = typer.Option(
        None, "--metric", "-m", help="metric name prefix, e.g. 'model.' or 'system.latency'"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Metrics over time: one row per series with its last value and a sparkline.

    Series come from the data, model and system calculators, drift reports and the
    feedback-loop detector (names start with data., model., system., drift.,
    feedback_loop.). Example: `kibble monitor --deployment home --since 14d -m model.`
    """
    if ctx.invoked_subcommand is not None:
        return
    from kibble.monitoring.sparkline import sparkline
    from kibble.monitoring.store import query_metrics

    context = state(ctx).context()
    labels = {"deployment": deployment} if deployment else None
    rows = _series(query_metrics(context, None, since, labels, prefix=metric))
    if as_json:
        print_json(rows)
        return
    title = f"metrics since {since}" + (f" for {deployment}" if deployment else "")
    spark_width = max(8, min(30, console.width - 75))
    _table(
        title,
        [("metric", False), ("labels", True), ("last", False), ("range", False), ("trend", False)],
        [
            [
                row["name"],
                ", ".join(f"{k}={v}" for k, v in sorted(row["labels"].items())),
                f"{row['last']:.4g}",
                f"{row['min']:.3g}..{row['max']:.3g}",
                sparkline([p["value"] for p in row["points"]], width=spark_width),
            ]
            for row in rows
        ],
    )


@monitor_app.command("run")
def run(
    ctx: typer.Context,
    deployment: str = typer.Option(
        ..., "--deployment", "-d", help="the deployment (`kibble serve --deployment`)"
    ),
    since: str = typer.Option(
        "1d", "--since", help="how far back: 1d, 7d (whole UTC days are recomputed)"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Monitor a live deployment now: per-arm CTR, conversion, coverage and exposure Gini
    from the request log and feedback, p50/p99 latency and error rate, input and
    prediction drift, the feedback-loop and narrowing checks, and the alert rules in
    force (the applied factory's `alerts`, else the defaults). Schedule it with a
    factory pipeline whose entrypoint is `kibble.steps.monitor:monitoring`."""
    from kibble.monitoring.deployment import monitor_deployment

    report = monitor_deployment(state(ctx).context(), deployment, since=since)
    data = report.as_dict()
    if as_json:
        print_json(data)
        return
    console.print(
        f"monitored [bold]{deployment}[/bold] {data['start'][:10]}..{data['end'][:16]}: "
        f"{report.points} points; rules from {report.rules}",
        highlight=False,
    )
    for label, verdict in (("feedback loop", report.loop), ("narrowing", report.narrowing)):
        if verdict is not None:
            console.print(f"{label}: {verdict.reason}", highlight=False)
    for drift, name in ((report.drift, "input"), (report.prediction_drift, "prediction")):
        if drift is not None:
            console.print(f"{name} drift: {', '.join(drift.drifted) or 'none'}", highlight=False)
    for note in report.notes:
        console.print(f"[dim]note: {note}[/dim]", highlight=False)
    _table(
        "alerts",
        [("action", False), ("kind", False), ("id", False), ("message", True)],
        [[a["action"], a["kind"], a["id"][:12], a["message"]] for a in data["alerts"]],
    )


@alerts_app.command("list")
def list_(
    ctx: typer.Context,
    show_all: bool = typer.Option(False, "--all", "-a", help="include resolved alerts"),
    kind: str | None = typer.Option(
        None, "--kind", help="only this kind, e.g. data_late, drift, feedback_loop"
    ),
    limit: int = typer.Option(100, min=1, max=10_000),
    as_json: bool = JsonOption,
) -> None:
    """Active alerts (open or acknowledged), newest first; --all adds resolved ones."""
    from kibble.monitoring.alerts import ACTIVE, list_alerts

    context = state(ctx).context()
    rows = list_alerts(context, None if show_all else ACTIVE, kind=kind, limit=limit)
    if as_json:
        print_json(rows)
        return
    _table(
        "alerts",
        [
            ("id", False),
            ("kind", False),
            ("severity", False),
            ("status", False),
            ("seen", False),
            ("message", True),
        ],
        [
            [
                a["id"][:12],
                a["kind"],
                a["severity"],
                a["status"],
                str(a["occurrences"]),
                a["message"],
            ]
            for a in rows
        ],
    )


@alerts_app.command("show")
def show(
    ctx: typer.Context,
    alert_id: str = typer.Argument(..., help="the alert id, or the first 12 characters"),
    as_json: bool = JsonOption,
) -> None:
    """One alert with its evidence (the numbers behind it) and its history: raised,
    repeated, escalated, acked, notify_failed, resolved."""
    from kibble.monitoring.alerts import get_alert

    data = get_alert(state(ctx).context(), alert_id)
    if as_json:
        print_json(data)
        return
    console.print(
        f"[bold]{data['kind']}[/bold] {data['severity']} {data['status']} "
        f"(seen {data['occurrences']}x)  {data['id']}"
    )
    console.print(data["message"], highlight=False)
    console.print_json(data=data["evidence"])
    _table(
        "history",
        [("at", False), ("action", False), ("actor", False)],
        [[h["at"][:19], h["action"], h["actor"]] for h in data["history"]],
    )


@alerts_app.command("ack")
def ack(
    ctx: typer.Context,
    alert_id: str = typer.Argument(
        ..., help="the alert id, or the first 12 characters shown by `kibble alerts list`"
    ),
    note: str = typer.Option("", "--note", help="what you are doing about it (audited)"),
    as_json: bool = JsonOption,
) -> None:
    """Acknowledge an alert: it stays active until its condition clears, but shows that
    someone owns it. Recorded in the audit trail."""
    from kibble.monitoring.alerts import ack_alert

    data = ack_alert(state(ctx).context(), alert_id, note)
    if as_json:
        print_json(data)
    else:
        console.print(f"acknowledged {data['id']} ({data['kind']}): {data['message']}")


@alerts_app.command("evaluate")
def evaluate(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Evaluate the rules in force on stored metrics now: the applied factory's `alerts`
    (the defaults when it declares none). Raises what breaches, resolves what cleared;
    `kibble monitor run` does the same after recording a deployment's metrics."""
    from kibble.monitoring.alerts import evaluate_rules_in_force

    done = evaluate_rules_in_force(state(ctx).context())
    rows = [
        {
            "rule": result.rule.name,
            "labels": result.labels,
            "value": result.value,
            "firing": result.firing,
            "action": outcome.action if outcome else "",
            "alert_id": outcome.alert["id"] if outcome else "",
        }
        for result, outcome in done.results
    ]
    rows += [
        {
            "rule": outcome.alert["evidence"].get("rule", ""),
            "labels": outcome.alert["evidence"].get("labels", {}),
            "value": None,
            "firing": False,
            "action": "retired",
            "alert_id": outcome.alert["id"],
        }
        for outcome in done.retired
    ]
    rows += [
        {
            "rule": rule.name,
            "labels": {},
            "value": None,
            "firing": False,
            "action": f"no {rule.metric} points",
            "alert_id": "",
        }
        for rule in done.idle
    ]
    emit(
        rows,
        as_json,
        f"rule evaluation ({done.source})",
        ["rule", "labels", "value", "firing", "action"],
        ["rule", "labels", "value", "firing", "action"],
    )
