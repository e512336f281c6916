"""Apply, plan, history and rollback against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from kibble.config import Settings
from kibble.context import Context
from kibble.errors import ConflictError, NotFoundError, UsageError
from kibble.factory import AlertRule, Factory, GatePolicy, service
from kibble.store.models import AuditEvent, FactoryVersion
from tests.factory.test_validate import make


@pytest.fixture
def ctx(backend_settings: Settings) -> Iterator[Context]:
    context = Context.open(backend_settings, project="k9s", actor="ana")
    yield context
    context.close()


def test_apply_is_idempotent(ctx: Context) -> None:
    first, created = service.apply(ctx, make(), git={"commit": "abc"})
    assert created and first.version == 1
    again, created_again = service.apply(ctx, make())
    assert not created_again and again.version == 1
    assert [v.version for v in service.history(ctx)] == [1]
    assert service.plan(ctx, make()).empty


def test_plan_shows_exact_changes_then_apply_records_them(ctx: Context) -> None:
    service.apply(ctx, make())
    changed = make(alerts=[AlertRule(name="ctr", metric="ctr", condition="<", threshold=0.05)])
    plan = service.plan(ctx, changed)
    assert [c.render() for c in plan.changes] == ["~ alerts.ctr.threshold: 0.01 -> 0.05"]
    version, created = service.apply(ctx, changed)
    assert created and version.version == 2
    with ctx.store.session() as s:
        actions = s.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.project_id == ctx.project_id)
        ).all()
    assert actions.count("factory.apply") == 2


def test_rollback_restores_the_earlier_definition(ctx: Context) -> None:
    service.apply(ctx, make())
    service.apply(ctx, make(alerts=[]))
    restored, created = service.rollback(ctx, 1)
    assert created and restored.version == 3
    assert restored.spec == service.get_version(ctx, 1).spec
    assert restored.note == "rollback to version 1"
    with pytest.raises(NotFoundError, match="kibble factory history"):
        service.rollback(ctx, 42)


def test_removing_all_gates_needs_allow(ctx: Context) -> None:
    ungated = make(
        models={"rec": GatePolicy(beat_baseline=False, safety_probe=False, min_coverage_ratio=0)}
    )
    with pytest.raises(ConflictError, match="--allow no-gates"):
        service.apply(ctx, ungated)
    assert service.active(ctx) is None
    version, _ = service.apply(ctx, ungated, allow={"no-gates"})
    assert version.allowed == ["no-gates"]


def test_breaking_contract_needs_allow(ctx: Context) -> None:
    existing = {"events": {"event_id": "int64"}}
    with pytest.raises(ConflictError, match="breaking-contract"):
        service.apply(ctx, make(), existing=existing)
    service.apply(ctx, make(), existing=existing, allow={"breaking-contract"})


def test_invalid_definitions_and_wrong_project_are_refused(ctx: Context) -> None:
    with pytest.raises(UsageError, match="invalid"):
        service.apply(ctx, make(deployments={"x": {"model": "ghost"}}))
    with pytest.raises(UsageError, match="--project"):
        service.apply(ctx, Factory(project="other"))
    with pytest.raises(UsageError, match="unknown --allow"):
        service.apply(ctx, make(), allow={"everything"})


def test_concurrent_applies_never_duplicate_a_version(ctx: Context) -> None:
    outcomes: list[str] = []
    definitions = [
        make(alerts=[AlertRule(name="ctr", metric="ctr", condition="<", threshold=0.01 * (i + 2))])
        for i in range(4)
    ]

    def apply_one(factory: Factory) -> None:
        try:
            service.apply(ctx, factory)
            outcomes.append("applied")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=apply_one, args=(d,)) for d in definitions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with ctx.store.session() as s:
        versions = s.scalars(
            sa.select(FactoryVersion.version).where(FactoryVersion.project_id == ctx.project_id)
        ).all()
    assert sorted(versions) == list(range(1, len(versions) + 1))
    assert len(versions) == outcomes.count("applied") >= 1
