"""SQL for identity: memberships, token records, quotas, idempotent responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import ConflictError, NotFoundError
from kibble.store.models import ApiToken, IdempotentResponse, Membership, ProjectQuota


class Members:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def find(self, user: str) -> Membership | None:
        return self.session.scalar(
            sa.select(Membership).where(
                Membership.project_id == self.project_id, Membership.user == user
            )
        )

    def set(self, user: str, role: str, added_by: str = "") -> Membership:
        member = self.find(user)
        if member is None:
            member = Membership(project_id=self.project_id, user=user, role=role, added_by=added_by)
            self.session.add(member)
        else:
            member.role = role
        self.session.flush()
        return member

    def remove(self, user: str) -> None:
        member = self.find(user)
        if member is None:
            raise NotFoundError(
                f"{user!r} is not a member of this project", hint="list members first"
            )
        self.session.delete(member)
        self.session.flush()

    def list(self) -> list[Membership]:
        query = sa.select(Membership).where(Membership.project_id == self.project_id)
        return list(self.session.scalars(query.order_by(Membership.user)))

    def count_role(self, role: str) -> int:
        query = sa.select(sa.func.count()).where(
            Membership.project_id == self.project_id, Membership.role == role
        )
        return int(self.session.scalar(query) or 0)


def token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    """Across projects on purpose: the token itself says which project it belongs to."""
    return session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_hash))


def admin_count(session: Session) -> int:
    """Admins across all projects (to tell an operator a fresh install needs bootstrap)."""
    query = sa.select(sa.func.count()).where(Membership.role == "admin")
    return int(session.scalar(query) or 0)


class Tokens:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def add(self, **fields: Any) -> ApiToken:
        token = ApiToken(project_id=self.project_id, **fields)
        self.session.add(token)
        self.session.flush()
        return token

    def get(self, token_id: str) -> ApiToken:
        token = self.session.scalar(
            sa.select(ApiToken).where(
                ApiToken.project_id == self.project_id, ApiToken.id == token_id
            )
        )
        if token is None:
            raise NotFoundError(
                f"token {token_id!r} does not exist in this project",
                hint="list tokens with `kibble tokens list`",
            )
        return token

    def list(self, include_revoked: bool = False) -> list[ApiToken]:
        query = sa.select(ApiToken).where(ApiToken.project_id == self.project_id)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        return list(self.session.scalars(query.order_by(ApiToken.created_at)))

    def revoke(self, token_id: str, now: datetime) -> ApiToken:
        token = self.get(token_id)
        if token.revoked_at is None:
            token.revoked_at = now
            self.session.flush()
        return token


class Quotas:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def find(self) -> ProjectQuota | None:
        return self.session.scalar(
            sa.select(ProjectQuota).where(ProjectQuota.project_id == self.project_id)
        )

    def set(self, **limits: int | None) -> ProjectQuota:
        quota = self.find()
        if quota is None:
            quota = ProjectQuota(project_id=self.project_id)
            self.session.add(quota)
        for key, value in limits.items():
            setattr(quota, key, value)
        self.session.flush()
        return quota


class IdempotentResponses:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def find(self, key: str) -> IdempotentResponse | None:
        return self.session.scalar(
            sa.select(IdempotentResponse).where(
                IdempotentResponse.project_id == self.project_id, IdempotentResponse.key == key
            )
        )

    def reserve(self, key: str, request_hash: str) -> IdempotentResponse | None:
        """Claim ``key``; return the existing record instead when someone already has."""
        existing = self.find(key)
        if existing is not None:
            return existing
        try:
            with self.session.begin_nested():
                self.session.add(
                    IdempotentResponse(
                        project_id=self.project_id, key=key, request_hash=request_hash
                    )
                )
        except sa.exc.IntegrityError:
            found = self.find(key)
            if found is None:  # pragma: no cover - deleted between the two statements
                raise ConflictError(
                    f"idempotency key {key!r} is busy", hint="retry the request"
                ) from None
            return found
        return None

    def complete(self, key: str, status_code: int, body: Any) -> None:
        record = self.find(key)
        if record is not None:
            record.status_code = status_code
            record.body = {"content": body}
            self.session.flush()

    def release(self, key: str) -> None:
        self.session.execute(
            sa.delete(IdempotentResponse).where(
                IdempotentResponse.project_id == self.project_id,
                IdempotentResponse.key == key,
                IdempotentResponse.status_code == 0,
            )
        )
