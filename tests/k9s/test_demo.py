"""`kibble demo --quick` end to end, as a user runs it: the outcomes, not the exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_quick_demo_shows_the_whole_loop(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    result = subprocess.run(
        [sys.executable, "-m", "kibble", "--home", str(home), "demo", "--quick", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["home"] == str(home)
    days = summary["days"]
    assert len(days) == 3
    # a held run with its reason, which resumed by itself the next day
    held = [d for d in days if d["held_reasons"]]
    assert held and held[0]["status"] == "resumed"
    assert held[0]["held_reasons"][0]["kind"] == "data_late"
    assert held[0]["run_status"] == "succeeded"  # the scheduler's re-check resumed the run
    # a promotion and a rollback, each with the A/B numbers behind it
    promoted = [p for p in summary["promotions"] if "ci95" in p]
    assert promoted and promoted[0]["ci95"][0] > 0
    assert promoted[0]["challenger_ctr"] > promoted[0]["champion_ctr"]
    assert summary["rollbacks"] and all(r["ci95"][0] <= 0 for r in summary["rollbacks"])
    assert days[-1]["champion"] != "popularity-v0"
    assert all(len(r["arms"]) == 3 for r in summary["ab_results"])
    # alerts: the late data (resolved), drift on the cats launch, feedback loop on latency
    alerts = {a["kind"]: a for a in summary["alerts"]}
    assert alerts["data_late"]["status"] == "resolved"
    assert alerts["drift"]["evidence"]["psi"] > 0.2
    loop = alerts["feedback_loop"]["evidence"]
    assert loop["ctr"] < 0.5 * loop["previous_ctr"] and loop["abandon_rate"] > 0.5
    assert summary["wall_seconds"] < 120
    # the alerts went to the real alert store: `kibble alerts list --all --json` sees them
    listed = subprocess.run(
        [sys.executable, "-m", "kibble", "--home", str(home), "alerts", "list", "--all", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert {"data_late", "drift", "feedback_loop"} <= {a["kind"] for a in json.loads(listed.stdout)}
    runs = subprocess.run(
        [sys.executable, "-m", "kibble", "--home", str(home), "runs", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert runs.returncode == 0, runs.stderr
    recorded = {r["run_id"]: r for r in json.loads(runs.stdout)}
    assert recorded[held[0]["run_id"]]["status"] == "succeeded"
