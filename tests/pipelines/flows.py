"""Pipelines the tests run; importable, so process-pool, Ray and subprocess runs find them.

Steps that need to leave a trace outside the store write to the folder named by the
``workdir`` parameter (a test's tmp_path).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from kibble.pipelines import Pipeline, hold, log, step


def _mark(workdir: str, name: str) -> int:
    """Append one line to workdir/name and return how many lines it has now."""
    path = Path(workdir) / name
    with path.open("a") as handle:
        handle.write(f"{os.getpid()} {time.time()}\n")
    return len(path.read_text().splitlines())


@step
def numbers(n: int = 4) -> list[int]:
    log(f"making {n} numbers")
    return list(range(n))


@step
def doubled(numbers: list[int]) -> np.ndarray:
    return np.array(numbers, dtype=np.int64) * 2


@step
def total(doubled: np.ndarray, numbers: list[int]) -> dict[str, float]:
    return {"sum": float(doubled.sum()), "count": len(numbers)}


basic = Pipeline("basic", [numbers, doubled, total])


# -- parallel: two independent steps that can only finish together -------------------


def _meet(workdir: str, me: str, other: str, wait_s: float) -> dict[str, object]:
    """Leave a mark, then wait for the other step's: only steps running at the same time
    both see each other (a sequential executor makes the first one give up)."""
    (Path(workdir) / f"{me}.here").write_text(str(os.getpid()))
    there = Path(workdir) / f"{other}.here"
    deadline = time.monotonic() + wait_s
    while not there.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"met": there.exists(), "pid": os.getpid()}


@step
def left(workdir: str, wait_s: float = 30.0) -> dict[str, object]:
    return _meet(workdir, "left", "right", wait_s)


@step
def right(workdir: str, wait_s: float = 30.0) -> dict[str, object]:
    return _meet(workdir, "right", "left", wait_s)


@step
def joined(left: dict[str, object], right: dict[str, object]) -> bool:
    """True when each step saw the other running."""
    return bool(left["met"]) and bool(right["met"])


parallel = Pipeline("parallel", [left, right, joined])


# -- kill -9 and resume --------------------------------------------------------------


@step
def first(workdir: str) -> int:
    return _mark(workdir, "first.calls")


@step
def slow(first: int, workdir: str) -> int:
    calls = _mark(workdir, "slow.calls")
    if not (Path(workdir) / "release-slow").exists():
        (Path(workdir) / "slow.started").write_text(str(os.getpid()))
        time.sleep(60)
    return first + calls


@step
def last(slow: int, workdir: str) -> int:
    _mark(workdir, "last.calls")
    return slow * 10


killable = Pipeline("killable", [first, slow, last])


# -- a gate --------------------------------------------------------------------------


@step
def rows(workdir: str) -> str:
    return str(Path(workdir) / "rows.json")


@step(cache=False)
def enough(rows: str, minimum: int = 100) -> int:
    """A gate: looks at the data again each time it runs."""
    path = Path(rows)
    count = int(json.loads(path.read_text())) if path.exists() else 0
    if count < minimum:
        raise hold(f"only {count} rows arrived, need {minimum}")
    return count


@step
def train(enough: int | None) -> dict[str, int | None]:
    return {"trained_on": enough}


gated = Pipeline("gated", [rows, enough, train])


# -- for the Ray executor ------------------------------------------------------------


@step(cpus=1)
def ray_square(n: int = 3) -> list[int]:
    return [i * i for i in range(n)]


@step(cpus=1, memory_mb=64)
def ray_where(ray_square: list[int]) -> dict[str, object]:
    import ray

    task = ray.get_runtime_context().get_task_name() if ray.is_initialized() else None
    return {"values": ray_square, "pid": os.getpid(), "task": task}


on_ray = Pipeline("on-ray", [ray_square, ray_where])


# -- a timeout in a worker process -----------------------------------------------------


@step(timeout_s=4.0, retries=1, backoff_s=0.01)
def stuck_once(workdir: str) -> str:
    marker = Path(workdir) / "stuck.once"
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(60)
    return "recovered"


stuck = Pipeline("stuck", [stuck_once])
