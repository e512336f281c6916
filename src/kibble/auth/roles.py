"""Roles and the permission table: which role an action needs. Pure, no I/O.

Roles are ordered: each one can do everything the one before it can. An action is
``<area>.<verb>``; the table below is the one place that says who may do it.
"""

from __future__ import annotations

from kibble.errors import PermissionDeniedError, UsageError

ROLES: tuple[str, ...] = ("viewer", "editor", "deployer", "admin")
RANK = {role: index for index, role in enumerate(ROLES)}

PERMISSIONS: dict[str, str] = {
    "project.read": "viewer",
    "project.quota": "admin",
    "members.read": "viewer",
    "members.write": "admin",
    "tokens.read": "admin",
    "tokens.write": "admin",
    "audit.read": "admin",
    "artifacts.read": "viewer",
    "artifacts.write": "editor",
    "datasets.read": "viewer",
    "datasets.write": "editor",
    "runs.read": "viewer",
    "runs.write": "editor",
    "runs.release": "deployer",
    "models.read": "viewer",
    "models.write": "editor",
    "models.promote": "deployer",
    "deployments.read": "viewer",
    "deployments.write": "deployer",
    "alerts.read": "viewer",
    "alerts.write": "editor",
    "serving.write": "editor",  # POST feedback to `kibble serve`
}


def check_role(role: str) -> str:
    if role not in RANK:
        raise UsageError(f"unknown role {role!r}", hint=f"use one of: {', '.join(ROLES)}")
    return role


def at_least(role: str | None, minimum: str) -> bool:
    """True when ``role`` is ``minimum`` or above; no role is below every role."""
    return role is not None and RANK.get(role, -1) >= RANK[check_role(minimum)]


def lower(a: str | None, b: str | None) -> str | None:
    """The weaker of two roles (None when either is None or unknown)."""
    if a not in RANK or b not in RANK:
        return None
    return a if RANK[a] <= RANK[b] else b


def min_role(action: str) -> str:
    try:
        return PERMISSIONS[action]
    except KeyError:
        raise UsageError(
            f"action {action!r} is not in the permission table",
            hint="add it to kibble.auth.roles.PERMISSIONS or pass its minimum role",
        ) from None


def scope_allows(scopes: list[str] | tuple[str, ...], action: str) -> bool:
    """Scopes narrow a token: ``*``, an area ``runs.*``, or one action ``runs.read``.

    An empty list means no narrowing (the role alone decides).
    """
    if not scopes:
        return True
    area = action.split(".", 1)[0]
    return any(s in ("*", action, f"{area}.*") for s in scopes)


def require(role: str | None, action: str, minimum: str | None = None) -> None:
    """Raise PermissionDeniedError unless ``role`` may perform ``action``."""
    needed = minimum or min_role(action)
    if not at_least(role, needed):
        raise PermissionDeniedError(
            f"{action} needs the {needed} role; this token has {role or 'no role'}",
            hint="ask a project admin to raise your role or use a token that has it",
        )
