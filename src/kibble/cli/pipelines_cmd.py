"""`kibble run`, `kibble runs ...`, `kibble lineage`, `kibble schedules ...`, `kibble scheduler`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from kibble.pipelines.runner import RunResult
    from kibble.store.models import Run, StepRun

from kibble.cli.output import JsonOption, console, emit, print_json, print_table
from kibble.cli.state import state
from kibble.errors import UsageError

runs_app = typer.Typer(help="Inspect pipeline runs: list, show, logs, compare, release.")
schedules_app = typer.Typer(help="Cron schedules and data triggers that start pipelines.")

ParamOption = typer.Option(
    None, "--param", "-P", help="pipeline parameter KEY=VALUE (VALUE parsed as JSON if it can be)"
)
ExecutorOption = typer.Option(None, "--executor", help="local (default), process or ray")


def parse_params(items: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {item!r} is not KEY=VALUE", hint="e.g. --param factors=64")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def _result_dict(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "pipeline": result.pipeline,
        "status": result.status,
        "error": result.error,
        "held_reasons": result.held_reasons,
        "outputs": result.outputs,
    }


def run(
    ctx: typer.Context,
    ref: str = typer.Argument(
        "", help="MODULE:PIPELINE or path/to/file.py:PIPELINE (optional with --resume)"
    ),
    param: list[str] | None = ParamOption,
    resume: str | None = typer.Option(
        None, "--resume", help="finish this crashed, failed or released run instead"
    ),
    schedule: str | None = typer.Option(
        None,
        "--schedule",
        help="run a scheduled pipeline now with its declared params (-P adds or overrides)",
    ),
    executor: str | None = ExecutorOption,
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster HOST:PORT"),
    no_cache: bool = typer.Option(False, "--no-cache", help="run every step, reuse nothing"),
    as_json: bool = JsonOption,
) -> None:
    """Run a pipeline and record it: `kibble run flows.py:daily -P day=2026-11-24`.

    `kibble run --schedule k9s_daily -P day=2026-12-02` runs the applied factory's
    pipeline with its declared params (a backfill of one day).
    Finished steps with a matching cache key are reused. Exit 0 when it succeeds,
    1 when it fails, 3 when a gate held it (`kibble runs release RUN --reason ...`).
    A crashed run continues with `kibble run --resume RUN`."""
    from kibble.pipelines import load_pipeline, resume_run, run_pipeline
    from kibble.pipelines.loading import canonical_ref
    from kibble.store.repositories.pipelines import RunRecords, Schedules

    context = state(ctx).context()
    params = parse_params(param)
    if schedule:
        with context.store.session() as session:
            row = Schedules(session, context.project_id).get(schedule)
            ref, params = row.pipeline_ref, {**row.params, **params}
    if resume and not ref:
        with context.store.session() as session:
            ref = str(RunRecords(session, context.project_id).get(resume).tags.get("ref", ""))
    if not ref:
        raise UsageError("which pipeline?", hint="kibble run flows.py:pipeline [--param k=v]")
    pipeline = load_pipeline(ref)
    options: dict[str, Any] = {
        "context": context,
        "executor": executor,
        "ray_address": ray_address,
        "no_cache": no_cache,
    }
    with console.status(f"running {pipeline.name} ({len(pipeline.steps)} steps)"):
        if resume:
            result = resume_run(pipeline, resume, **options)
        else:
            result = run_pipeline(pipeline, params, ref=canonical_ref(ref), **options)
    if as_json:
        print_json(_result_dict(result))
    else:
        colour = {"succeeded": "green", "held": "yellow"}.get(result.status, "red")
        console.print(f"run {result.run_id} [{colour}]{result.status}[/{colour}]")
        for reason in result.held_reasons:
            console.print(f"  held: {reason}")
        if result.error:
            console.print(f"  error: {result.error}")
    if result.status != "succeeded":
        raise typer.Exit(3 if result.status == "held" else 1)


def _run_dict(run: Run) -> dict[str, Any]:
    took = run.metrics.get("duration_s")
    return {
        "run_id": run.id,
        "kind": run.kind,
        "pipeline": run.pipeline,
        "status": run.status,
        "params": run.params,
        "created_at": run.created_at,
        "duration_s": took,
        "held_reasons": run.held_reasons,
        "error": run.error,
        "tags": run.tags,
        "factory_version": run.factory_version,
    }


def _step_dict(step: StepRun) -> dict[str, Any]:
    return {
        "name": step.name,
        "status": step.status,
        "cached": step.cached,
        "attempts": step.attempts,
        "cache_key": step.cache_key,
        "inputs": step.inputs,
        "outputs": step.outputs,
        "error": step.error,
        "started_at": step.started_at,
        "ended_at": step.ended_at,
    }


@runs_app.command("list")
def runs_list(
    ctx: typer.Context,
    pipeline: str | None = typer.Option(None, "--pipeline", help="only this pipeline"),
    status: str | None = typer.Option(None, "--status", help="e.g. held, failed, crashed"),
    kind: str = typer.Option(
        "pipeline",
        "--kind",
        help="pipeline, evaluation, training, tuning, tuning-trial, or all (the recsys "
        "commands record theirs as runs too)",
    ),
    limit: int = typer.Option(50, min=1, max=10_000),
    as_json: bool = JsonOption,
) -> None:
    """List runs, newest first. Runs whose process died show as crashed."""
    from kibble.pipelines import reap_crashed
    from kibble.store.repositories.pipelines import RunRecords

    context = state(ctx).context()
    reap_crashed(context)
    with context.store.session() as session:
        rows = [
            _run_dict(r)
            for r in RunRecords(session, context.project_id).list(
                pipeline=pipeline, status=status, kind=None if kind == "all" else kind, limit=limit
            )
        ]
    emit(
        rows,
        as_json,
        "runs",
        ["run", "pipeline", "status", "created", "seconds"],
        ["run_id", "pipeline", "status", "created_at", "duration_s"],
    )


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="run id (or a unique prefix)"),
    as_json: bool = JsonOption,
) -> None:
    """A run's parameters, code version, environment and every step."""
    from kibble.pipelines import reap_crashed
    from kibble.store.repositories.pipelines import RunRecords

    context = state(ctx).context()
    reap_crashed(context)
    with context.store.session() as session:
        records = RunRecords(session, context.project_id)
        run_record = records.get(run_id)
        data = {
            **_run_dict(run_record),
            "code_version": run_record.code_version,
            "environment": run_record.environment,
            "metrics": run_record.metrics,
            "started_at": run_record.started_at,
            "ended_at": run_record.ended_at,
            "heartbeat_at": run_record.heartbeat_at,
            "steps": [_step_dict(s) for s in records.steps(run_record.id)],
        }
    if as_json:
        print_json(data)
        return
    console.print(f"run {data['run_id']}  {data['pipeline']}  [bold]{data['status']}[/bold]")
    console.print(f"params: {json.dumps(data['params'])}")
    code = data["code_version"]
    console.print(f"code: {code.get('git_commit', '-')} dirty={code.get('git_dirty', '-')}")
    console.print(f"factory version: {data['factory_version'] or '-'}")
    for reason in data["held_reasons"] or []:
        console.print(f"held: {reason}")
    if data["error"]:
        console.print(f"error: {data['error']}")
    print_table(
        "steps",
        ["step", "status", "cached", "attempts", "output"],
        [
            [
                s["name"],
                s["status"],
                s["cached"],
                s["attempts"],
                (s["outputs"].get("value") or {}).get("digest", ""),
            ]
            for s in data["steps"]
        ],
    )


@runs_app.command("logs")
def runs_logs(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="run id (or a unique prefix)"),
    step: str | None = typer.Option(None, "--step", help="only this step"),
    as_json: bool = JsonOption,
) -> None:
    """Log lines the run's steps wrote (kibble.pipelines.log, warnings, tracebacks)."""
    from kibble.store.repositories.pipelines import RunRecords

    context = state(ctx).context()
    with context.store.session() as session:
        records = RunRecords(session, context.project_id)
        rid = records.get(run_id).id
        rows = [
            {"at": line.logged_at, "step": line.step, "level": line.level, "message": line.message}
            for line in records.logs(rid, step)
        ]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(f"{row['at']:%H:%M:%S} {row['step']} {row['level']}: {row['message']}")


@runs_app.command("compare")
def runs_compare(
    ctx: typer.Context,
    first: str = typer.Argument(..., help="run id"),
    second: str = typer.Argument(..., help="run id"),
    as_json: bool = JsonOption,
) -> None:
    """What differs between two runs: parameters, code, metrics and step outputs."""
    from kibble.store.repositories.pipelines import RunRecords

    context = state(ctx).context()
    with context.store.session() as session:
        records = RunRecords(session, context.project_id)
        a, b = records.get(first), records.get(second)
        steps_a = {s.name: s for s in records.steps(a.id)}
        steps_b = {s.name: s for s in records.steps(b.id)}

        def digest(step: StepRun | None) -> str:
            return str((step.outputs.get("value") or {}).get("digest", "")) if step else ""

        rows: list[dict[str, Any]] = []
        for key in sorted(set(a.params) | set(b.params)):
            rows.append({"what": f"param {key}", "a": a.params.get(key), "b": b.params.get(key)})
        for key in ("git_commit", "git_dirty"):
            rows.append({"what": key, "a": a.code_version.get(key), "b": b.code_version.get(key)})
        for name in sorted(set(steps_a) | set(steps_b)):
            rows.append(
                {
                    "what": f"step {name} output",
                    "a": digest(steps_a.get(name)),
                    "b": digest(steps_b.get(name)),
                }
            )
        rows.append({"what": "status", "a": a.status, "b": b.status})
        rows.append(
            {
                "what": "duration_s",
                "a": a.metrics.get("duration_s"),
                "b": b.metrics.get("duration_s"),
            }
        )
    for row in rows:
        row["same"] = row["a"] == row["b"]
    emit(rows, as_json, f"{a.id} vs {b.id}", ["what", "a", "b", "same"], ["what", "a", "b", "same"])


@runs_app.command("recheck")
def runs_recheck(
    ctx: typer.Context,
    executor: str | None = ExecutorOption,
    as_json: bool = JsonOption,
) -> None:
    """Re-check every held run now (the data was fixed): each whose gate passes goes on to
    the end; the rest stay held. The scheduler does this by itself every
    pipelines.held_recheck_s seconds."""
    from kibble.pipelines.schedules import recheck_held

    context = state(ctx).context()
    results = recheck_held(context, datetime.now(UTC), executor=executor, force=True)
    emit(results, as_json, "re-checked held runs", ["run", "status"], ["run_id", "status"])


@runs_app.command("release")
def runs_release(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="a held run"),
    reason: str = typer.Option(..., "--reason", help="why it may go on (kept in the audit log)"),
    no_resume: bool = typer.Option(
        False, "--no-resume", help="only release; let the scheduler continue it"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Let a held run go on: its held gate counts as passed. Audited."""
    from kibble.pipelines import load_pipeline, release, resume_run

    context = state(ctx).context()
    released = release(context, run_id, reason)
    data: dict[str, Any] = {"run_id": released.id, "status": released.status}
    ref = released.tags.get("ref")
    if not no_resume and ref:
        with console.status(f"resuming {released.id}"):
            result = resume_run(load_pipeline(str(ref)), released.id, context=context)
        data = _result_dict(result)
    if as_json:
        print_json(data)
    else:
        console.print(f"run {data['run_id']} {data['status']}")


def lineage(
    ctx: typer.Context,
    target: str = typer.Argument(
        ...,
        help="artifact digest sha256:..., a model NAME[:VERSION], or request:ID of a served "
        "request (why a customer saw what they saw)",
    ),
    up: bool = typer.Option(
        True, "--upstream/--downstream", help="where it came from / what used it"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Where an artifact or model came from (runs, steps, parameters, code and table
    versions), or everything derived from it."""
    from kibble.lineage import downstream, upstream

    context = state(ctx).context()
    tree = upstream(context, target) if up else downstream(context, target)
    if as_json:
        print_json(tree)
        return
    served = tree.get("request")
    if served:
        console.print(
            f"request {served['request_id']}: user {served['user_id']} at {served['ts']}, "
            f"arm {served['arm']} (p={served['probability']:.3f}), {len(served['items'])} items, "
            f"{len(served['feedback'])} feedback events"
        )
        for item in served["items"][:10]:
            if isinstance(item, dict):
                reasons = "; ".join(item.get("reasons") or []) or "no reason recorded"
                console.print(f"  {item.get('item_id')}: {reasons}")
    _print_tree(tree, 0)
    _print_registration(tree)


def _print_registration(tree: dict[str, Any]) -> None:
    """A model version's own record: the run it was registered from and what it read."""
    run = tree.get("registered_by")
    if run:
        tables = ", ".join(f"{t['name']} @ version {t['version']}" for t in run["tables"])
        console.print(
            f"  registered from run {run['run_id']} ({run['pipeline']}, {run['status']}, "
            f"{run['created_at'][:19]}), which read: {tables or 'no tables'}",
            highlight=False,
        )
    recorded = tree.get("lineage") or {}
    for name, version in (recorded.get("tables") or {}).items():
        console.print(f"  trained on table {name} @ version {version}", highlight=False)
    if tree.get("params"):
        console.print(f"  params {json.dumps(tree['params'])}", highlight=False)


def _print_tree(node: dict[str, Any], depth: int) -> None:
    pad = "  " * depth
    if node.get("kind") == "table":
        console.print(f"{pad}table {node['name']} @ version {node['version']}")
        return
    label = f"{node.get('model')} v{node.get('version')} " if node.get("model") else ""
    console.print(f"{pad}{label}artifact {node['digest'][:19]}… {node.get('name', '')}")
    made = node.get("made_by")
    if made:
        console.print(
            f"{pad}  made by run {made['run_id']} step {made['step']} "
            f"({made['pipeline']}) params={json.dumps(made['step_params'])} "
            f"commit={made['code_version'].get('git_commit', '-')}"
        )
        for item in made["inputs"]:
            _print_tree(item, depth + 2)
    for use in node.get("used_by", []):
        console.print(f"{pad}  used by run {use['run_id']} step {use['step']}")
        for child in use["outputs"]:
            _print_tree(child, depth + 2)


@schedules_app.command("list")
def schedules_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Schedules and triggers with their state."""
    from kibble.store.repositories.pipelines import Schedules

    context = state(ctx).context()
    with context.store.session() as session:
        rows = [
            {
                "name": s.name,
                "pipeline": s.pipeline_ref,
                "kind": s.kind,
                "when": s.cron or f"new version of {s.table_name}",
                "params": s.params,
                "paused": s.paused,
                "last_slot_at": s.last_slot_at,
                "last_version": s.last_version,
                "last_run_id": s.last_run_id,
            }
            for s in Schedules(session, context.project_id).list()
        ]
    emit(
        rows,
        as_json,
        "schedules",
        ["name", "pipeline", "when", "paused", "last run"],
        ["name", "pipeline", "when", "paused", "last_run_id"],
    )


@schedules_app.command("add")
def schedules_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="schedule name"),
    pipeline: str = typer.Option(..., "--pipeline", help="MODULE:PIPELINE or file.py:PIPELINE"),
    cron: str = typer.Option("", "--cron", help="cron expression in UTC, e.g. '0 2 * * *'"),
    table: str = typer.Option("", "--table", help="run when this table gets a new version"),
    param: list[str] | None = ParamOption,
    as_json: bool = JsonOption,
) -> None:
    """Create or update a schedule. Past slots are not fired; a missed slot is caught
    up once by the next `kibble scheduler` pass."""
    from kibble.pipelines import load_pipeline
    from kibble.pipelines.schedules import add_schedule

    context = state(ctx).context()
    load_pipeline(pipeline)
    found = add_schedule(
        context, name, pipeline, cron=cron, table=table, params=parse_params(param)
    )
    if as_json:
        print_json({"name": found.name, "kind": found.kind, "pipeline": found.pipeline_ref})
    else:
        console.print(f"schedule {found.name} saved")


def _pause(ctx: typer.Context, name: str, paused: bool, as_json: bool) -> None:
    from kibble.pipelines.schedules import set_paused

    found = set_paused(state(ctx).context(), name, paused)
    if as_json:
        print_json({"name": found.name, "paused": found.paused})
    else:
        console.print(f"schedule {found.name} {'paused' if paused else 'active'}")


@schedules_app.command("pause")
def schedules_pause(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Stop firing a schedule (its slots are skipped, not queued)."""
    _pause(ctx, name, True, as_json)


@schedules_app.command("resume")
def schedules_resume(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Fire a paused schedule again (at most one catch-up run)."""
    _pause(ctx, name, False, as_json)


def scheduler(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="one pass, then exit"),
    interval: float = typer.Option(30.0, "--interval", min=0.1, help="seconds between passes"),
    executor: str | None = ExecutorOption,
    health_port: int = typer.Option(
        0,
        "--health-port",
        min=0,
        max=65535,
        help="answer /healthz and /readyz on this port (Kubernetes probes); 0: off",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run schedules and triggers, mark silent runs crashed, re-check held runs.

    Safe to run twice: slots are claimed in the store, so each fires once."""
    from kibble.pipelines.health import LoopHealth
    from kibble.pipelines.schedules import tick

    context = state(ctx).context()
    # A pass may run a whole pipeline in-process: dead only when none finished for 6 h.
    health = LoopHealth(stale_after_s=max(3 * interval, 6 * 3600.0))
    if health_port:
        health.serve("0.0.0.0", health_port)  # noqa: S104 - the kubelet probes the pod IP
    while True:
        report = tick(context, datetime.now(UTC), executor=executor)
        health.beat()
        data = {
            "at": datetime.now(UTC),
            "fired": report.fired,
            "crashed": report.crashed,
            "rechecked": report.rechecked,
            "errors": report.errors,
        }
        if as_json:
            print_json(data)
        else:
            for item in report.fired:
                console.print(f"fired {item['schedule']}: run {item['run_id']} {item['status']}")
            for run_id in report.crashed:
                console.print(f"marked crashed: {run_id}")
            for item in report.rechecked:
                console.print(f"re-checked held run {item['run_id']}: {item['status']}")
            for error in report.errors:
                console.print(f"[red]error[/red] {error}")
        if once:
            return
        time.sleep(interval)


def register(app: typer.Typer) -> None:
    """Attach the pipeline commands to the root `kibble` app (one line in main.py)."""
    app.command("run")(run)
    app.add_typer(runs_app, name="runs")
    app.command("lineage")(lineage)
    app.add_typer(schedules_app, name="schedules")
    app.command("scheduler")(scheduler)
