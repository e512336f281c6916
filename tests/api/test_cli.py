"""`kibble admin|tokens|audit` on the local store, as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.api.procs import env_for, kibble_cli
from tests.processes import free_port, wait_for

pytestmark = pytest.mark.slow


def test_local_token_lifecycle_is_audited(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init = kibble_cli(home, "admin", "init", "--project", "shop", "--user", "root-admin", "--json")
    assert init.returncode == 0, init.stderr
    created = kibble_cli(
        home,
        "-p",
        "shop",
        "tokens",
        "create",
        "--user",
        "ci",
        "--role",
        "editor",
        "--scope",
        "runs.*",
        "--days",
        "7",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)
    assert token["token"].startswith("kb_") and token["scopes"] == ["runs.*"]
    revoked = kibble_cli(home, "-p", "shop", "tokens", "revoke", token["id"], "--json")
    assert json.loads(revoked.stdout)["revoked_at"]
    live = json.loads(kibble_cli(home, "-p", "shop", "tokens", "list", "--json").stdout)
    every = json.loads(kibble_cli(home, "-p", "shop", "tokens", "list", "--all", "--json").stdout)
    assert token["id"] not in {t["id"] for t in live}
    assert token["id"] in {t["id"] for t in every}
    assert all("token_hash" not in t and "token" not in t for t in every)
    members = json.loads(
        kibble_cli(home, "-p", "shop", "admin", "members", "list", "--json").stdout
    )
    assert {m["user"]: m["role"] for m in members} == {"root-admin": "admin", "ci": "editor"}
    audit = json.loads(kibble_cli(home, "-p", "shop", "audit", "list", "--json").stdout)
    assert [e["action"] for e in audit] == ["tokens.write", "tokens.write", "admin.init"]
    assert token["token"] not in json.dumps(audit)
    bad = kibble_cli(home, "-p", "shop", "tokens", "create", "--user", "ghost")
    assert bad.returncode == 2 and "not a member" in bad.stderr
    helptext = kibble_cli(home, "api", "--help").stdout
    assert "bearer token" in helptext and "--port" in helptext


def test_api_on_a_fresh_home_prints_the_dashboard_and_a_first_run_token(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kibble", "--home", str(home), "api", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env_for(home, COLUMNS="200"),
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        printed = "".join(lines)
        dashboard = next(line.split()[-1] for line in lines if line.startswith("dashboard:"))
        assert dashboard == f"http://127.0.0.1:{port}/ui", printed
        assert "shown once" in printed
        token = lines[-1].strip()
        assert token.startswith("kb_"), printed
        with httpx.Client(follow_redirects=True) as client:
            wait_for(lambda: _answers(client, f"http://127.0.0.1:{port}/healthz"), 60, "the API")
            assert client.get(dashboard).url.path == "/ui/login"  # the printed address opens
            page = client.post(f"{dashboard}/login", data={"token": token})
            assert page.status_code == 200 and page.url.path == "/ui/overview"
    finally:
        process.terminate()
        process.wait(timeout=30)
    # the local user became the project's one admin, recorded like `kibble admin init`
    again = kibble_cli(home, "admin", "members", "list", "--json")
    assert [m["role"] for m in json.loads(again.stdout)] == ["admin"]


def _answers(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
