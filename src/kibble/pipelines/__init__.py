"""Pipelines: plain-Python steps, recorded runs, caching, gates, schedules, executors.

Define::

    from kibble import Pipeline, hold, step

    @step(tables=["events"])
    def load(day: str) -> dict: ...

    @step
    def gate(load: dict) -> None:          # argument named after a step = its output
        if load["rows"] < 1000:
            raise hold("only %d rows arrived" % load["rows"])

    @step(retries=2, timeout_s=600)
    def train(load: dict, gate: None, factors: int = 64) -> Model: ...

    daily = Pipeline("daily", [load, gate, train])
    result = daily.run({"day": "2026-11-24"})   # or `kibble run flows:daily --param ...`

Runs: every run records params, code version (git commit + dirty flag, hash of each
step's source), package versions, timings, per-step status, logs (``log()``), inputs
and outputs with digests, and table versions (``tables=[...]`` or ``record_read``).

Caching: a step is skipped, its output reused, when its cache key (source hash,
parameters, input digests, table versions, ``depends_on``) matches an earlier success
in the project. Opt out with ``no_cache=True`` / ``--no-cache`` or ``@step(cache=False)``.

Failures: ``retries`` with exponential backoff from ``backoff_s``; ``timeout_s`` ends an
attempt. A run whose process dies stops its heartbeat and is marked ``crashed`` after
``pipelines.crash_after_s``; ``resume_run`` (``kibble run --resume RUN``) reuses its
finished steps and reruns the rest. Leases in the store make sure two workers never
execute the same step of the same run.

Held runs (gates): a step that raises ``Hold(reasons)`` (or ``raise hold(...)``) ends the
run ``held``, not ``failed``; finished steps are kept, later steps do not start, and
``Run.held_reasons`` says why. Then either:

- a person calls ``release(ctx, run_id, reason)`` / ``kibble runs release RUN --reason``
  (audited as ``run.release``): the held step counts as passed with output ``None``,
  the run becomes ``released`` and is resumed (by the CLI at once, else the scheduler);
- or the scheduler re-checks held runs every ``pipelines.held_recheck_s``: it reruns the
  held gate step; if it passes now the run continues to the end, else it stays held.

Schedules: ``add_schedule`` (cron, UTC) and data triggers (a table got a new version),
persisted in the store; ``kibble scheduler`` fires them, catching a missed slot up once.
Executors: ``local`` (default), ``process`` (parallel independent steps), ``ray``.
"""

from kibble.pipelines.definitions import Hold, Pipeline, Step, hold, step
from kibble.pipelines.loading import load_pipeline
from kibble.pipelines.runner import RunResult, reap_crashed, release, resume_run, run_pipeline
from kibble.pipelines.schedules import recheck_held, tick
from kibble.pipelines.stepctx import log, record_read

__all__ = [
    "Hold",
    "Pipeline",
    "RunResult",
    "Step",
    "hold",
    "load_pipeline",
    "log",
    "reap_crashed",
    "recheck_held",
    "record_read",
    "release",
    "resume_run",
    "run_pipeline",
    "step",
    "tick",
]
