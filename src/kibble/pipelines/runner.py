"""How a pipeline *runs*: records, caching, retries, timeouts, leases, heartbeats.

One ``Runner`` drives one run. It records the run and each step in the metadata store,
skips steps whose cache key matches an earlier success, hands step bodies to an
executor, retries with backoff, and keeps a heartbeat so a killed process leaves a
run that ``reap_crashed`` marks ``crashed`` and ``resume_run`` finishes.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa

from kibble.config import Settings
from kibble.context import Context
from kibble.errors import ConflictError, QuotaExceededError, UsageError
from kibble.lineage.openlineage import LineageEmitter
from kibble.pipelines.codeversion import code_version, environment
from kibble.pipelines.definitions import Pipeline, Step
from kibble.pipelines.executors import Executor, make_executor
from kibble.pipelines.hashing import cache_key
from kibble.pipelines.serde import decode, encode
from kibble.pipelines.tables import table_version
from kibble.pipelines.timing import backoff_delay
from kibble.pipelines.worker import invoke
from kibble.store.models import FactoryVersion, Run, StepRun
from kibble.store.repositories import ArtifactRecords
from kibble.store.repositories.pipelines import Leases, RunRecords

DONE = ("succeeded", "released")
RUN_LEASE = "__run__"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunResult:
    """What a run ended as. ``output(step)`` loads a step's output (from memory or store)."""

    run_id: str
    pipeline: str
    status: str
    held_reasons: list[str] = field(default_factory=list)
    error: str | None = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _values: dict[str, Any] = field(default_factory=dict, repr=False)
    _ctx: Context | None = field(default=None, repr=False)

    def output(self, step: str) -> Any:
        if step in self._values:
            return self._values[step]
        if step not in self.outputs or self._ctx is None:
            raise UsageError(f"step {step!r} has no output in run {self.run_id}", hint="")
        ref = self.outputs[step]
        return decode(self._ctx.artifacts.get_bytes(self._ctx.project, ref["digest"]), ref["codec"])


def _open(
    context: Context | None, settings: Settings | None, project: str | None
) -> tuple[Context, bool]:
    if context is not None:
        return context, False
    return Context.open(settings, project=project), True


def run_pipeline(
    pipeline: Pipeline,
    params: Mapping[str, Any] | None = None,
    *,
    context: Context | None = None,
    settings: Settings | None = None,
    project: str | None = None,
    executor: str | Executor | None = None,
    ray_address: str | None = None,
    no_cache: bool = False,
    tags: Mapping[str, Any] | None = None,
    ref: str | None = None,
) -> RunResult:
    """Run ``pipeline`` with ``params`` and record everything; returns the final state.

    A run that ends ``failed`` or ``held`` is returned, not raised: check ``status``.
    """
    ctx, owned = _open(context, settings, project)
    try:
        values = pipeline.validate_params(params or {})
        reap_crashed(ctx)
        run_id = _create_run(ctx, pipeline, values, dict(tags or {}), ref)
        return Runner(ctx, pipeline, run_id, executor, ray_address, no_cache).execute()
    finally:
        if owned:
            ctx.close()


def resume_run(
    pipeline: Pipeline,
    run_id: str,
    *,
    context: Context | None = None,
    settings: Settings | None = None,
    project: str | None = None,
    executor: str | Executor | None = None,
    ray_address: str | None = None,
    no_cache: bool = False,
) -> RunResult:
    """Finish a crashed, failed, held or released run: finished steps are reused."""
    ctx, owned = _open(context, settings, project)
    try:
        reap_crashed(ctx)
        with ctx.store.session() as session:
            run = RunRecords(session, ctx.project_id).get(run_id)
            if run.pipeline != pipeline.name:
                raise UsageError(
                    f"run {run.id} belongs to pipeline {run.pipeline!r}, not {pipeline.name!r}",
                    hint="resume it with its own pipeline",
                )
            if run.status == "running":
                raise ConflictError(
                    f"run {run.id} is still running (its heartbeat is fresh)",
                    hint=f"wait, or after {ctx.settings.pipelines.crash_after_s:.0f}s of "
                    "silence it is marked crashed and can be resumed",
                )
            run_id = run.id
        return Runner(ctx, pipeline, run_id, executor, ray_address, no_cache).execute()
    finally:
        if owned:
            ctx.close()


def _create_run(
    ctx: Context, pipeline: Pipeline, params: dict[str, Any], tags: dict[str, Any], ref: str | None
) -> str:
    settings = ctx.settings.pipelines
    module = sys.modules.get(next(iter(pipeline.steps.values())).func.__module__)
    version = code_version(
        getattr(module, "__file__", None), {s.name: s.source for s in pipeline.steps.values()}
    )
    if ref:
        tags["ref"] = ref
    with ctx.store.session() as session:
        records = RunRecords(session, ctx.project_id)
        fresh = now() - timedelta(seconds=settings.crash_after_s)
        active = records.count_active(fresh)
        if active >= settings.max_concurrent_runs:
            raise QuotaExceededError(
                f"project {ctx.project!r} already has {active} running pipeline runs",
                hint="wait for one to finish or raise pipelines.max_concurrent_runs",
            )
        run = records.create(
            pipeline=pipeline.name,
            status="pending",
            params=params,
            code_version=version,
            environment=environment(),
            tags=tags,
            # lineage: which applied factory definition (rules, gates) this run ran under
            factory_version=session.scalar(
                sa.select(sa.func.max(FactoryVersion.version)).where(
                    FactoryVersion.project_id == ctx.project_id
                )
            ),
        )
        records.ensure_steps(run.id, pipeline.order)
        return run.id


def reap_crashed(ctx: Context) -> list[str]:
    """Mark runs whose heartbeat stopped as ``crashed`` (and their running steps)."""
    limit = now() - timedelta(seconds=ctx.settings.pipelines.crash_after_s)
    crashed: list[str] = []
    with ctx.store.session() as session:
        records = RunRecords(session, ctx.project_id)
        for run in records.silent_since(limit):
            run.status = "crashed"
            run.error = "the process running it stopped sending heartbeats (killed or lost)"
            run.ended_at = now()
            for step_run in records.steps(run.id):
                if step_run.status == "running":
                    step_run.status = "crashed"
            crashed.append(run.id)
    return crashed


class Runner:
    def __init__(
        self,
        ctx: Context,
        pipeline: Pipeline,
        run_id: str,
        executor: str | Executor | None,
        ray_address: str | None,
        no_cache: bool,
    ) -> None:
        self.ctx = ctx
        self.pipeline = pipeline
        self.run_id = run_id
        self.no_cache = no_cache
        self.settings = ctx.settings.pipelines
        self.owner = uuid.uuid4().hex
        self.lease_ttl = self.settings.crash_after_s
        if executor is None or isinstance(executor, str):
            self.executor: Executor = make_executor(
                executor or self.settings.executor,
                max_workers=self.settings.max_workers,
                ray_address=ray_address or self.settings.ray_address,
            )
            self.owns_executor = True
        else:
            self.executor, self.owns_executor = executor, False
        self.emitter = LineageEmitter(ctx.settings, ctx.project)
        self.values: dict[str, Any] = {}
        self.refs: dict[str, dict[str, Any]] = {}
        self.durations: dict[str, float] = {}
        self._stop = threading.Event()

    # -- the run ------------------------------------------------------------------------

    def execute(self) -> RunResult:
        start = time.perf_counter()
        done, params = self._claim_run()
        self.emitter.emit_run("START", run_id=self.run_id, pipeline=self.pipeline.name)
        beat = threading.Thread(target=self._heartbeat, daemon=True, name="kibble-heartbeat")
        beat.start()
        status, error, reasons = "succeeded", None, list[str]()
        try:
            status, error, reasons = self._schedule(done, params)
        except BaseException as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._stop.set()
            beat.join(timeout=5)
            self._finish_run(status, error, reasons, time.perf_counter() - start)
            if self.owns_executor:
                self.executor.close()
            final = {"succeeded": "COMPLETE", "held": "ABORT"}.get(status, "FAIL")
            self.emitter.emit_run(
                final, run_id=self.run_id, pipeline=self.pipeline.name, error=error
            )
            self.emitter.close()
        return RunResult(
            run_id=self.run_id,
            pipeline=self.pipeline.name,
            status=status,
            held_reasons=reasons,
            error=error,
            outputs=dict(self.refs),
            _values=dict(self.values),
            _ctx=self.ctx,
        )

    def _claim_run(self) -> tuple[set[str], dict[str, Any]]:
        with self.ctx.store.session() as session:
            records = RunRecords(session, self.ctx.project_id)
            if not Leases(session, self.ctx.project_id).acquire(
                self.run_id, RUN_LEASE, self.owner, self.lease_ttl, now()
            ):
                raise ConflictError(
                    f"run {self.run_id} is being executed by another worker",
                    hint="wait for it; `kibble runs show RUN` shows its progress",
                )
            run = records.lock(self.run_id)
            run.status = "running"
            run.error = None
            run.heartbeat_at = now()
            run.started_at = run.started_at or now()
            run.ended_at = None
            records.ensure_steps(self.run_id, self.pipeline.order)
            done: set[str] = set()
            for step_run in records.steps(self.run_id):
                if step_run.status in DONE and step_run.name in self.pipeline.steps:
                    done.add(step_run.name)
                    self.refs[step_run.name] = step_run.outputs.get("value", {})
            return done, dict(run.params)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_s):
            try:
                with self.ctx.store.session() as session:
                    RunRecords(session, self.ctx.project_id).heartbeat(self.run_id, now())
                    Leases(session, self.ctx.project_id).renew(
                        self.run_id, self.owner, self.lease_ttl, now()
                    )
            except Exception:  # noqa: S112 - a missed beat is retried on the next tick
                continue

    def _schedule(
        self, done: set[str], params: dict[str, Any]
    ) -> tuple[str, str | None, list[str]]:
        pending = [name for name in self.pipeline.order if name not in done]
        failures: list[str] = []
        holds: list[str] = []
        width = max(1, self.executor.parallelism)
        with ThreadPoolExecutor(width, thread_name_prefix="kibble-step") as pool:
            running: dict[Future[str], str] = {}
            while pending or running:
                if not failures and not holds:
                    for name in list(pending):
                        if len(running) >= width:
                            break
                        if all(dep in done for dep in self.pipeline.deps[name]):
                            pending.remove(name)
                            if width == 1:
                                outcome = self._run_step(name, params)
                                self._settle(name, outcome, done, failures, holds)
                                break
                            running[pool.submit(self._run_step, name, params)] = name
                if not running:
                    if failures or holds or not pending:
                        break
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    self._settle(name, future.result(), done, failures, holds)
        if failures:
            return "failed", "; ".join(failures), []
        if holds:
            return "held", None, holds
        return "succeeded", None, []

    @staticmethod
    def _settle(
        name: str, outcome: str, done: set[str], failures: list[str], holds: list[str]
    ) -> None:
        kind, _, detail = outcome.partition(":")
        if kind == "ok":
            done.add(name)
        elif kind == "hold":
            holds.extend(f"{name}: {reason}" for reason in detail.split("\n") if reason)
        else:
            failures.append(f"{name}: {detail}")

    def _finish_run(self, status: str, error: str | None, reasons: list[str], took: float) -> None:
        with self.ctx.store.session() as session:
            run = RunRecords(session, self.ctx.project_id).get(self.run_id)
            run.status = status
            run.error = error
            if status == "held":
                run.held_reasons = reasons
            run.ended_at = now()
            run.heartbeat_at = now()
            run.metrics = {
                **run.metrics,
                "duration_s": round(took, 6),
                "steps_s": {**run.metrics.get("steps_s", {}), **self.durations},
            }
            Leases(session, self.ctx.project_id).release(self.run_id, RUN_LEASE, self.owner)

    # -- one step -----------------------------------------------------------------------

    def _step_inputs(self, item: Step, params: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        inputs = {dep: self.refs[dep] for dep in self.pipeline.deps[item.name]}
        step_params = {a: params[a] for a in item.arguments if a not in self.pipeline.steps}
        tables = {name: table_version(self.ctx, name) for name in item.tables}
        return inputs, step_params, tables

    def _run_step(self, name: str, params: dict[str, Any]) -> str:
        item = self.pipeline.steps[name]
        inputs, step_params, tables = self._step_inputs(item, params)
        key = cache_key(
            pipeline=self.pipeline.name,
            step=name,
            source=item.source,
            params=step_params,
            inputs={k: v["digest"] for k, v in inputs.items()},
            tables=tables,
            depends_on=item.depends_on,
        )
        recorded_inputs = {
            "artifacts": {k: v["digest"] for k, v in inputs.items()},
            "params": step_params,
            "tables": tables,
            "depends_on": list(item.depends_on),
        }
        in_edges = [
            {"direction": "in", "kind": "artifact", "name": k, "digest": v["digest"]}
            for k, v in inputs.items()
        ] + [
            {"direction": "in", "kind": "table", "name": t, "version": v} for t, v in tables.items()
        ]
        if (
            item.cache
            and not self.no_cache
            and self._reuse_cached(name, key, recorded_inputs, in_edges)
        ):
            return "ok:"
        with self.ctx.store.session() as session:
            if not Leases(session, self.ctx.project_id).acquire(
                self.run_id, name, self.owner, self.lease_ttl, now()
            ):
                return f"error:step {name} is being executed by another worker"
            RunRecords(session, self.ctx.project_id).update_step(
                self.run_id,
                name,
                status="running",
                attempts=StepRun.attempts + 1,
                cache_key=key,
                cached=False,
                inputs=recorded_inputs,
                started_at=now(),
                error=None,
            )
        self.emitter.emit(
            "START", run_id=self.run_id, pipeline=self.pipeline.name, step=name, inputs=in_edges
        )
        started = time.perf_counter()
        outcome = self._attempts(item, inputs, step_params)
        self.durations[name] = round(time.perf_counter() - started, 6)
        return self._record_outcome(item, outcome, recorded_inputs, in_edges)

    def _reuse_cached(
        self, name: str, key: str, recorded_inputs: dict[str, Any], in_edges: list[dict[str, Any]]
    ) -> bool:
        with self.ctx.store.session() as session:
            records = RunRecords(session, self.ctx.project_id)
            hit = records.find_cached(key)
            if hit is None:
                return False
            ref = hit.outputs.get("value") or {}
            if not ref or ArtifactRecords(session, self.ctx.project_id).find(ref["digest"]) is None:
                return False
            step_run = records.step(self.run_id, name)
            assert step_run is not None
            step_run.status = "succeeded"
            step_run.cached = True
            step_run.cache_key = key
            step_run.inputs = recorded_inputs
            step_run.outputs = {"value": ref, "cached_from": hit.run_id}
            step_run.started_at = step_run.ended_at = now()
            records.add_edges(
                self.run_id,
                name,
                [
                    *in_edges,
                    {"direction": "out", "kind": "artifact", "name": name, "digest": ref["digest"]},
                ],
            )
        self.refs[name] = ref
        self.durations[name] = 0.0
        return True

    def _task(
        self, item: Step, inputs: dict[str, Any], step_params: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "name": f"{self.pipeline.name}.{item.name}",
            "ref": item.ref,
            "project": self.ctx.project,
            "artifact_url": self.ctx.settings.artifact_url,
            "storage_options": self.ctx.settings.storage.fsspec_options(
                self.ctx.settings.artifact_url
            ),
            "inputs": inputs,
            "params": step_params,
            "run": self._run_info(item),
            "timeout_s": item.timeout_s,
            "cpus": item.cpus,
            "memory_mb": item.memory_mb,
        }

    def _local_kwargs(self, item: Step, step_params: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(step_params)
        for dep in self.pipeline.deps[item.name]:
            if dep not in self.values:
                ref = self.refs[dep]
                data = self.ctx.artifacts.get_bytes(self.ctx.project, ref["digest"])
                self.values[dep] = decode(data, ref["codec"])
            kwargs[dep] = self.values[dep]
        return kwargs

    def _invoke_local(self, item: Step, kwargs: dict[str, Any]) -> dict[str, Any]:
        return invoke(
            item.func,
            kwargs,
            self.ctx.artifacts,
            self.ctx.project,
            self._run_info(item),
            self.ctx,
        )

    def _run_info(self, item: Step) -> dict[str, Any]:
        """What a platform step needs to find its run and open the same store anywhere."""
        s = self.ctx.settings
        return {
            "run_id": self.run_id,
            "step": item.name,
            "project": self.ctx.project,
            "actor": self.ctx.actor,
            "settings": {
                "home": str(s.home),
                "database_url": str(s.database_url),
                "artifact_url": s.artifact_url,
            },
        }

    def _attempts(
        self, item: Step, inputs: dict[str, Any], step_params: dict[str, Any]
    ) -> dict[str, Any]:
        task = self._task(item, inputs, step_params)
        outcome: dict[str, Any] = {}
        logs: list[dict[str, Any]] = []
        for attempt in range(item.retries + 1):
            if attempt:  # the first attempt was counted when the step was marked running
                time.sleep(backoff_delay(attempt, item.backoff_s))
                with self.ctx.store.session() as session:
                    RunRecords(session, self.ctx.project_id).update_step(
                        self.run_id, item.name, attempts=StepRun.attempts + 1
                    )
            kwargs = self._local_kwargs(item, step_params) if self.executor.in_process else {}
            future = self.executor.submit(task, partial(self._invoke_local, item, kwargs))
            try:
                outcome = future.result(timeout=item.timeout_s)
            except FutureTimeout:
                self.executor.abandon()
                outcome = {
                    "status": "error",
                    "error": f"timed out after {item.timeout_s}s (attempt {attempt + 1})",
                    "logs": [],
                }
            except Exception as exc:
                outcome = {"status": "error", "error": f"{type(exc).__name__}: {exc}", "logs": []}
            logs.extend(outcome.get("logs", []))
            if outcome["status"] != "error":
                break
            logs.append(
                {
                    "level": "WARNING",
                    "message": f"attempt {attempt + 1} failed: {outcome['error']}",
                    "at": now().isoformat(),
                }
            )
        outcome["logs"] = logs
        return outcome

    def _record_outcome(
        self,
        item: Step,
        outcome: dict[str, Any],
        recorded_inputs: dict[str, Any],
        in_edges: list[dict[str, Any]],
    ) -> str:
        """One transaction: the step's end, its output, lineage and logs, its lease freed.

        It commits before the scheduler looks at the next step, so a crash after it
        resumes past this step and a crash before it runs the step again.
        """
        name = item.name
        status = {"ok": "succeeded", "hold": "held"}.get(outcome["status"], "failed")
        read_edges = [
            {"direction": "in", "kind": "table", "name": r["table"], "version": r["version"]}
            for r in outcome.get("reads", [])
        ]
        ref = outcome.get("output")
        edges = in_edges + read_edges
        values: dict[str, Any] = {
            "status": status,
            "ended_at": now(),
            "error": (outcome.get("error") if status == "failed" else None)
            or ("; ".join(outcome["reasons"]) if status == "held" else None),
        }
        if outcome.get("reads"):
            values["inputs"] = {**recorded_inputs, "reads": outcome["reads"]}
        with self.ctx.store.session() as session:
            records = RunRecords(session, self.ctx.project_id)
            if ref is not None:
                ArtifactRecords(session, self.ctx.project_id).record(
                    ref["digest"],
                    media_type=ref["media_type"],
                    size=ref["size"],
                    name=f"{self.pipeline.name}.{name}",
                    run_id=self.run_id,
                    meta={"step": name, "codec": ref["codec"]},
                )
                values["outputs"] = {"value": ref}
                edges.append(
                    {"direction": "out", "kind": "artifact", "name": name, "digest": ref["digest"]}
                )
            records.update_step(self.run_id, name, **values)
            records.add_edges(self.run_id, name, edges)
            records.add_logs(
                self.run_id,
                name,
                [{**line, "at": datetime.fromisoformat(line["at"])} for line in outcome["logs"]],
            )
            Leases(session, self.ctx.project_id).release(self.run_id, name, self.owner)
        state = {"succeeded": "COMPLETE", "held": "ABORT"}.get(status, "FAIL")
        self.emitter.emit(
            state,
            run_id=self.run_id,
            pipeline=self.pipeline.name,
            step=name,
            inputs=edges[: len(in_edges) + len(read_edges)],
            outputs=[{"digest": ref["digest"]}] if ref else [],
            error=outcome.get("error"),
        )
        if status == "succeeded":
            assert ref is not None
            self.refs[name] = ref
            if "value" in outcome:
                self.values[name] = outcome["value"]
            return "ok:"
        if status == "held":
            return "hold:" + "\n".join(outcome["reasons"])
        return f"error:{outcome.get('error')}"


def release(ctx: Context, run_id: str, reason: str) -> Run:
    """Let a held run go on: its held gate steps count as passed (output ``None``).

    Audited as ``run.release``. The run becomes ``released``; resume it (the CLI does)
    or let the scheduler pick it up.
    """
    if not reason.strip():
        raise UsageError("a release needs a reason", hint="pass --reason '...'")
    null = encode(None)
    ref = ctx.save_artifact(null.data, null.media_type, name="released-gate")
    with ctx.store.session() as session:
        records = RunRecords(session, ctx.project_id)
        run = records.lock(records.get(run_id).id)
        if run.status != "held":
            raise ConflictError(
                f"run {run.id} is {run.status}, not held", hint="only held runs can be released"
            )
        released = []
        for step_run in records.steps(run.id):
            if step_run.status == "held":
                step_run.status = "released"
                step_run.outputs = {
                    "value": {
                        "digest": ref.digest,
                        "size": ref.size,
                        "media_type": ref.media_type,
                        "codec": null.codec,
                    }
                }
                released.append(step_run.name)
        run.status = "released"
        run.tags = {
            **run.tags,
            "released": {
                "by": ctx.actor,
                "reason": reason,
                "at": now().isoformat(),
                "steps": released,
            },
        }
    ctx.audit("run.release", run.id, reason=reason, steps=released, held_reasons=run.held_reasons)
    return run
