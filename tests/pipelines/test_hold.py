"""Gate steps hold runs; release or a passing re-check lets them finish."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kibble.context import Context
from kibble.errors import ConflictError, UsageError
from kibble.pipelines import release, resume_run
from kibble.pipelines.schedules import recheck_held
from kibble.store.repositories import AuditLog
from kibble.store.repositories.pipelines import RunRecords
from tests.pipelines.flows import gated

REF = "tests.pipelines.flows:gated"


def statuses(ctx: Context, run_id: str) -> dict[str, str]:
    with ctx.store.session() as session:
        return {s.name: s.status for s in RunRecords(session, ctx.project_id).steps(run_id)}


def test_gate_holds_the_run_not_fails_it(context: Context, tmp_path: Path) -> None:
    result = gated.run({"workdir": str(tmp_path)}, context=context, ref=REF)
    assert result.status == "held"
    assert result.error is None
    assert result.held_reasons == ["enough: only 0 rows arrived, need 100"]
    assert statuses(context, result.run_id) == {
        "rows": "succeeded",
        "enough": "held",
        "train": "pending",
    }
    with context.store.session() as session:
        run = RunRecords(session, context.project_id).get(result.run_id)
    assert run.status == "held" and run.held_reasons == result.held_reasons


def test_release_is_audited_and_the_run_finishes(context: Context, tmp_path: Path) -> None:
    held = gated.run({"workdir": str(tmp_path)}, context=context)
    with pytest.raises(UsageError):
        release(context, held.run_id, "  ")
    released = release(context, held.run_id, "checked by hand: the source was quiet today")
    assert released.status == "released"
    with pytest.raises(ConflictError):
        release(context, held.run_id, "twice")
    done = resume_run(gated, held.run_id, context=context)
    assert done.status == "succeeded"
    assert done.output("train") == {"trained_on": None}
    assert statuses(context, held.run_id)["enough"] == "released"
    with context.store.session() as session:
        events = AuditLog(session, context.project_id).list(action="run.release")
    assert len(events) == 1 and events[0].target == held.run_id
    assert events[0].details["steps"] == ["enough"]


def test_scheduler_recheck_continues_when_the_gate_passes(context: Context, tmp_path: Path) -> None:
    held = gated.run({"workdir": str(tmp_path)}, context=context, ref=REF)
    later = datetime.now(UTC) + timedelta(seconds=context.settings.pipelines.held_recheck_s + 1)
    first = recheck_held(context, later)
    assert first == [{"run_id": held.run_id, "status": "held"}]  # still too few rows
    # not due again until held_recheck_s has passed
    assert recheck_held(context, later + timedelta(seconds=1)) == []
    (tmp_path / "rows.json").write_text(json.dumps(500))
    passed = recheck_held(context, later + timedelta(hours=1))
    assert passed == [{"run_id": held.run_id, "status": "succeeded"}]
    assert statuses(context, held.run_id) == {
        "rows": "succeeded",
        "enough": "succeeded",
        "train": "succeeded",
    }
