"""Identity operations: authenticate a bearer token, issue and revoke tokens, bootstrap.

Used by the API, the dashboard and the CLI alike, so a token means the same thing
everywhere. Nothing here creates the first admin except ``bootstrap_admin``, which only
a local command (with access to the store) can call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from kibble.auth import tokens
from kibble.auth.principal import Principal
from kibble.auth.roles import check_role, lower
from kibble.core.names import validate_name
from kibble.errors import AuthenticationError, ConflictError, PermissionDeniedError, UsageError
from kibble.store.models import ApiToken, Project, utcnow
from kibble.store.repositories import AuditLog
from kibble.store.repositories.auth import Members, Tokens, token_by_hash

LAST_USED_RESOLUTION = timedelta(seconds=60)
MAX_TOKEN_DAYS = 3650


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``value`` is shown once and never stored."""

    value: str
    record: ApiToken


def authenticate(session: Session, value: str, now: datetime | None = None) -> Principal:
    """The principal behind a bearer token, or AuthenticationError (401)."""
    now = now or utcnow()
    if not tokens.looks_like_token(value):
        raise AuthenticationError(
            "the bearer token is malformed", hint="tokens start with kb_; check for copy errors"
        )
    record = token_by_hash(session, tokens.hash_token(value))
    if record is None:
        raise AuthenticationError(
            "the bearer token is not recognised", hint="create one with `kibble tokens create`"
        )
    if record.revoked_at is not None:
        raise AuthenticationError(
            f"token {record.prefix}... was revoked", hint="ask an admin for a new token"
        )
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthenticationError(
            f"token {record.prefix}... expired at {record.expires_at:%Y-%m-%d %H:%M} UTC",
            hint="ask an admin for a new token",
        )
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        record.last_used_at = now
    member = Members(session, record.project_id).find(record.user)
    role = member.role if member else None
    if record.max_role and role is not None:
        role = lower(role, record.max_role)
    project = session.get(Project, record.project_id)
    return Principal(
        actor=record.user,
        project=project.name if project else "",
        project_id=record.project_id,
        role=role,
        token_id=record.id,
        scopes=tuple(str(s) for s in record.scopes),
    )


def resolve(session: Session, value: str) -> Principal | None:
    """Like ``authenticate`` but None instead of an error (for sign-in forms)."""
    try:
        return authenticate(session, value)
    except AuthenticationError:
        return None


def authorize_header(
    session: Session, authorization: str | None, project: str, action: str
) -> Principal:
    """For any service (serving's write endpoints, a webhook): check an
    ``Authorization: Bearer ...`` header for ``action`` in ``project``.

    Raises AuthenticationError (401) or PermissionDeniedError (403); a token of another
    project is told the same as one without the role, so projects cannot be probed.
    """
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError(
            "this endpoint needs a bearer token",
            hint="send 'Authorization: Bearer kb_...'; create one with `kibble tokens create`",
        )
    principal = authenticate(session, value.strip())
    if principal.project != project:
        raise PermissionDeniedError(
            f"this token cannot act in project {project!r}",
            hint="use a token created for that project",
        )
    principal.authorize(action)
    return principal


def issue_token(
    session: Session,
    project_id: str,
    user: str,
    *,
    created_by: str,
    name: str = "",
    max_role: str | None = None,
    scopes: list[str] | None = None,
    days: int | None = 90,
) -> IssuedToken:
    """Create a token for a member of the project. ``days=None`` never expires."""
    validate_name(user, "user name")
    if max_role is not None:
        check_role(max_role)
    if days is not None and not 0 < days <= MAX_TOKEN_DAYS:
        raise UsageError(
            f"token lifetime {days} days is out of range", hint=f"use 1 to {MAX_TOKEN_DAYS} days"
        )
    if Members(session, project_id).find(user) is None:
        raise UsageError(
            f"{user!r} is not a member of this project",
            hint="add them first: `kibble admin members set USER ROLE` or PUT .../members/USER",
        )
    value = tokens.generate()
    record = Tokens(session, project_id).add(
        user=user,
        name=name[:128],
        token_hash=tokens.hash_token(value),
        prefix=tokens.display_prefix(value),
        max_role=max_role,
        scopes=list(scopes or []),
        expires_at=None if days is None else utcnow() + timedelta(days=days),
        created_by=created_by,
    )
    return IssuedToken(value, record)


def bootstrap_admin(
    session: Session,
    project_id: str,
    user: str,
    *,
    actor: str,
    force: bool = False,
    days: int | None = 90,
) -> IssuedToken:
    """Make ``user`` admin of the project and give them a token. Refuses when an admin
    exists (an attacker with a shell must not silently mint one) unless ``force``."""
    members = Members(session, project_id)
    existing = members.count_role("admin")
    if existing and not force:
        raise ConflictError(
            f"this project already has {existing} admin(s)",
            hint="ask an admin for a token, or pass --force (it is written to the audit log)",
        )
    members.set(validate_name(user, "user name"), "admin", added_by=actor)
    issued = issue_token(session, project_id, user, created_by=actor, name="bootstrap", days=days)
    AuditLog(session, project_id).write(
        actor=actor,
        action="admin.init",
        target=user,
        result="forced" if existing else "ok",
        source="local-cli",
        details={"token_id": issued.record.id, "existing_admins": existing},
    )
    return issued
