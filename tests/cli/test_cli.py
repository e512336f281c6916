"""The CLI as a user runs it: a real subprocess, real exit codes, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kibble.config import load_settings
from kibble.context import Context
from kibble.store.models import Deployment
from kibble.store.repositories.serving import ServedRequests


def kibble(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kibble", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=home.parent,
        timeout=900,  # a bound on a hung command, not a speed check
    )


def test_help_lists_commands(home: Path) -> None:
    result = kibble("--help", home=home)
    assert result.returncode == 0
    for command in ("config", "db", "projects", "artifacts"):
        assert command in result.stdout


def test_version(home: Path) -> None:
    result = kibble("--version", home=home)
    assert result.returncode == 0
    assert result.stdout.startswith("kibble ")


def test_config_show_json_reports_sources(home: Path) -> None:
    result = kibble("config", "show", "--json", home=home, env={"KIBBLE_LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["settings"]["home"] == str(home)
    assert data["sources"]["home"] == "cli"
    assert data["sources"]["log_format"] == "env:KIBBLE_LOG_FORMAT"
    assert data["sources"]["serving.port"] == "default"


def test_db_upgrade_then_status(home: Path) -> None:
    first = kibble("db", "upgrade", "--json", home=home)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["applied"]
    second = json.loads(kibble("db", "upgrade", "--json", home=home).stdout)
    assert second["applied"] == []
    status = json.loads(kibble("db", "status", "--json", home=home).stdout)
    assert status["up_to_date"] is True


def test_artifact_put_get_round_trip(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "model.json"
    source.write_text('{"a": 1}')
    put = kibble(
        "artifacts", "put", str(source), "--media-type", "application/json", "--json", home=home
    )
    assert put.returncode == 0, put.stderr
    digest = json.loads(put.stdout)["digest"]
    out = tmp_path / "back.json"
    got = kibble("artifacts", "get", digest, "-o", str(out), home=home)
    assert got.returncode == 0, got.stderr
    assert out.read_text() == '{"a": 1}'
    listing = json.loads(kibble("artifacts", "list", "--json", home=home).stdout)
    assert [a["digest"] for a in listing] == [digest]


def test_errors_are_one_line_with_exit_code_2(home: Path) -> None:
    result = kibble("artifacts", "get", "../../etc/passwd", "-o", "/tmp/x", home=home)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "not an artifact digest" in result.stderr


def test_pickle_upload_is_refused(home: Path, tmp_path: Path) -> None:
    import pickle

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"x": 1}))
    result = kibble("artifacts", "put", str(evil), home=home)
    assert result.returncode == 2
    assert "pickle" in result.stderr
    disguised = tmp_path / "model.npy"  # protocol 0: no magic bytes, refused by np.load
    disguised.write_bytes(pickle.dumps({"x": 1}, protocol=0))
    result = kibble("artifacts", "put", str(disguised), home=home)
    assert result.returncode == 2 and "application/x-npy" in result.stderr


def test_debug_shows_traceback(home: Path) -> None:
    result = kibble("--debug", "artifacts", "get", "bad", "-o", "/tmp/x", home=home)
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_usage_error_exits_2(home: Path) -> None:
    result = kibble("projects", "create", home=home)
    assert result.returncode == 2


def test_projects_create_and_list(home: Path) -> None:
    assert kibble("projects", "create", "k9s", home=home).returncode == 0
    names = [p["name"] for p in json.loads(kibble("projects", "list", "--json", home=home).stdout)]
    assert names == ["default", "k9s"]


@pytest.mark.postgres
def test_db_upgrade_on_postgres(home: Path, postgres) -> None:
    url = postgres.create_database()
    result = kibble("db", "upgrade", "--json", home=home, env={"KIBBLE_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["dialect"] == "postgresql"


def _serve(home: Path, *rows: tuple[str, str, int]) -> None:
    """Served requests (id, deployment, minute) and their deployments, as `serve` logs them."""
    context = Context.open(load_settings({"home": str(home)}, environ={}))
    with context.store.session() as session:
        for name in sorted({d for _, d, _ in rows}):
            session.add(Deployment(project_id=context.project_id, name=name, model_name="m"))
        ServedRequests(session, context.project_id).add_many(
            {
                "request_id": rid,
                "deployment": deployment,
                "user_id": "u1",
                "arm": "m:1",
                "model_version": "m:1",
                "probability": 1.0,
                "items": ["i1", "i2"],
                "ts": datetime(2026, 12, 1, 12, minute, tzinfo=UTC),
            }
            for rid, deployment, minute in rows
        )
    context.close()


def test_requests_list_finds_ids_for_lineage(home: Path) -> None:
    _serve(home, ("r-old", "k9s", 1), ("r-new", "k9s", 2))
    listed = json.loads(kibble("requests", "list", "--json", home=home).stdout)
    assert [r["request_id"] for r in listed] == ["r-new", "r-old"]  # newest first
    assert listed[0]["items"] == 2 and listed[0]["deployment"] == "k9s"
    # the rollout commands find the project's only deployment by themselves
    status = kibble("rollout", "status", home=home)
    assert status.returncode == 1 and "no rollout for 'k9s'" in status.stderr
    _serve(home, ("r-other", "shop", 3))
    only = kibble("requests", "list", "--deployment", "shop", "--json", home=home)
    assert [r["request_id"] for r in json.loads(only.stdout)] == ["r-other"]
    several = kibble("rollout", "status", home=home)
    assert several.returncode == 2 and "pass --deployment" in several.stderr
