"""Runs as recorded in the store: params, code version, environment, steps, outputs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from kibble.context import Context
from kibble.errors import QuotaExceededError
from kibble.pipelines import run_pipeline
from kibble.store.repositories import ArtifactRecords
from kibble.store.repositories.pipelines import Leases, RunRecords
from tests.pipelines.flows import basic, parallel


def test_run_records_everything(context: Context) -> None:
    result = basic.run({"n": 3}, context=context)
    assert result.status == "succeeded"
    assert result.output("total") == {"sum": 6.0, "count": 3}
    np.testing.assert_array_equal(result.output("doubled"), [0, 2, 4])
    with context.store.session() as session:
        records = RunRecords(session, context.project_id)
        run = records.get(result.run_id)
        steps = {s.name: s for s in records.steps(run.id)}
        logs = records.logs(run.id)
        artifacts = ArtifactRecords(session, context.project_id)
        doubled_ref = steps["doubled"].outputs["value"]
        assert artifacts.get(doubled_ref["digest"]).run_id == run.id
    assert run.params == {"n": 3}
    assert set(run.code_version["steps"]) == {"numbers", "doubled", "total"}
    assert "git_commit" in run.code_version and "git_dirty" in run.code_version
    assert run.environment["packages"]["numpy"] == np.__version__
    assert run.started_at is not None and run.ended_at is not None
    assert run.metrics["duration_s"] > 0
    assert {s.status for s in steps.values()} == {"succeeded"}
    assert doubled_ref["codec"] == "ndarray" and doubled_ref["digest"].startswith("sha256:")
    assert steps["total"].inputs["artifacts"]["doubled"] == doubled_ref["digest"]
    assert [line.message for line in logs] == ["making 3 numbers"]


def test_output_loads_from_store_in_a_fresh_result(context: Context) -> None:
    first = basic.run({"n": 2}, context=context)
    first._values.clear()
    assert first.output("total") == {"sum": 2.0, "count": 2}


def test_failed_step_stops_the_run_and_is_recorded(context: Context) -> None:
    from kibble.pipelines import Pipeline, step

    @step
    def boom() -> int:
        raise ValueError("bad input")

    @step
    def after(boom: int) -> int:
        return boom

    result = Pipeline("boom", [boom, after]).run(context=context)
    assert result.status == "failed"
    assert "ValueError: bad input" in (result.error or "")
    with context.store.session() as session:
        records = RunRecords(session, context.project_id)
        steps = {s.name: s.status for s in records.steps(result.run_id)}
        logs = " ".join(line.message for line in records.logs(result.run_id))
    assert steps == {"boom": "failed", "after": "pending"}
    assert "Traceback" in logs


def test_unsafe_output_fails_with_a_clear_error(context: Context) -> None:
    from kibble.pipelines import Pipeline, step

    @step
    def weird() -> object:
        return object()

    result = Pipeline("weird", [weird]).run(context=context)
    assert result.status == "failed"
    assert "cannot store safely" in (result.error or "")


def test_process_pool_runs_independent_steps_in_parallel(context: Context, tmp_path: Path) -> None:
    result = run_pipeline(parallel, {"workdir": str(tmp_path)}, context=context, executor="process")
    assert result.status == "succeeded", result.error
    assert result.output("joined"), "each step must have seen the other one running"
    assert result.output("left")["pid"] != result.output("right")["pid"]


def test_local_executor_runs_steps_one_after_another(context: Context, tmp_path: Path) -> None:
    # the same rendezvous cannot happen in-process: the check above can fail
    params = {"workdir": str(tmp_path), "wait_s": 0.2}
    result = run_pipeline(parallel, params, context=context, executor="local")
    assert result.status == "succeeded", result.error
    assert result.output("joined") is False


def test_concurrent_run_limit_per_project(context: Context) -> None:
    context.settings.pipelines.max_concurrent_runs = 1
    from kibble.pipelines import Pipeline, step

    @step
    def inner() -> str:
        # a second run started while this one is running must be refused
        try:
            basic.run(context=context)
        except QuotaExceededError as exc:
            return str(exc)
        return "allowed"

    result = Pipeline("outer", [inner]).run(context=context)
    assert result.status == "succeeded"
    assert "already has 1 running" in result.output("inner")


@pytest.mark.parametrize("executor", ["local", "process"])
def test_executors_give_identical_outputs(context: Context, executor: str) -> None:
    result = run_pipeline(basic, {"n": 5}, context=context, executor=executor, no_cache=True)
    assert result.status == "succeeded"
    assert (
        result.outputs["total"]["digest"]
        == basic.run({"n": 5}, context=context).outputs["total"]["digest"]
    )


def test_a_step_is_recorded_done_before_the_next_one_starts(context: Context) -> None:
    """Durability under the batched writes: what a resume after a crash relies on."""
    from kibble.pipelines import Pipeline, step

    seen: dict[str, object] = {}

    @step(cache=False)
    def first() -> int:
        return 1

    @step(cache=False)
    def second(first: int) -> int:
        with context.store.session() as session:
            records = RunRecords(session, context.project_id)
            run = records.list(pipeline="durable", limit=1)[0]
            before = records.step(run.id, "first")
            current = records.step(run.id, "second")
            assert before is not None and current is not None
            seen.update(
                first=(before.status, bool(before.outputs.get("value"))),
                second=(current.status, current.attempts),
                lease=Leases(session, context.project_id).acquire(
                    run.id, "second", "someone-else", 60, datetime.now(UTC)
                ),
            )
        return first + 1

    assert Pipeline("durable", [first, second]).run(context=context).status == "succeeded"
    assert seen == {"first": ("succeeded", True), "second": ("running", 1), "lease": False}
