"""Retries with backoff, timeouts, and the states they end in."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from kibble.context import Context
from kibble.pipelines import Pipeline, run_pipeline, step
from kibble.pipelines.timing import backoff_delay
from kibble.store.repositories.pipelines import RunRecords


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_delay(a, 0.5) for a in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff_delay(20, 1.0, cap=30) == 30
    assert backoff_delay(1, 0) == 0


def test_flaky_step_succeeds_after_retries_with_backoff(context: Context) -> None:
    attempts: list[float] = []

    @step(retries=3, backoff_s=0.1)
    def flaky() -> int:
        attempts.append(time.perf_counter())
        if len(attempts) < 3:
            raise ConnectionError("source not ready")
        return len(attempts)

    result = Pipeline("flaky", [flaky]).run(context=context)
    assert result.status == "succeeded"
    assert result.output("flaky") == 3
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2  # exponential backoff
    with context.store.session() as session:
        records = RunRecords(session, context.project_id)
        step_run = records.step(result.run_id, "flaky")
        messages = [line.message for line in records.logs(result.run_id)]
    assert step_run is not None and step_run.attempts == 3
    assert sum("attempt" in m and "source not ready" in m for m in messages) == 2


def test_retries_exhausted_end_failed(context: Context) -> None:
    @step(retries=1, backoff_s=0.01)
    def broken() -> int:
        raise RuntimeError("always")

    result = Pipeline("broken", [broken]).run(context=context)
    assert result.status == "failed"
    with context.store.session() as session:
        step_run = RunRecords(session, context.project_id).step(result.run_id, "broken")
    assert step_run is not None and step_run.attempts == 2 and step_run.status == "failed"
    assert "RuntimeError: always" in (step_run.error or "")


def test_timeout_fails_the_attempt_then_retry_can_pass(context: Context) -> None:
    calls: list[int] = []

    @step(timeout_s=0.3, retries=1, backoff_s=0.01)
    def sometimes_slow() -> str:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(2)
        return "fast"

    result = Pipeline("slowish", [sometimes_slow]).run(context=context)
    assert result.status == "succeeded"
    assert len(calls) == 2  # the slow attempt was given up on, not waited for
    assert result.output("sometimes_slow") == "fast"
    with context.store.session() as session:
        messages = [
            line.message for line in RunRecords(session, context.project_id).logs(result.run_id)
        ]
    assert any("timed out after 0.3s" in m for m in messages)


def test_timeout_without_retries_ends_failed(context: Context) -> None:
    @step(timeout_s=0.2)
    def hangs() -> int:
        time.sleep(1)
        return 1

    result = Pipeline("hangs", [hangs]).run(context=context)
    assert result.status == "failed"
    assert "timed out" in (result.error or "")


def test_process_worker_past_its_timeout_is_killed_and_retried(
    context: Context, tmp_path: Path
) -> None:
    from tests.pipelines.flows import stuck

    result = run_pipeline(stuck, {"workdir": str(tmp_path)}, context=context, executor="process")
    assert result.status == "succeeded", result.error
    assert result.output("stuck_once") == "recovered"
    stuck_pid = int((tmp_path / "stuck.once").read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(stuck_pid):
        time.sleep(0.05)
    assert not _alive(stuck_pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")
