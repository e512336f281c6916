"""Alias moves on real SQLite and PostgreSQL: history, audit, rollback, racing promoters."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from kibble.config import Settings
from kibble.context import Context
from kibble.errors import UsageError
from kibble.store.models import AuditEvent, ModelAlias, ModelVersion, RegisteredModel
from kibble.store.repositories.registry import Registry


@pytest.fixture
def ctx(backend_settings: Settings) -> Iterator[Context]:
    context = Context.open(backend_settings)
    with context.store.session() as s:
        model = RegisteredModel(project_id=context.project_id, name="recs")
        s.add(model)
        s.flush()
        for v in range(1, 9):
            s.add(
                ModelVersion(
                    project_id=context.project_id,
                    model_id=model.id,
                    version=v,
                    artifact_digest=f"sha256:{v:064d}",
                    flavor="popularity",
                )
            )
    yield context
    context.close()


def _champion(ctx: Context) -> int | None:
    with ctx.store.session() as s:
        reg = Registry(s, ctx.project_id)
        v = reg.alias(reg.model("recs"), "champion")
        return None if v is None else v.version


def test_promote_writes_history_and_audit_and_rolls_back(ctx: Context) -> None:
    for v in (1, 2, 3):
        with ctx.store.session() as s:
            Registry(s, ctx.project_id).move_alias("recs", "champion", v, actor="ann", reason="ok")
    assert _champion(ctx) == 3
    with ctx.store.session() as s:
        Registry(s, ctx.project_id).rollback("recs", actor="bob")
    assert _champion(ctx) == 2
    with ctx.store.session() as s:
        hist = Registry(s, ctx.project_id).history("recs")
        assert [h.actor for h in hist] == ["ann", "ann", "ann", "bob"]
        audits = s.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "models.alias.champion")
        ).all()
        assert len(audits) == 4


def test_bad_alias_and_nothing_to_roll_back(ctx: Context) -> None:
    with ctx.store.session() as s:
        reg = Registry(s, ctx.project_id)
        with pytest.raises(UsageError):
            reg.move_alias("recs", "king", 1, actor="ann")
        with pytest.raises(UsageError):
            reg.rollback("recs", actor="ann")


def test_racing_promoters_leave_exactly_one_champion(ctx: Context) -> None:
    def promote(v: int) -> None:
        with ctx.store.session() as s:
            Registry(s, ctx.project_id).move_alias("recs", "champion", v, actor=f"p{v}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(promote, range(1, 9)))
    with ctx.store.session() as s:
        rows = s.scalars(sa.select(ModelAlias).where(ModelAlias.alias == "champion")).all()
        assert len(rows) == 1
        hist = Registry(s, ctx.project_id).history("recs")
        assert len(hist) == 8
        # each move saw the previous one: the history forms a single chain
        assert sum(h.from_version_id is None for h in hist) == 1
        assert hist[-1].to_version_id == rows[0].version_id
        chain = {h.from_version_id: h.to_version_id for h in hist}
        step, seen = None, []
        while step in chain:
            step = chain[step]
            seen.append(step)
        assert len(seen) == 8 and seen[-1] == rows[0].version_id
        # the audit trail has one event per move, with the same from -> to and actor
        audits = s.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "models.alias.champion")
        ).all()
        assert sorted((a.actor, a.details["from"], a.details["to"]) for a in audits) == sorted(
            (h.actor, h.from_version_id, h.to_version_id) for h in hist
        )
