"""kill -9 in the middle of a step, then resume: nothing reruns twice, nothing duplicates,
on the local executor and on the process pool (whose worker must die with the runner)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kibble.config import load_settings
from kibble.context import Context
from kibble.errors import ConflictError
from kibble.pipelines import reap_crashed, resume_run
from kibble.store.repositories.pipelines import RunRecords
from tests.pipelines.flows import killable
from tests.processes import alive, wait_for

ROOT = Path(__file__).resolve().parents[2]
FAST_BEATS = {"KIBBLE_PIPELINES__HEARTBEAT_S": "0.2", "KIBBLE_PIPELINES__CRASH_AFTER_S": "1.5"}


def kibble(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    env.update(FAST_BEATS)
    return subprocess.Popen(
        [sys.executable, "-m", "kibble", "--home", str(home), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "process"])
def test_kill_9_mid_step_then_resume(tmp_path: Path, executor: str) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    flow = ("tests.pipelines.flows:killable", "--executor", executor)
    proc = kibble(home, "run", *flow, "--param", f"workdir={work}")
    wait_for(lambda: (work / "slow.started").exists(), 60, "the slow step to start")
    runner = int((work / "slow.started").read_text())  # the process running the step
    assert (runner == proc.pid) == (executor == "local")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    wait_for(lambda: not alive(runner), 20, "the step's worker to end with the runner")

    settings = load_settings(
        {"home": home, "pipelines.heartbeat_s": 0.2, "pipelines.crash_after_s": 1.5}, environ={}
    )
    ctx = Context.open(settings)
    try:
        with ctx.store.session() as session:
            (run,) = RunRecords(session, ctx.project_id).list()
            run_id = run.id
        assert run.status == "running"  # the dead process could not say otherwise
        if time.time() - run.heartbeat_at.timestamp() < 1.0:  # type: ignore[union-attr]
            with pytest.raises(ConflictError, match="still running"):
                resume_run(killable, run_id, context=ctx)
        wait_for(
            lambda: run_id in reap_crashed(ctx) or _status(ctx, run_id) == "crashed", 20, "crash"
        )
        assert _steps(ctx, run_id) == {"first": "succeeded", "slow": "crashed", "last": "pending"}

        (work / "release-slow").write_text("go")
        resumed = kibble(home, "run", "--resume", run_id, "--executor", executor, "--json")
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        assert json.loads(out)["status"] == "succeeded"
        assert _status(ctx, run_id) == "succeeded"
        assert _steps(ctx, run_id) == dict.fromkeys(("first", "slow", "last"), "succeeded")
        with ctx.store.session() as session:
            records = RunRecords(session, ctx.project_id)
            slow = records.step(run_id, "slow")
            outputs = [e for e in records.edges(run_id=run_id) if e.direction == "out"]
        assert slow is not None and slow.attempts == 2
        assert sorted(e.step for e in outputs) == ["first", "last", "slow"]  # one each
    finally:
        ctx.close()
    # the finished step was reused, the interrupted one reran once, the last ran once
    lines = {
        name: len((work / f"{name}.calls").read_text().splitlines())
        for name in ("first", "slow", "last")
    }
    assert lines == {"first": 1, "slow": 2, "last": 1}


def _status(ctx: Context, run_id: str) -> str:
    with ctx.store.session() as session:
        return RunRecords(session, ctx.project_id).get(run_id).status


def _steps(ctx: Context, run_id: str) -> dict[str, str]:
    with ctx.store.session() as session:
        return {s.name: s.status for s in RunRecords(session, ctx.project_id).steps(run_id)}
