"""Guarded daily retraining with the simulator's faults: hold, alert, fix, resume; and a
clean day that trains, gates (probe included) and hands a passer to the controller."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kibble import GatePolicy
from kibble.context import Context
from kibble.data.tables import Tables
from kibble.factory.service import apply
from kibble.k9s import SimConfig
from kibble.k9s.daily import REF, REF_GATES, daily, gates
from kibble.k9s.factory import DEPLOYMENT, MODEL, k9s_factory
from kibble.k9s.simulate import deliver_late, load_shop, simulate, write_day
from kibble.monitoring.alerts import list_alerts
from kibble.pipelines import run_pipeline
from kibble.pipelines.schedules import recheck_held
from kibble.store.repositories.data import DataRecords
from kibble.store.repositories.registry import Registry
from kibble.store.repositories.serving import Rollouts

FAULTS = {
    "late_partition": ("data_late", deliver_late),
    "half_volume": ("data_incomplete", None),
    "corrupted_day": ("data_incorrect", None),
}
SMALL = {"als": {"factors": 8, "iterations": 3}}


def _params(day: str) -> dict[str, Any]:
    return {"day": day, "model": MODEL, "deployment": DEPLOYMENT, "candidates": SMALL}


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_holds_alerts_and_resumes_after_the_fix(
    fault: str, tmp_path: Path, context: Context
) -> None:
    shop = tmp_path / "shop"
    # the contract judges volume against >= 5 earlier partitions: load them first
    cfg = SimConfig(products=300, users=800, days=7, sessions_per_user=0.5, scenarios={fault: 6})
    simulate(cfg, shop)
    apply(context, k9s_factory(context.project, shop))
    for day in range(1, 7):
        loaded = run_pipeline(gates, {"day": f"2026-12-0{day}"}, context=context, ref=REF_GATES)
        assert loaded.status == "succeeded", loaded
    result = run_pipeline(daily, _params("2026-12-07"), context=context, ref=REF)
    kind, fix = FAULTS[fault]
    assert result.status == "held"
    assert any(kind in reason for reason in result.held_reasons), result.held_reasons
    assert kind in {a["kind"] for a in list_alerts(context)}
    # nothing fixed yet: the scheduler's re-check keeps it held
    recheck = recheck_held(context, datetime.now(UTC), force=True)
    assert recheck == [{"run_id": result.run_id, "status": "held"}]
    # the upstream fix arrives; the next re-check resumes and finishes the run
    if fix is not None:
        fix(shop)
    else:
        write_day(load_shop(shop), shop, 6, clean=True)
    recheck = recheck_held(context, datetime.now(UTC), force=True)
    assert recheck == [{"run_id": result.run_id, "status": "succeeded"}]
    assert kind not in {a["kind"] for a in list_alerts(context)}


def test_clean_days_register_gate_and_roll_out(tmp_path: Path, context: Context) -> None:
    """On a tiny shop no candidate beats recency-weighted popularity, so this factory's
    policy asks only that a candidate not trail the champion badly: it passes, and the
    rollout step hands it to the controller under the declared canary policy."""
    shop = tmp_path / "shop"
    simulate(SimConfig(products=300, users=800, days=3, sessions_per_user=0.8), shop)
    factory = k9s_factory(context.project, shop)
    lenient = GatePolicy(primary_metric="ndcg@10", beat_baseline=False, champion_tolerance=1.0)
    apply(context, factory.model_copy(update={"models": {MODEL: lenient}}))
    first = run_pipeline(daily, _params("2026-12-02"), context=context, ref=REF)
    assert first.status == "succeeded", first
    assert first.output("train")["baseline"] == 1  # the first model: baseline and champion
    second = run_pipeline(daily, _params("2026-12-03"), context=context, ref=REF)
    assert second.status == "succeeded", second
    assert list_alerts(context) == []
    # the day went through ingestion into the lake, and its checks were recorded
    assert Tables(context).polars("events", partition="2026-12-03").height > 0
    with context.store.session() as session:
        records = DataRecords(session, context.project_id)
        checks = records.latest_checks(records.dataset("events"))
        assert {c.name for c in checks} >= {"schema", "values", "foreign_key:item_id"}
        reg = Registry(session, context.project_id)
        model = reg.model(MODEL)
        candidate = reg.version(model, 2)
        # lineage: version -> the run that trained it -> the table versions it read
        assert candidate.run_id == second.run_id
        assert "events" in candidate.lineage["tables"]
        assert candidate.lineage["factory_version"] == 1
    gate = second.output("gate")
    assert [e["version"] for e in gate["passed"]] == [2], gate
    report_checks = _report_checks(context, 2)
    assert {"probe:no_crash", "probe:p99_latency_ms", "coverage", "slice:warm"} <= report_checks
    assert second.output("rollout")["started"]["policy"] == "canary"
    with context.store.session() as session:
        active = Rollouts(session, context.project_id).active(DEPLOYMENT)
        assert active is not None and active.challenger == f"{MODEL}:2"
        assert active.steps == [0.1, 0.5, 1.0]


def _report_checks(context: Context, version: int) -> set[str]:
    import sqlalchemy as sa

    from kibble.store.models import GateReportRecord

    with context.store.session() as session:
        reg = Registry(session, context.project_id)
        row = reg.version(reg.model(MODEL), version)
        report = session.scalars(
            sa.select(GateReportRecord).where(GateReportRecord.version_id == row.id)
        ).one()
        return {c["name"] for c in report.report["checks"]}
