"""`kibble demo --quick` end to end, as a user runs it: the outcomes, and that the platform
recorded them (tables, checks, registered versions, alias history, metrics, alerts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kibble.config import load_settings
from kibble.context import Context
from kibble.data.tables import Tables
from kibble.monitoring.store import query_metrics
from kibble.store.models import CheckResultRecord, GateReportRecord, ModelVersion, Run
from kibble.store.repositories.registry import Registry


def kibble(home: Path, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    result = subprocess.run(
        [sys.executable, "-m", "kibble", "--home", str(home), *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_quick_demo_shows_the_whole_loop_and_records_it(home: Path) -> None:
    # pinned days and seed: the same shop, seasons and outcomes whatever the date today
    summary = kibble(home, "demo", "--quick", "--until", "2026-11-30")
    assert summary["home"] == str(home)
    days = summary["days"]
    assert len(days) == 3
    # a held run with its reason, which the scheduler's re-check resumed the next day
    held = [d for d in days if d["held_reasons"]]
    assert held and held[0]["status"] == "resumed"
    assert held[0]["held_reasons"][0]["kind"] == "data_late"
    assert "has not arrived" in held[0]["held_reasons"][0]["message"]
    assert held[0]["run_status"] == "succeeded"
    # a promotion and a rollback, each with the A/B numbers behind it
    promoted = [p for p in summary["promotions"] if "ci95" in p]
    assert promoted and promoted[0]["ci95"][0] > 0
    assert promoted[0]["challenger_ctr"] > promoted[0]["champion_ctr"]
    assert promoted[0]["gate_report_id"]
    assert summary["rollbacks"] and all(r["ci95"][0] <= 0 for r in summary["rollbacks"])
    assert days[-1]["champion"] != "popularity-v1"
    assert all(len(r["arms"]) == 2 for r in summary["ab_results"])
    # alerts: the late data (resolved), drift on the cats launch, feedback loop on latency
    alerts = {a["kind"]: a for a in summary["alerts"]}
    assert alerts["data_late"]["status"] == "resolved"
    # resolved, it says what happened, not what was feared
    assert alerts["data_late"]["message"].startswith(f"partition {held[0]['date']} arrived late")
    drift = alerts["drift"]["evidence"]
    species = next(f for f in drift["features"] if f["feature"] == "species")
    assert species["drifted"] and "cat" in species["new_categories"] and species["psi"] > 0.2
    assert summary["drift"][-1]["drifted"] == ["species"]
    loop = alerts["feedback_loop"]["evidence"]
    assert {"ctr", "feedback_per_impression"} <= set(loop["falling"])
    assert loop["rising"] == ["latency_p99_ms"]

    # ... and all of it is in the platform's store, where the CLI and the dashboard look
    assert {"data_late", "drift", "feedback_loop"} <= {
        a["kind"] for a in kibble(home, "alerts", "list", "--all")
    }
    runs = {r["run_id"]: r for r in kibble(home, "runs", "list")}
    assert runs[held[0]["run_id"]]["status"] == "succeeded"
    context = Context.open(load_settings({"home": str(home)}))
    try:
        _assert_recorded(context, summary)
    finally:
        context.close()


def _assert_recorded(context: Context, summary: dict[str, Any]) -> None:
    tables = Tables(context)
    events = tables.polars("events", columns=["date"])
    assert sorted({str(d) for d in events["date"].unique()}) == [d["date"] for d in summary["days"]]
    assert tables.polars("products", columns=["species"])["species"].unique().to_list()
    model = summary["model"]
    promoted, rolled_back = summary["promotions"][-1], summary["rollbacks"][0]
    with context.store.session() as session:
        checks = session.scalars(
            sa.select(CheckResultRecord).where(CheckResultRecord.name == "freshness")
        ).all()
        late = summary["days"][1]["date"]
        assert any(c.partition == late and c.status == "fail" for c in checks)
        reg = Registry(session, context.project_id)
        versions = session.scalars(
            sa.select(ModelVersion).where(ModelVersion.model_id == reg.model(model).id)
        ).all()
        assert len(versions) >= 3 and {v.flavor for v in versions} >= {"popularity", "als"}
        champion = reg.alias(reg.model(model), "champion")
        assert champion is not None and champion.version == promoted["version"]
        baseline = reg.alias(reg.model(model), "baseline")
        assert baseline is not None and baseline.flavor == "popularity"
        history = [h for h in reg.history(model) if h.alias == "champion"]
        assert any(h.reason.startswith("rolled back") for h in history)
        gate = session.get(GateReportRecord, promoted["gate_report_id"])
        assert gate is not None and gate.passed
        # the demo runs from its factory definition: its gate policy decided, its version
        # is on every run
        assert summary["factory_version"] == 1
        assert gate.report["policy_source"] == "factory version 1"
        assert gate.report["policy"]["metric"] == "clicks"
        runs = session.scalars(sa.select(Run).where(Run.project_id == context.project_id)).all()
        assert runs and {r.factory_version for r in runs} == {1}
        back = next(v for v in versions if v.version == rolled_back["rolled_back_version"])
        assert back.metrics["ab"]["ci95"] == rolled_back["ci95"]
    last = summary["days"][-1]["date"]
    psi = query_metrics(context, "drift.psi", "3650d", {"feature": "species"})
    assert any(p.window_start.date().isoformat() == last and p.value > 0.2 for p in psi)
    assert query_metrics(context, "model.ctr", "3650d", {"deployment": "k9s"})


def demo_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`kibble [ARGS]` as a reader runs it in ``folder``: no KIBBLE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    return subprocess.run(
        [sys.executable, "-m", "kibble", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=300,
    )


@pytest.mark.slow
def test_demo_runs_are_safe_to_repeat(tmp_path: Path) -> None:
    quick = demo_in(tmp_path, "demo", "--quick", "--until", "2026-11-30", "--json")
    assert quick.returncode == 0, quick.stderr
    home = tmp_path / ".kibble" / "demo-quick"
    assert json.loads(quick.stdout)["home"] == str(home)
    # the same run again: reused, said so, nothing redone
    again = demo_in(tmp_path, "demo", "--quick", "--until", "2026-11-30")
    assert again.returncode == 0, again.stderr
    assert f"reused the finished demo-quick run in {home}" in again.stdout
    assert "Promotions" in again.stdout  # its summary is shown again
    # another size gets a home of its own and leaves the quick one alone
    before = (home / "demo.json").read_text()
    small = demo_in(
        tmp_path,
        "demo",
        "--days",
        "2",
        "--products",
        "1000",
        "--users",
        "500",
        "--until",
        "2026-11-30",
    )
    assert small.returncode == 0, small.stderr
    assert (tmp_path / ".kibble" / "demo-2d-1000p-500u" / "demo.json").exists()
    assert (home / "demo.json").read_text() == before
    # other days in the same size start that home afresh, and say so
    later = demo_in(tmp_path, "demo", "--quick", "--until", "2026-12-01", "--json")
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout)["days"][-1]["date"] == "2026-12-01"
    # a home holding one size refuses another: never overwrite another run's data
    refused = demo_in(tmp_path, "--home", str(home), "demo", "--days", "2", "--until", "2026-11-30")
    assert refused.returncode == 2 and "holds the demo-quick run" in refused.stderr
