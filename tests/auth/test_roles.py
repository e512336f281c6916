"""The permission table and token values: pure rules, checked exhaustively."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kibble.auth import tokens
from kibble.auth.principal import Principal
from kibble.auth.roles import (
    PERMISSIONS,
    ROLES,
    at_least,
    lower,
    min_role,
    require,
    scope_allows,
)
from kibble.errors import PermissionDeniedError, UsageError


def test_roles_are_ordered_and_each_includes_the_one_below() -> None:
    assert ROLES == ("viewer", "editor", "deployer", "admin")
    for i, role in enumerate(ROLES):
        for j, other in enumerate(ROLES):
            assert at_least(role, other) == (i >= j)
    assert not at_least(None, "viewer")
    assert not at_least("root", "viewer")


@pytest.mark.parametrize("action,minimum", sorted(PERMISSIONS.items()))
def test_every_action_is_allowed_exactly_from_its_minimum_role(action: str, minimum: str) -> None:
    for role in ROLES:
        if at_least(role, minimum):
            require(role, action)
        else:
            with pytest.raises(PermissionDeniedError, match=minimum):
                require(role, action)
    with pytest.raises(PermissionDeniedError):
        require(None, action)


def test_sensitive_actions_need_the_right_roles() -> None:
    assert min_role("tokens.write") == "admin"
    assert min_role("members.write") == "admin"
    assert min_role("project.quota") == "admin"
    assert min_role("deployments.write") == "deployer"
    assert min_role("runs.write") == "editor"
    assert all(
        min_role(a) == "viewer"
        for a in PERMISSIONS
        if a.endswith(".read") and not a.startswith(("tokens", "audit"))
    )
    with pytest.raises(UsageError, match="permission table"):
        min_role("nuclear.launch")


def test_lower_picks_the_weaker_role() -> None:
    assert lower("admin", "viewer") == "viewer"
    assert lower("editor", "deployer") == "editor"
    assert lower("admin", None) is None


@pytest.mark.parametrize(
    "scopes,action,allowed",
    [
        ([], "runs.read", True),
        (["*"], "tokens.write", True),
        (["runs.*"], "runs.read", True),
        (["runs.*"], "artifacts.read", False),
        (["runs.read"], "runs.write", False),
        (["runs.read", "artifacts.*"], "artifacts.write", True),
        (["run"], "runs.read", False),
    ],
)
def test_scopes_narrow_a_token(scopes: list[str], action: str, allowed: bool) -> None:
    assert scope_allows(scopes, action) is allowed
    principal = Principal("u", "p", "pid", "admin", scopes=tuple(scopes))
    if allowed:
        principal.authorize(action)
    else:
        with pytest.raises(PermissionDeniedError, match="scopes"):
            principal.authorize(action)


def test_token_values_are_random_recognisable_and_hashed() -> None:
    values = {tokens.generate() for _ in range(200)}
    assert len(values) == 200
    for value in values:
        assert tokens.looks_like_token(value)
        assert len(tokens.hash_token(value)) == 64
        assert value not in tokens.hash_token(value)
        assert tokens.display_prefix(value) == value[:10]
    for bad in ("", "kb_", "kb_short", "xx_" + "a" * 43, "kb_" + "a" * 42 + "!", "kb_" + "é" * 43):
        assert not tokens.looks_like_token(bad)


def test_is_live() -> None:
    now = datetime.now(UTC)
    assert tokens.is_live(None, None, now)
    assert tokens.is_live(now + timedelta(seconds=1), None, now)
    assert not tokens.is_live(now, None, now)
    assert not tokens.is_live(None, now, now)
