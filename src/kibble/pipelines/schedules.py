"""Schedules and data triggers, persisted so a restarted scheduler loses nothing.

``tick(ctx, now)`` is one pass of the scheduler: fire due cron slots (only the latest
missed slot, so downtime is caught up once), fire data triggers whose table has a new
version, mark silent runs crashed, and re-check held runs. Slots and versions are
claimed compare-and-set before firing, so two schedulers never fire the same one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kibble.context import Context
from kibble.core.names import validate_name
from kibble.errors import KibbleError, UsageError
from kibble.pipelines.definitions import Pipeline
from kibble.pipelines.loading import canonical_ref, load_pipeline
from kibble.pipelines.runner import reap_crashed, resume_run, run_pipeline
from kibble.pipelines.tables import table_version
from kibble.pipelines.timing import check_cron, due_slot
from kibble.store.models import PipelineSchedule
from kibble.store.repositories.pipelines import RunRecords, Schedules

log = logging.getLogger(__name__)
Loader = Callable[[str], Pipeline]


def add_schedule(
    ctx: Context,
    name: str,
    pipeline_ref: str,
    *,
    cron: str = "",
    table: str = "",
    params: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> PipelineSchedule:
    """Create or update a cron schedule (UTC) or a data trigger on ``table``.

    A new cron schedule starts counting from ``now``: past slots are not fired. A new
    trigger fires on the first table version after the one current now.
    """
    validate_name(name, "schedule name")
    if bool(cron) == bool(table):
        raise UsageError("give exactly one of cron or table", hint="--cron '0 2 * * *' or --table")
    if cron:
        check_cron(cron)
    moment = now or datetime.now(UTC)
    current = table_version(ctx, table) if table else None
    with ctx.store.session() as session:
        repo = Schedules(session, ctx.project_id)
        existed = repo.find(name) is not None
        found = repo.upsert(
            name,
            pipeline_ref=canonical_ref(pipeline_ref),
            kind="cron" if cron else "table",
            cron=cron,
            table_name=table,
            params=dict(params or {}),
        )
        if not existed:
            found.last_slot_at = moment
            found.last_version = current
    ctx.audit("schedule.upsert", name, pipeline=pipeline_ref, cron=cron, table=table)
    return found


def set_paused(ctx: Context, name: str, paused: bool) -> PipelineSchedule:
    with ctx.store.session() as session:
        found = Schedules(session, ctx.project_id).get(name)
        found.paused = paused
    ctx.audit("schedule.pause" if paused else "schedule.resume", name)
    return found


@dataclass
class TickReport:
    fired: list[dict[str, Any]] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)
    rechecked: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def tick(
    ctx: Context,
    now: datetime | None = None,
    *,
    loader: Loader = load_pipeline,
    executor: str | None = None,
) -> TickReport:
    """One scheduler pass. Runs fired here run to the end before this returns."""
    moment = now or datetime.now(UTC)
    report = TickReport(crashed=reap_crashed(ctx))
    with ctx.store.session() as session:
        schedules = Schedules(session, ctx.project_id).list(active_only=True)
    for schedule in schedules:
        try:
            fired = _fire_if_due(ctx, schedule, moment, loader, executor)
        except KibbleError as exc:
            report.errors.append(f"{schedule.name}: {exc}")
            continue
        if fired:
            report.fired.append(fired)
    report.rechecked = recheck_held(ctx, moment, loader=loader, executor=executor)
    return report


def _fire_if_due(
    ctx: Context,
    schedule: PipelineSchedule,
    moment: datetime,
    loader: Loader,
    executor: str | None,
) -> dict[str, Any] | None:
    tags: dict[str, Any] = {"schedule": schedule.name}
    # read outside the claiming transaction: SQLite allows one writer at a time
    version = table_version(ctx, schedule.table_name) if schedule.kind == "table" else None
    with ctx.store.session() as session:
        repo = Schedules(session, ctx.project_id)
        if schedule.kind == "cron":
            last = schedule.last_slot_at or moment
            slot = due_slot(schedule.cron, last, moment)
            if slot is None or not repo.claim(
                schedule.id, "last_slot_at", schedule.last_slot_at, slot, moment
            ):
                return None
            tags["nominal_time"] = slot.isoformat()
        else:
            if version is None or (
                schedule.last_version is not None and version <= schedule.last_version
            ):
                return None
            if not repo.claim(schedule.id, "last_version", schedule.last_version, version, moment):
                return None
            tags["trigger"] = {"table": schedule.table_name, "version": version}
    pipeline = loader(schedule.pipeline_ref)
    params = dict(schedule.params)
    if "day" in pipeline.params_model.model_fields and "day" not in params:
        # a daily pipeline processes the day that ended before its slot (or its trigger)
        fired = datetime.fromisoformat(tags["nominal_time"]) if "nominal_time" in tags else moment
        params["day"] = (fired - timedelta(days=1)).date().isoformat()
    try:
        result = run_pipeline(
            pipeline,
            params,
            context=ctx,
            executor=executor,
            # a held run's next re-check counts from the scheduler's clock, not the wall's
            # (a replay or a simulated clock re-checks on its own time)
            tags={**tags, "held_checked_at": moment.isoformat()},
            ref=schedule.pipeline_ref,
        )
    except KibbleError:
        _unclaim(ctx, schedule)  # the run never started: let the next pass try again
        raise
    with ctx.store.session() as session:
        Schedules(session, ctx.project_id).record_run(schedule.id, result.run_id)
    return {
        "schedule": schedule.name,
        "run_id": result.run_id,
        "status": result.status,
        "held_reasons": list(result.held_reasons),
        **tags,
    }


def _unclaim(ctx: Context, schedule: PipelineSchedule) -> None:
    column = "last_slot_at" if schedule.kind == "cron" else "last_version"
    old = schedule.last_slot_at if schedule.kind == "cron" else schedule.last_version
    with ctx.store.session() as session:
        current = Schedules(session, ctx.project_id).get(schedule.name)
        setattr(current, column, old)


def recheck_held(
    ctx: Context,
    now: datetime | None = None,
    *,
    loader: Loader = load_pipeline,
    executor: str | None = None,
    force: bool = False,
) -> list[dict[str, Any]]:
    """Re-run the gate of each held run (and each released run) whose turn has come."""
    moment = now or datetime.now(UTC)
    every = ctx.settings.pipelines.held_recheck_s
    with ctx.store.session() as session:
        records = RunRecords(session, ctx.project_id)
        candidates = records.held() + records.list(status="released", limit=100)
    results: list[dict[str, Any]] = []
    for run in candidates:
        ref = run.tags.get("ref")
        checked = run.tags.get("held_checked_at")
        if not ref:
            continue
        since = datetime.fromisoformat(checked) if checked else run.ended_at
        due = run.status == "released" or force or since is None
        if not due and since is not None:
            due = (moment - since).total_seconds() >= every
        if not due:
            continue
        with ctx.store.session() as session:
            record = RunRecords(session, ctx.project_id).get(run.id)
            record.tags = {**record.tags, "held_checked_at": moment.isoformat()}
        try:
            result = resume_run(loader(ref), run.id, context=ctx, executor=executor)
        except KibbleError as exc:
            log.warning("re-checking held run %s failed: %s", run.id, exc)
            continue
        results.append({"run_id": run.id, "status": result.status})
    return results
