"""The pipeline commands as a user runs them: real subprocesses, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kibble.artifacts import sha256_digest
from kibble.pipelines.serde import encode
from tests.pipelines.flows import doubled, numbers, total

ROOT = Path(__file__).resolve().parents[2]


def kibble(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    return subprocess.run(
        [sys.executable, "-m", "kibble", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_run_inspect_compare_and_lineage(home: Path) -> None:
    first = as_json(kibble(home, "run", "tests.pipelines.flows:basic", "-P", "n=3", "--json"))
    second = as_json(kibble(home, "run", "tests.pipelines.flows:basic", "-P", "n=4", "--json"))
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["status"] == "succeeded"
    # the CLI gives the same bytes a notebook run does
    expected = sha256_digest(encode(total.func(doubled.func(numbers.func(3)), list(range(3)))).data)
    assert first["outputs"]["total"]["digest"] == expected

    listed = as_json(kibble(home, "runs", "list", "--json"))
    assert [r["params"] for r in listed] == [{"n": 4}, {"n": 3}]  # type: ignore[index]
    shown = as_json(kibble(home, "runs", "show", first["run_id"][:8], "--json"))
    assert [s["name"] for s in shown["steps"]] == ["numbers", "doubled", "total"]  # type: ignore[index]
    logs = as_json(kibble(home, "runs", "logs", first["run_id"], "--json"))
    assert logs[0]["message"] == "making 3 numbers"  # type: ignore[index]
    diff = as_json(kibble(home, "runs", "compare", first["run_id"], second["run_id"], "--json"))
    changed = {row["what"] for row in diff if not row["same"]}  # type: ignore[union-attr]
    assert {"param n", "step total output"} <= changed

    digest = first["outputs"]["total"]["digest"]
    tree = as_json(kibble(home, "lineage", digest, "--json"))
    assert tree["made_by"]["params"] == {"n": 3}  # type: ignore[index]
    human = kibble(home, "lineage", digest)
    assert "made by run" in human.stdout

    missing = kibble(home, "runs", "show", "nope-not-a-run")
    assert missing.returncode == 1 and "kibble runs list" in missing.stderr
    bad = kibble(home, "run", "tests.pipelines.flows:basic", "-P", "n=lots")
    assert bad.returncode == 2 and "parameter n" in bad.stderr


@pytest.mark.slow
def test_held_run_release_and_schedules(home: Path, tmp_path: Path) -> None:
    held = kibble(home, "run", "tests.pipelines.flows:gated", "-P", f"workdir={tmp_path}")
    assert held.returncode == 3, held.stderr
    (run,) = as_json(kibble(home, "runs", "list", "--status", "held", "--json"))  # type: ignore[misc]
    released = as_json(
        kibble(home, "runs", "release", run["run_id"], "--reason", "known quiet day", "--json")
    )
    assert released["status"] == "succeeded"  # type: ignore[index]

    added = kibble(
        home,
        "schedules",
        "add",
        "nightly",
        "--pipeline",
        "tests.pipelines.flows:basic",
        "--cron",
        "0 2 * * *",
        "-P",
        "n=2",
    )
    assert added.returncode == 0, added.stderr
    assert as_json(kibble(home, "schedules", "pause", "nightly", "--json")) == {
        "name": "nightly",
        "paused": True,
    }
    (schedule,) = as_json(kibble(home, "schedules", "list", "--json"))  # type: ignore[misc]
    assert schedule["paused"] is True and schedule["when"] == "0 2 * * *"
    once = as_json(kibble(home, "scheduler", "--once", "--json"))
    assert once["fired"] == [] and once["errors"] == []  # type: ignore[index]
