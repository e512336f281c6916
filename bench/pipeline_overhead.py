"""Pipeline overhead: (a) per-step cost of the in-process executor on a 200-step chain
with metadata on SQLite; (b) a fully cached re-run of 10 one-second steps; (c) the same
chain on Prefect's local runner, as a ratio, when a Prefect environment is available.

Prefect does not share kibble's pinned dependencies, so it runs from its own virtualenv:
``python -m venv /tmp/pipelines-prefect-venv && /tmp/pipelines-prefect-venv/bin/pip
install prefect`` (or point KIBBLE_BENCH_PREFECT_PYTHON at another interpreter).
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Bench
from kibble.config import load_settings
from kibble.context import Context
from kibble.pipelines import Pipeline, Step, step

CHAIN = 200
SLOW_STEPS = 10
PREFECT_PYTHON = os.environ.get(
    "KIBBLE_BENCH_PREFECT_PYTHON", "/tmp/pipelines-prefect-venv/bin/python"
)

PREFECT_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from prefect import flow, task

    @task(cache_policy=None, persist_result=False)
    def trivial(x: int) -> int:
        return x + 1

    @flow(persist_result=False)
    def chain(n: int) -> int:
        value = 0
        for _ in range(n):
            value = trivial(value)
        return value

    chain(2)  # warm-up: starts Prefect's ephemeral API server
    start = time.perf_counter()
    assert chain(int(sys.argv[1])) == int(sys.argv[1])
    print(json.dumps({"seconds": time.perf_counter() - start}))
    """
)


def chained_step(index: int, body: Any) -> Step:
    """Step ``s{index}`` whose one argument is the previous step's output."""

    def fn(**kwargs: Any) -> Any:
        return body(kwargs)

    parameters = (
        [inspect.Parameter(f"s{index - 1}", inspect.Parameter.KEYWORD_ONLY)] if index else []
    )
    fn.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    fn.__name__ = fn.__qualname__ = f"s{index}"
    return step(fn)


def trivial_chain(n: int) -> Pipeline:
    return Pipeline("chain", [chained_step(i, lambda kw: len(kw)) for i in range(n)])


def sleepy_chain(n: int) -> Pipeline:
    def body(kwargs: dict[str, Any]) -> int:
        time.sleep(1.0)
        return sum(kwargs.values()) + 1

    return Pipeline("sleepy", [chained_step(i, body) for i in range(n)])


def prefect_seconds(n: int) -> float | None:
    if not Path(PREFECT_PYTHON).exists():
        return None
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PREFECT_HOME": home, "PREFECT_LOGGING_LEVEL": "ERROR"}
        result = subprocess.run(
            [PREFECT_PYTHON, "-c", PREFECT_SCRIPT, str(n)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return float(json.loads(lines[-1])["seconds"]) if result.returncode == 0 and lines else None


def main() -> None:
    bench = Bench("pipeline_overhead")
    with tempfile.TemporaryDirectory() as home:
        ctx = Context.open(load_settings({"home": Path(home)}, environ={}))
        chain = trivial_chain(CHAIN)
        chain.run(context=ctx, no_cache=True)  # warm imports and the schema
        start = time.perf_counter()
        result = chain.run(context=ctx, no_cache=True)
        took = time.perf_counter() - start
        assert result.status == "succeeded", result.error
        per_step = bench.figure("chain200_per_step_ms", took / CHAIN * 1000, "ms")
        bench.figure("chain200_total_s", took)
        bench.target("per_step", "in-process step overhead < 10 ms on SQLite", per_step < 10)

        sleepy = sleepy_chain(SLOW_STEPS)
        with bench.timed("sleepy10_cold_s"):
            assert sleepy.run(context=ctx).status == "succeeded"
        start = time.perf_counter()
        cached = sleepy.run(context=ctx)
        warm = bench.figure("sleepy10_cached_s", time.perf_counter() - start)
        assert cached.status == "succeeded"
        bench.target("cached_rerun", "fully cached re-run of 10 x 1 s steps < 0.5 s", warm < 0.5)
        ctx.close()

    theirs = prefect_seconds(CHAIN)
    extra: dict[str, Any] = {}
    if theirs is None:
        extra["prefect"] = f"not available at {PREFECT_PYTHON}"
    else:
        bench.figure("prefect_chain200_per_step_ms", theirs / CHAIN * 1000, "ms")
        bench.ratio("kibble_vs_prefect_per_step", per_step, theirs / CHAIN * 1000)
    bench.report(extra)


if __name__ == "__main__":
    main()
