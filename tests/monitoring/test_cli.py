"""`kibble monitor` and `kibble alerts` as a user runs them: real subprocesses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kibble.config import load_settings
from kibble.context import Context
from kibble.monitoring import Point, raise_alert, record_metrics
from tests.cli.test_cli import kibble


def seed(home: Path) -> str:
    context = Context.open(load_settings({"home": home}, environ={}))
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    points = [
        Point(
            "model.ctr",
            0.05 + 0.01 * i,
            now - timedelta(days=6 - i),
            now - timedelta(days=5 - i),
            {"deployment": "home", "arm": "champion"},
        )
        for i in range(7)
    ]
    points.append(Point("model.ctr", 0.3, now, now + timedelta(days=1), {"deployment": "search"}))
    points.append(
        Point(
            "system.latency_p99_ms",
            80.0,
            datetime.now(UTC) - timedelta(minutes=30),
            datetime.now(UTC) + timedelta(minutes=30),
            {"deployment": "home"},
        )
    )
    record_metrics(context, points)
    alert = raise_alert(
        context,
        "latency_sla",
        "latency_sla|deployment=home",
        "p99 80 ms over the 50 ms SLA",
        {"p99": 80},
        "critical",
        notifiers=[],
    )
    context.close()
    return str(alert.alert["id"])


def test_monitor_json_and_table_with_sparklines(home: Path) -> None:
    seed(home)
    result = kibble("monitor", "--deployment", "home", "--since", "14d", "--json", home=home)
    assert result.returncode == 0, result.stderr
    series = {(s["name"], s["labels"].get("arm")): s for s in json.loads(result.stdout)}
    assert set(series) == {("model.ctr", "champion"), ("system.latency_p99_ms", None)}
    ctr = series[("model.ctr", "champion")]
    assert len(ctr["points"]) == 7 and abs(ctr["last"] - 0.11) < 1e-9

    table = kibble("monitor", "-m", "model.", "--since", "14d", home=home)
    assert table.returncode == 0, table.stderr
    assert "model.ctr" in table.stdout and "system.latency" not in table.stdout
    assert "▁" in table.stdout and "█" in table.stdout

    bad = kibble("monitor", "--since", "soon", home=home)
    assert bad.returncode == 2 and "duration" in bad.stderr


@pytest.mark.slow
def test_alerts_list_ack_and_evaluate(home: Path) -> None:
    alert_id = seed(home)
    listed = kibble("alerts", "list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    [alert] = json.loads(listed.stdout)
    assert alert["id"] == alert_id and alert["status"] == "open"

    table = kibble("alerts", "list", home=home)
    assert alert_id[:12] in table.stdout
    # The 12 characters the table shows are enough to acknowledge it.
    acked = kibble("alerts", "ack", alert_id[:12], "--note", "scaling up", "--json", home=home)
    assert acked.returncode == 0, acked.stderr
    assert json.loads(acked.stdout)["status"] == "acked"

    evaluated = kibble("alerts", "evaluate", "--json", home=home)
    assert evaluated.returncode == 0, evaluated.stderr
    [row] = json.loads(evaluated.stdout)
    assert row["rule"] == "latency_sla" and row["firing"] and row["action"] == "repeated"

    shown = kibble("alerts", "show", alert_id[:12], "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["evidence"]["rule"] == "latency_sla"  # the rule refreshed the evidence
    assert [h["action"] for h in detail["history"]] == ["raised", "acked", "repeated"]

    missing = kibble("alerts", "ack", "0" * 32, home=home)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
