"""`kibble admin|tokens|audit` on the local store, as a user runs them (subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.procs import kibble_cli

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
