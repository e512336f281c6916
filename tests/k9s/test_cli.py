"""`kibble k9s ...` commands: JSON out, faults in, fixes delivered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from kibble.cli.main import app


def k9s(home: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--home", str(home), "k9s", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_simulate_deliver_redeliver(tmp_path: Path) -> None:
    out = str(tmp_path / "shop")
    summary = k9s(
        tmp_path, "simulate", "--out", out, "--days", "3", "--products", "200",
        "--users", "100", "--format", "jsonl", "-s", "late_partition:2", "-s", "corrupted_day:1",
        "--json",
    )  # fmt: skip
    assert [d["faults"] for d in summary["days"]] == [[], ["corrupted_day"], ["late_partition"]]
    assert "/late/" in summary["days"][2]["path"]
    assert k9s(tmp_path, "deliver", "--out", out, "--json") == {"delivered": ["2026-12-03"]}
    fixed = k9s(tmp_path, "redeliver", "--out", out, "--day", "2026-12-02", "--json")
    assert fixed["faults"] == [] and fixed["events"] == summary["days"][1]["events"]


def test_bad_scenario_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path), "k9s", "simulate", "--out", str(tmp_path), "-s", "meteor"]
    )
    assert result.exit_code != 0
    assert "unknown scenario" in str(result.exception) + result.output
