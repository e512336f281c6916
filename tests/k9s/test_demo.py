"""`kibble demo --quick` end to end, as a user runs it: the story it tells, and that every
part of it is a decision kibble recorded (runs, gate reports, rollouts, factory versions,
alerts), readable with the ordinary commands afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def kibble(home: Path, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    result = subprocess.run(
        [sys.executable, "-m", "kibble", "--home", str(home), *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.timeout(1500)  # eight days of a shop: ~4 min alone, far more on a busy machine
def test_quick_demo_tells_the_story_from_the_store(home: Path) -> None:
    # pinned days and seed: the same shop, seasons and outcomes whatever the date today
    summary = kibble(home, "demo", "--quick", "--until", "2026-11-30")
    keys = {"days", "promotions", "rollbacks", "ab_results", "alerts", "wall_seconds", "home"}
    assert keys | {"factory_versions"} <= set(summary)
    assert summary["home"] == str(home)
    days = summary["days"]
    assert len(days) == 8

    # a late day held its run, and the run resumed when the files arrived
    late = next(d for d in days if any(r["kind"] == "data_late" for r in d["held_reasons"]))
    assert late["status"] == "resumed" and "has not arrived" in late["held_reasons"][0]["message"]
    # the gate refused a candidate, with the checks that failed
    refused = [v for v in summary["versions"] if v["gate"] == "refused"]
    assert refused and all(v["failed_checks"] and v["status"] == "archived" for v in refused)
    # the rollout controller promoted one challenger and rolled one back, on live traffic
    assert summary["promotions"] and summary["rollbacks"]
    assert {r["decided_by"] for r in summary["ab_results"]} == {"rollout controller"}
    slowed = next(d for d in days if d["traffic"].get("fault"))
    assert slowed["traffic"]["all"]["p99_ms"] > 1000  # measured by the customers
    assert any("p99" in r["reason"] for r in summary["rollbacks"])

    # the shop's two weeks of events before day one are the monitors' baseline; the
    # incident's second slow day raises the feedback-loop alert with default settings,
    # from the latency the customers met and the clicks they no longer made
    history = summary["history"]
    assert history["days"] == 14 and history["events"] > 0 and history["last"] < days[0]["date"]
    loop = next(a for a in summary["alerts"] if a["kind"] == "feedback_loop")
    assert "latency_p99_ms" in loop["evidence"]["rising"]
    assert {"ctr", "feedback_per_impression"} <= set(loop["evidence"]["falling"])
    p99 = loop["evidence"]["signals"]["latency_p99_ms"]
    assert max(p99["observed"]) > 1000 and p99["measured_days"] >= 4

    # the cats launch: the catalogue's contract held the day, the team changed the
    # factory, later models record the new version, cat owners click more after it
    cats = next(d for d in days if any("species" in r["message"] for r in d["held_reasons"]))
    assert cats["status"] == "resumed"
    first, second = summary["factory_versions"]
    assert (first["version"], second["version"]) == (1, 2)
    assert "changed tables.products.columns.species.allowed" in second["changes"]
    after = [v for v in summary["versions"] if v["factory_version"] == 2]
    assert {v["model"].split("-v")[0] for v in after} >= {"als", "hybrid"}
    story = summary["cats"]
    assert story["visits_before"] and story["visits_after"]
    assert story["ctr_after"] > story["ctr_before"]

    # ... and all of it is where the ordinary commands look
    model = kibble(home, "models", "show", summary["model"])
    assert len(model["versions"]) == len(summary["versions"])
    runs = {r["run_id"]: r for r in kibble(home, "runs", "list", "--limit", "200")}
    assert runs[late["run_id"]]["status"] == "succeeded"
    assert all(v["run_id"] in runs for v in model["versions"])
    assert [f["version"] for f in kibble(home, "factory", "history")] == [2, 1]
    rollout = kibble(home, "rollout", "status", "--deployment", "k9s")
    assert rollout["policy"] == "canary"
    kinds = {a["kind"] for a in kibble(home, "alerts", "list", "--all")}
    assert {"data_late", "data_incorrect", "gate_failed", "feedback_loop"} <= kinds


def demo_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`kibble [ARGS]` as a reader runs it in ``folder``: no KIBBLE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    return subprocess.run(
        [sys.executable, "-m", "kibble", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=1400,
    )


@pytest.mark.slow
@pytest.mark.timeout(3000)  # two quick demos and a small one
def test_demo_runs_are_safe_to_repeat(tmp_path: Path) -> None:
    quick = demo_in(tmp_path, "demo", "--quick", "--until", "2026-11-30", "--json")
    assert quick.returncode == 0, quick.stderr
    home = tmp_path / ".kibble" / "demo-quick"
    assert json.loads(quick.stdout)["home"] == str(home)
    # the same run again: reused, said so, nothing redone
    again = demo_in(tmp_path, "demo", "--quick", "--until", "2026-11-30")
    assert again.returncode == 0, again.stderr
    assert f"reused the finished demo-quick run in {home}" in again.stdout
    assert "Versions" in again.stdout  # its summary is shown again
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
