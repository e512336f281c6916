"""Cron schedules catch up once after downtime; triggers fire on new table versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kibble.context import Context
from kibble.errors import UsageError
from kibble.pipelines.schedules import add_schedule, set_paused, tick
from kibble.pipelines.timing import due_slot
from kibble.store.repositories.pipelines import RunRecords, Schedules
from tests.pipelines.test_caching import add_table_version

REF = "tests.pipelines.flows:basic"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def runs(ctx: Context) -> list[dict[str, object]]:
    with ctx.store.session() as session:
        return [{"status": r.status, **r.tags} for r in RunRecords(session, ctx.project_id).list()]


def test_due_slot_returns_only_the_latest_missed_slot() -> None:
    assert due_slot("0 2 * * *", T0, T0 + timedelta(days=3)) == datetime(
        2026, 11, 23, 2, 0, tzinfo=UTC
    )
    assert due_slot("0 2 * * *", T0, T0 + timedelta(hours=1)) is None


def test_catch_up_once_after_downtime(context: Context) -> None:
    add_schedule(context, "daily", REF, cron="0 2 * * *", params={"n": 3}, now=T0)
    assert tick(context, T0 + timedelta(hours=1)).fired == []
    # the scheduler was down for three days: one catch-up run, not three
    down = tick(context, T0 + timedelta(days=3, hours=1))
    assert [f["nominal_time"] for f in down.fired] == ["2026-11-23T02:00:00+00:00"]
    assert tick(context, T0 + timedelta(days=3, hours=2)).fired == []
    assert tick(context, T0 + timedelta(days=4, hours=1)).fired[0]["status"] == "succeeded"
    assert [r["schedule"] for r in runs(context)] == ["daily", "daily"]


def test_two_schedulers_fire_a_slot_once(context: Context) -> None:
    add_schedule(context, "daily", REF, cron="0 2 * * *", now=T0)
    with context.store.session() as session:
        stale = Schedules(session, context.project_id).get("daily")
    later = T0 + timedelta(days=1)
    assert len(tick(context, later).fired) == 1
    # a second scheduler that read the schedule before the first one claimed the slot
    with context.store.session() as session:
        repo = Schedules(session, context.project_id)
        assert not repo.claim(stale.id, "last_slot_at", stale.last_slot_at, later, later)
    assert tick(context, later).fired == []
    assert len(runs(context)) == 1


def test_paused_schedule_does_not_fire(context: Context) -> None:
    add_schedule(context, "daily", REF, cron="0 2 * * *", now=T0)
    set_paused(context, "daily", True)
    assert tick(context, T0 + timedelta(days=2)).fired == []
    set_paused(context, "daily", False)
    assert len(tick(context, T0 + timedelta(days=2)).fired) == 1


def test_data_trigger_fires_on_each_new_version(context: Context) -> None:
    add_table_version(context, "events", 1)
    add_schedule(context, "on-events", REF, table="events")
    assert tick(context).fired == []  # version 1 was current when the trigger was made
    add_table_version(context, "events", 2)
    fired = tick(context).fired
    assert [f["trigger"] for f in fired] == [{"table": "events", "version": 2}]
    assert tick(context).fired == []


def test_bad_schedules_are_refused(context: Context) -> None:
    with pytest.raises(UsageError, match="cron"):
        add_schedule(context, "bad", REF, cron="every day")
    with pytest.raises(UsageError, match="exactly one"):
        add_schedule(context, "both", REF, cron="0 2 * * *", table="events")


def test_a_slot_that_could_not_start_is_retried(context: Context) -> None:
    add_schedule(context, "daily", REF, cron="0 2 * * *", now=T0)
    context.settings.pipelines.max_concurrent_runs = 1
    with context.store.session() as session:  # another run holds the only slot
        RunRecords(session, context.project_id).create(
            pipeline="other", status="running", heartbeat_at=datetime.now(UTC)
        )
    busy = tick(context, T0 + timedelta(days=1))
    assert busy.fired == [] and "already has 1 running" in busy.errors[0]
    context.settings.pipelines.max_concurrent_runs = 2
    assert len(tick(context, T0 + timedelta(days=1)).fired) == 1


def test_a_held_run_is_rechecked_on_the_schedulers_clock(context: Context, tmp_path: Path) -> None:
    """A scheduler on a replayed or simulated clock (far from the wall clock) re-checks
    its held runs when its own time says so."""
    ref = "tests.pipelines.flows:gated"
    add_schedule(context, "gated", ref, cron="0 2 * * *", params={"workdir": str(tmp_path)}, now=T0)
    held = tick(context, T0 + timedelta(days=1))
    assert [f["status"] for f in held.fired] == ["held"]
    every = timedelta(seconds=context.settings.pipelines.held_recheck_s)
    (tmp_path / "rows.json").write_text("500")
    assert tick(context, T0 + timedelta(days=1) + every / 2).rechecked == []  # not yet due
    later = tick(context, T0 + timedelta(days=1) + every * 2)
    assert later.rechecked == [{"run_id": held.fired[0]["run_id"], "status": "succeeded"}]
