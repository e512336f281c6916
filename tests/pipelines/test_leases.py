"""Two workers never execute the same step of the same run (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from kibble.config import Settings
from kibble.context import Context
from kibble.errors import ConflictError
from kibble.pipelines import Pipeline, step
from kibble.pipelines.runner import Runner, _create_run
from kibble.store.repositories.pipelines import Leases, Schedules


@pytest.fixture
def backend_context(backend_settings: Settings) -> Iterator[Context]:
    ctx = Context.open(backend_settings)
    yield ctx
    ctx.close()


def new_run(ctx: Context, pipeline: Pipeline) -> str:
    return _create_run(ctx, pipeline, pipeline.validate_params({}), {}, None)


@step
def only() -> int:
    return 1


def test_concurrent_claims_have_exactly_one_winner(backend_context: Context) -> None:
    ctx = backend_context
    run_id = new_run(ctx, Pipeline("leased", [only]))
    barrier = threading.Barrier(8)
    wins: list[str] = []

    def claim(owner: str) -> None:
        barrier.wait()
        with ctx.store.session() as session:
            if Leases(session, ctx.project_id).acquire(
                run_id, "only", owner, 30, datetime.now(UTC)
            ):
                wins.append(owner)

    threads = [threading.Thread(target=claim, args=(f"worker-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(wins) == 1


def test_expired_lease_can_be_taken_over(backend_context: Context) -> None:
    ctx = backend_context
    run_id = new_run(ctx, Pipeline("leased", [only]))
    start = datetime.now(UTC)
    with ctx.store.session() as session:
        leases = Leases(session, ctx.project_id)
        assert leases.acquire(run_id, "only", "a", 5, start)
        assert not leases.acquire(run_id, "only", "b", 5, start + timedelta(seconds=1))
        assert leases.acquire(run_id, "only", "a", 5, start + timedelta(seconds=2))  # renew
        assert leases.acquire(run_id, "only", "b", 5, start + timedelta(seconds=8))


def test_second_worker_on_the_same_run_is_refused(backend_context: Context) -> None:
    ctx = backend_context
    entered = threading.Event()
    finish = threading.Event()

    @step
    def blocking() -> int:
        entered.set()
        finish.wait(30)
        return 1

    pipeline = Pipeline("busy", [blocking])
    run_id = new_run(ctx, pipeline)
    outcome: list[str] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            Runner(ctx, pipeline, run_id, "local", None, False).execute().status
        )
    )
    worker.start()
    assert entered.wait(30)
    with pytest.raises(ConflictError, match="another worker"):
        Runner(ctx, pipeline, run_id, "local", None, False).execute()
    finish.set()
    worker.join(timeout=30)
    assert outcome == ["succeeded"]


def test_concurrent_schedulers_claim_a_slot_once(backend_context: Context) -> None:
    from kibble.pipelines.schedules import add_schedule

    ctx = backend_context
    start = datetime(2026, 11, 20, tzinfo=UTC)
    schedule = add_schedule(
        ctx, "daily", "tests.pipelines.flows:basic", cron="0 2 * * *", now=start
    )
    slot = datetime(2026, 11, 21, 2, tzinfo=UTC)
    barrier = threading.Barrier(6)
    wins: list[int] = []

    def claim(index: int) -> None:
        barrier.wait()
        with ctx.store.session() as session:
            repo = Schedules(session, ctx.project_id)
            if repo.claim(schedule.id, "last_slot_at", schedule.last_slot_at, slot, slot):
                wins.append(index)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(wins) == 1
