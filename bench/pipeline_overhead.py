"""Pipeline overhead: (a) per-step cost of the in-process executor on a 200-step chain
with metadata on SQLite; (b) a fully cached re-run of 10 one-second steps; (c) the same
200-step chain on Prefect's local runner and on Metaflow's local runtime, in the same
run, as ratios.

The peers run from the peers' virtualenv (``.venv-peers``, built by ``make bench`` from
``bench/requirements-peers.txt``); without them the bench fails and says why. Prefect is
measured twice: persisting each task's result (the same work as kibble, which stores
every step's output so a resumed run can reuse it) and with persistence off (its
cheapest), and each time both until the flow returns and until Prefect's API has
recorded every task run completed (it reports task states in the background, so the
flow returns first; kibble records each step before the next one starts, so the ratios
use the recorded time). Metaflow runs each step as its own process, as
``python flow.py run`` does. Each figure is a whole run's wall time over the 200 steps,
the best of 3 runs after a warm-up (that starts Prefect's ephemeral API server), for
kibble and Prefect alike; Metaflow's one run takes minutes, so it runs once.
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

from bench.harness import Bench, peer_python
from kibble.config import load_settings
from kibble.context import Context
from kibble.pipelines import Pipeline, Step, step

CHAIN = 200
SLOW_STEPS = 10

PREFECT_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    def chain_of(persist: bool):
        @task(cache_policy=NO_CACHE, persist_result=persist)
        def trivial(x: int) -> int:
            return x + 1

        @flow(persist_result=persist)
        def chain(n: int) -> int:
            value = 0
            for _ in range(n):
                value = trivial(value)
            return value

        return chain

    def recorded(client, flow_run_id, n: int) -> None:
        # Prefect reports task states to its API in the background: the flow returns
        # before they are stored. Wait until all n are recorded completed, as kibble
        # has recorded each step before it returns.
        runs = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done, page = 0, 0
            while found := client.read_task_runs(flow_run_filter=runs, limit=200, offset=page):
                done += sum(r.state_type == "COMPLETED" for r in found)
                page += len(found)
            if done >= n:
                return
            time.sleep(0.02)
        raise SystemExit("prefect never recorded the task runs as completed")

    n = int(sys.argv[1])
    chains = {"persisted": chain_of(True), "bare": chain_of(False)}
    seconds = {}
    with get_client(sync_client=True) as client:
        for chain in chains.values():
            chain(2)  # warm-up: starts Prefect's ephemeral API server
        for _ in range(3):  # best of 3, alternating, as kibble's figure is taken
            for name, chain in chains.items():
                start = time.perf_counter()
                state = chain(n, return_state=True)
                returned = time.perf_counter() - start
                assert state.result() == n
                recorded(client, state.state_details.flow_run_id, n)
                took = {"returned": returned, "recorded": time.perf_counter() - start}
                for key, value in took.items():
                    seconds[f"{name}_{key}"] = min(seconds.get(f"{name}_{key}", 1e9), value)
    print(json.dumps(seconds))
    """
)


def metaflow_source(n: int) -> str:
    """A linear Metaflow flow of ``n`` steps (start, s1 ... s{n-2}, end), each adding 1."""
    names = ["start", *(f"s{i}" for i in range(1, n - 1)), "end"]
    lines = ["from metaflow import FlowSpec, step", "", "", "class Chain(FlowSpec):"]
    for name, following in zip(names, [*names[1:], None], strict=True):
        lines += ["    @step", f"    def {name}(self):"]
        lines += ["        self.x = getattr(self, 'x', 0) + 1"]
        lines += [f"        self.next(self.{following})" if following else "        pass", ""]
    lines += ["", "if __name__ == '__main__':", "    Chain()", ""]
    return "\n".join(lines)


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


def prefect_seconds(python: str, n: int) -> dict[str, float]:
    """Wall seconds of Prefect's runs of the chain: ``{persisted,bare}_{returned,recorded}``."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PREFECT_HOME": home, "PREFECT_LOGGING_LEVEL": "ERROR"}
        env["PREFECT_LOCAL_STORAGE_PATH"] = f"{home}/results"
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"  # slow when loaded
        done = subprocess.run(
            [python, "-c", PREFECT_SCRIPT, str(n)],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(
            f"prefect run failed (exit {done.returncode}):\n{done.stderr[:3000]}\n...\n"
            f"{done.stderr[-1000:]}"
        )
    return {k: float(v) for k, v in json.loads(lines[-1]).items()}


def metaflow_seconds(python: str, n: int) -> float:
    """Wall seconds of ``python chain.py run`` for the ``n``-step flow, local datastore."""
    with tempfile.TemporaryDirectory() as folder:
        flow = Path(folder) / "chain.py"
        flow.write_text(metaflow_source(n))
        env = {**os.environ, "USERNAME": "bench", "METAFLOW_HOME": folder}
        start = time.perf_counter()
        done = subprocess.run(
            [python, str(flow), "--quiet", "--no-pylint", "run"],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
            timeout=1800,
            check=False,
        )
        took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"metaflow run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return took


def main() -> None:
    bench = Bench("pipeline_overhead")
    peers = peer_python("prefect", "metaflow")  # before any work: a missing peer fails fast
    bench.uses_peers(peers, "prefect", "metaflow")
    with tempfile.TemporaryDirectory() as home:
        ctx = Context.open(load_settings({"home": Path(home)}, environ={}))
        chain = trivial_chain(CHAIN)
        chain.run(context=ctx, no_cache=True)  # warm imports and the schema
        took = cpu = float("inf")
        for _ in range(3):  # best of 3, as the peers' figures are taken
            start, start_cpu = time.perf_counter(), time.process_time()
            result = chain.run(context=ctx, no_cache=True)
            took = min(took, time.perf_counter() - start)
            cpu = min(cpu, time.process_time() - start_cpu)
            assert result.status == "succeeded", result.error
        per_step = bench.figure("chain200_per_step_ms", took / CHAIN * 1000, "ms")
        # CPU time is what the step costs whatever else the machine runs; wall time above
        # it means the process waited for a core (read it against the load average).
        bench.figure("chain200_cpu_per_step_ms", cpu / CHAIN * 1000, "ms")
        bench.figure("chain200_total_s", took)
        bench.target("per_step", "in-process step overhead < 5 ms on SQLite", per_step < 5)

        sleepy = sleepy_chain(SLOW_STEPS)
        with bench.timed("sleepy10_cold_s"):
            assert sleepy.run(context=ctx).status == "succeeded"
        start = time.perf_counter()
        cached = sleepy.run(context=ctx)
        warm = bench.figure("sleepy10_cached_s", time.perf_counter() - start)
        assert cached.status == "succeeded"
        bench.target("cached_rerun", "fully cached re-run of 10 x 1 s steps < 0.5 s", warm < 0.5)
        ctx.close()

    prefect = prefect_seconds(peers, CHAIN)
    for variant, seconds in prefect.items():
        theirs = bench.figure(f"prefect_{variant}_per_step_ms", seconds / CHAIN * 1000, "ms")
        if variant.endswith("recorded"):
            bench.ratio(f"prefect_{variant}_over_kibble_per_step", theirs, per_step)
    metaflow = metaflow_seconds(peers, CHAIN) / CHAIN * 1000
    bench.figure("metaflow_per_step_ms", metaflow, "ms")
    bench.ratio("metaflow_over_kibble_per_step", metaflow, per_step)
    for peer, label in (
        ("prefect_persisted_recorded", "Prefect (results kept, states recorded)"),
        ("metaflow", "Metaflow"),
    ):
        bench.target(
            f"30x_{peer}",
            f"at least 30x cheaper per step than {label}",
            bench.ratios[f"{peer}_over_kibble_per_step"] >= 30,
        )
    bench.report()


if __name__ == "__main__":
    main()
