"""Tokens, memberships, bootstrap and quotas on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from kibble.auth import (
    authenticate,
    authorize_header,
    bootstrap_admin,
    enforce,
    issue_token,
    resolve,
)
from kibble.auth.quotas import Limits, Usage, check, check_all, usage_of
from kibble.config import Settings
from kibble.context import Context
from kibble.errors import (
    AuthenticationError,
    ConflictError,
    PermissionDeniedError,
    QuotaExceededError,
    UsageError,
)
from kibble.store.models import ApiToken, Deployment, Run
from kibble.store.repositories import AuditLog
from kibble.store.repositories.auth import IdempotentResponses, Members, Quotas, Tokens


@pytest.fixture
def ctx(backend_settings: Settings) -> Iterator[Context]:
    context = Context.open(backend_settings, project="k9s", actor="ops")
    yield context
    context.close()


def test_bootstrap_then_authenticate(ctx: Context) -> None:
    with ctx.store.session() as s:
        issued = bootstrap_admin(s, ctx.project_id, "alice", actor="ops")
    with ctx.store.session() as s:
        principal = authenticate(s, issued.value)
        stored = s.get_one(ApiToken, issued.record.id)
        assert stored.token_hash != issued.value and issued.value not in stored.token_hash
        assert stored.last_used_at is not None
    assert (principal.actor, principal.project, principal.role) == ("alice", "k9s", "admin")


def test_second_bootstrap_is_refused_unless_forced_and_audited(ctx: Context) -> None:
    with ctx.store.session() as s:
        bootstrap_admin(s, ctx.project_id, "alice", actor="ops")
    with ctx.store.session() as s, pytest.raises(ConflictError, match="already has 1 admin"):
        bootstrap_admin(s, ctx.project_id, "mallory", actor="mallory")
    with ctx.store.session() as s:
        assert Members(s, ctx.project_id).find("mallory") is None
        bootstrap_admin(s, ctx.project_id, "bob", actor="ops", force=True)
    with ctx.store.session() as s:
        events = AuditLog(s, ctx.project_id).list("admin.init")
    assert [e.result for e in events] == ["forced", "ok"]


def test_expired_revoked_unknown_and_memberless_tokens(ctx: Context) -> None:
    with ctx.store.session() as s:
        Members(s, ctx.project_id).set("vera", "editor")
        issued = issue_token(s, ctx.project_id, "vera", created_by="ops", days=1)
        capped = issue_token(s, ctx.project_id, "vera", created_by="ops", max_role="viewer")
    later = datetime.now(UTC) + timedelta(days=2)
    with ctx.store.session() as s:
        assert authenticate(s, capped.value).role == "viewer"  # capped below the membership
        with pytest.raises(AuthenticationError, match="expired"):
            authenticate(s, issued.value, now=later)
        with pytest.raises(AuthenticationError, match="not recognised"):
            authenticate(s, "kb_" + "Z" * 43)
        with pytest.raises(AuthenticationError, match="malformed"):
            authenticate(s, "Bearer kb_")
        assert resolve(s, "nope") is None
    with ctx.store.session() as s:
        Tokens(s, ctx.project_id).revoke(issued.record.id, datetime.now(UTC))
    with ctx.store.session() as s, pytest.raises(AuthenticationError, match="revoked"):
        authenticate(s, issued.value)
    with ctx.store.session() as s:
        Members(s, ctx.project_id).remove("vera")
    with ctx.store.session() as s:
        assert authenticate(s, capped.value).role is None  # left the project: no rights


def test_tokens_only_for_members_with_sane_lifetimes(ctx: Context) -> None:
    with ctx.store.session() as s:
        with pytest.raises(UsageError, match="not a member"):
            issue_token(s, ctx.project_id, "ghost", created_by="ops")
        Members(s, ctx.project_id).set("vera", "viewer")
        with pytest.raises(UsageError, match="out of range"):
            issue_token(s, ctx.project_id, "vera", created_by="ops", days=0)
        with pytest.raises(UsageError, match="role"):
            issue_token(s, ctx.project_id, "vera", created_by="ops", max_role="god")


def test_quota_rules_are_pure() -> None:
    check("deployments", used=2, adding=1, limit=3)
    check("deployments", used=5, adding=0, limit=3)  # nothing added: never blocks
    check("deployments", used=100, adding=1, limit=None)
    with pytest.raises(QuotaExceededError, match="deployments exceeded: 3 used"):
        check("deployments", used=3, adding=1, limit=3)
    with pytest.raises(QuotaExceededError, match="storage_bytes"):
        check_all(Limits(max_storage_bytes=10), Usage(storage_bytes=8), Usage(storage_bytes=3))


def test_enforce_counts_active_runs_deployments_and_bytes(ctx: Context) -> None:
    ctx.save_artifact(b"x" * 100, "text/plain")
    with ctx.store.session() as s:
        s.add_all(
            [
                Run(project_id=ctx.project_id, pipeline="p", status="running"),
                Run(project_id=ctx.project_id, pipeline="p", status="succeeded"),
                Deployment(project_id=ctx.project_id, name="a", model_name="m"),
                Deployment(project_id=ctx.project_id, name="b", model_name="m", status="retired"),
            ]
        )
    with ctx.store.session() as s:
        usage = usage_of(s, ctx.project_id, ctx.artifacts, ctx.project)
        assert usage == Usage(concurrent_runs=1, storage_bytes=100, deployments=1)
        enforce(s, ctx.project_id, ctx.artifacts, ctx.project, runs=5)  # no quota set
        Quotas(s, ctx.project_id).set(max_concurrent_runs=1, max_deployments=2)
    with ctx.store.session() as s:
        enforce(s, ctx.project_id, ctx.artifacts, ctx.project, deployments=1)
        with pytest.raises(QuotaExceededError, match="concurrent_runs") as err:
            enforce(s, ctx.project_id, ctx.artifacts, ctx.project, runs=1)
        assert err.value.http_status == 429


def test_idempotency_records_claim_once_per_project(ctx: Context) -> None:
    other_id = Context.open(ctx.settings, project="other").project_id
    with ctx.store.session() as s:
        records = IdempotentResponses(s, ctx.project_id)
        assert records.reserve("k", "h1") is None
        claimed = records.reserve("k", "h1")
        assert claimed is not None and claimed.status_code == 0  # in flight
        assert IdempotentResponses(s, other_id).reserve("k", "h2") is None  # per project
        records.complete("k", 201, {"id": 1})
    with ctx.store.session() as s:
        done = IdempotentResponses(s, ctx.project_id).reserve("k", "h1")
        assert done is not None and (done.status_code, done.body) == (201, {"content": {"id": 1}})
        IdempotentResponses(s, other_id).release("k")
    with ctx.store.session() as s:
        assert IdempotentResponses(s, other_id).find("k") is None
        IdempotentResponses(s, ctx.project_id).release("k")  # completed ones stay
        assert IdempotentResponses(s, ctx.project_id).find("k") is not None


def test_authorize_header_for_other_services(ctx: Context) -> None:
    with ctx.store.session() as s:
        Members(s, ctx.project_id).set("eddie", "editor")
        value = issue_token(s, ctx.project_id, "eddie", created_by="ops").value
    with ctx.store.session() as s:
        assert authorize_header(s, f"Bearer {value}", "k9s", "runs.write").actor == "eddie"
        with pytest.raises(PermissionDeniedError, match="deployer"):
            authorize_header(s, f"Bearer {value}", "k9s", "deployments.write")
        with pytest.raises(PermissionDeniedError, match="project 'other'"):
            authorize_header(s, f"Bearer {value}", "other", "runs.read")
        for header in (None, "", "Bearer ", f"Basic {value}"):
            with pytest.raises(AuthenticationError):
                authorize_header(s, header, "k9s", "runs.read")
