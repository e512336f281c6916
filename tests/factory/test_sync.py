"""What `apply` does to the running system: schedules and gate policies follow the
definition (and come back on rollback); runs record the factory version. Real store,
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa

from kibble.config import Settings
from kibble.context import Context
from kibble.factory import GatePolicy, PipelineSpec, service
from kibble.pipelines import run_pipeline
from kibble.pipelines.schedules import add_schedule, set_paused
from kibble.registry.promotion import Evaluation, gate_candidate
from kibble.store.models import ModelVersion, PipelineSchedule, RegisteredModel, Run
from kibble.store.repositories.pipelines import Schedules
from kibble.store.repositories.registry import Registry
from tests.factory.test_validate import make
from tests.pipelines.flows import basic

RNG = np.random.default_rng(5)
BASELINE = {f"u{i}": float(v) for i, v in enumerate(RNG.uniform(0.0, 0.5, 200))}
CHAMPION = {u: v + 0.2 for u, v in BASELINE.items()}
# clearly above the baseline, 0.03 below the champion: the champion tolerance decides
CANDIDATE = {u: v - 0.03 for u, v in CHAMPION.items()}


@pytest.fixture
def ctx(backend_settings: Settings) -> Iterator[Context]:
    context = Context.open(backend_settings, project="k9s", actor="ana")
    yield context
    context.close()


def _schedules(ctx: Context) -> dict[str, PipelineSchedule]:
    with ctx.store.session() as s:
        return {row.name: row for row in Schedules(s, ctx.project_id).list()}


def _register(ctx: Context, name: str, versions: int) -> None:
    with ctx.store.session() as s:
        model = RegisteredModel(project_id=ctx.project_id, name=name)
        s.add(model)
        s.flush()
        for v in range(1, versions + 1):
            s.add(
                ModelVersion(
                    project_id=ctx.project_id,
                    model_id=model.id,
                    version=v,
                    artifact_digest=f"sha256:{v:064d}",
                    flavor="popularity",
                )
            )


LISTS = {u: [f"i{i % 20}", f"i{(i + 1) % 20}"] for i, u in enumerate(BASELINE)}
"""The lists behind the metrics: the coverage gate's evidence (20 of 20 items shown)."""


def _gate(ctx: Context, name: str, version: int) -> tuple[bool, str, dict[str, float]]:
    evaluation = Evaluation(
        CANDIDATE, BASELINE, CHAMPION, recommendations=LISTS, reference_coverage=20
    )
    report = gate_candidate(ctx, name, version, evaluation)
    thresholds = {c.name: c.threshold for c in report.checks}
    return report.passed, report.policy_source, thresholds


def test_apply_stores_each_models_policy_and_the_gate_uses_it(ctx: Context) -> None:
    _register(ctx, "rec", 3)
    _register(ctx, "other", 1)
    service.apply(ctx, make(models={"rec": GatePolicy(champion_tolerance=0.1)}))
    passed, source, thresholds = _gate(ctx, "rec", 1)
    assert passed and source == "factory version 1"
    assert thresholds["not_worse_than_champion"] == -0.1
    # a model the definition does not declare is gated with the defaults (tolerance 0.01)
    passed, source, thresholds = _gate(ctx, "other", 1)
    assert not passed and source == "default"
    assert thresholds["not_worse_than_champion"] == -0.01

    service.apply(ctx, make(models={"rec": GatePolicy(champion_tolerance=0.0)}))
    assert _gate(ctx, "rec", 2)[:2] == (False, "factory version 2")
    service.rollback(ctx, 1)
    passed, source, thresholds = _gate(ctx, "rec", 3)
    assert passed and source == "factory version 3"
    assert thresholds["not_worse_than_champion"] == -0.1
    with ctx.store.session() as s:
        stored = Registry(s, ctx.project_id).gate_policy("rec")
        assert stored is not None and stored.policy["champion_tolerance"] == 0.1


def test_the_stored_report_names_the_policy_and_disabled_gates_are_skipped(ctx: Context) -> None:
    _register(ctx, "rec", 1)
    declared = GatePolicy(beat_baseline=False, slice_tolerance={"new_users": 0.2})
    service.apply(ctx, make(models={"rec": declared}))
    slices = {u: ("new_users" if i % 2 else "regulars") for i, u in enumerate(BASELINE)}
    worse = {u: v - 0.1 for u, v in BASELINE.items()}
    report = gate_candidate(ctx, "rec", 1, Evaluation(worse, BASELINE, slices=slices))
    names = {c.name: c for c in report.checks}
    assert "beats_baseline" not in names  # the definition turned this gate off
    assert names["slice:new_users"].passed and names["slice:new_users"].threshold == -0.2
    assert not names["slice:regulars"].passed  # the default 0.05 tolerance applies
    assert report.policy is not None and report.policy["slice_tolerances"] == {"new_users": 0.2}


def test_apply_syncs_schedules_and_rollback_restores_them(ctx: Context) -> None:
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    add_schedule(ctx, "by-hand", "tests.pipelines.flows:basic", cron="0 5 * * *", now=moment)
    first, _ = service.apply(ctx, make())
    rows = _schedules(ctx)
    assert set(rows) == {"by-hand", "daily"}
    assert (rows["daily"].kind, rows["daily"].cron) == ("cron", "0 2 * * *")
    assert rows["daily"].pipeline_ref == "tests.pipelines.flows:basic"
    assert (
        rows["daily"].factory_version == first.version and rows["by-hand"].factory_version is None
    )
    set_paused(ctx, "daily", True)

    second = make(
        pipelines={
            "daily": PipelineSpec(entrypoint="tests.pipelines.flows:basic", schedule="0 3 * * *"),
            "refresh": PipelineSpec(
                entrypoint="tests.pipelines.flows:parallel", triggers=["events"]
            ),
        }
    )
    service.apply(ctx, second)
    rows = _schedules(ctx)
    assert set(rows) == {"by-hand", "daily", "refresh-on-events"}
    assert rows["daily"].cron == "0 3 * * *" and rows["daily"].paused  # pause survives
    trigger = rows["refresh-on-events"]
    assert (trigger.kind, trigger.table_name, trigger.cron) == ("table", "events", "")

    service.apply(ctx, make(pipelines={}))
    assert set(_schedules(ctx)) == {"by-hand"}  # factory-made schedules go, hand-made stay

    service.rollback(ctx, 2)
    rows = _schedules(ctx)
    assert set(rows) == {"by-hand", "daily", "refresh-on-events"}
    assert rows["daily"].cron == "0 3 * * *"
    service.rollback(ctx, 1)
    rows = _schedules(ctx)
    assert set(rows) == {"by-hand", "daily"} and rows["daily"].cron == "0 2 * * *"
    assert rows["daily"].factory_version == 5


def test_reapplying_puts_back_a_schedule_removed_by_hand(ctx: Context) -> None:
    service.apply(ctx, make())
    with ctx.store.session() as s:
        s.delete(Schedules(s, ctx.project_id).get("daily"))
    version, created = service.apply(ctx, make())
    assert not created and version.version == 1
    assert _schedules(ctx)["daily"].cron == "0 2 * * *"


def test_runs_record_the_factory_version_they_started_under(ctx: Context) -> None:
    before = run_pipeline(basic, context=ctx)
    service.apply(ctx, make())
    service.apply(ctx, make(pipelines={}))
    after = run_pipeline(basic, context=ctx, no_cache=True)
    with ctx.store.session() as s:
        versions = {r.id: r.factory_version for r in s.scalars(sa.select(Run))}
    assert versions == {before.run_id: None, after.run_id: 2}
