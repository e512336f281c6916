"""SQL for serving: idempotent feedback intake, the served-request log, rollout state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError
from kibble.store.models import FeedbackEvent, Rollout, RolloutDecision, ServedRequest, utcnow

FEEDBACK_FIELDS = (
    "event_id",
    "user_id",
    "item_id",
    "event_type",
    "ts",
    "session_id",
    "request_id",
    "arm",
)


class Feedback:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def add(self, events: Sequence[dict[str, Any]]) -> int:
        """Insert events whose event_id is new; return how many were new (idempotent)."""
        ids = list({e["event_id"] for e in events})
        seen = set(
            self.session.scalars(
                sa.select(FeedbackEvent.event_id).where(
                    FeedbackEvent.project_id == self.project_id, FeedbackEvent.event_id.in_(ids)
                )
            )
        )
        fresh: dict[str, dict[str, Any]] = {}
        for e in events:
            if e["event_id"] not in seen:
                fresh.setdefault(e["event_id"], e)
        self.session.add_all(
            FeedbackEvent(project_id=self.project_id, **{k: e.get(k) for k in FEEDBACK_FIELDS})
            for e in fresh.values()
        )
        self.session.flush()
        return len(fresh)

    def count_by_arm(self, since: datetime, event_type: str = "click") -> dict[str, int]:
        """Attributed events of one type per arm since a time (the bandit's rewards)."""
        rows = self.session.execute(
            sa.select(FeedbackEvent.arm, sa.func.count())
            .where(
                FeedbackEvent.project_id == self.project_id,
                FeedbackEvent.ts >= since,
                FeedbackEvent.event_type == event_type,
                FeedbackEvent.arm.is_not(None),
            )
            .group_by(FeedbackEvent.arm)
        )
        return {str(arm): int(n) for arm, n in rows}

    def since(self, since: datetime | None = None) -> list[FeedbackEvent]:
        q = sa.select(FeedbackEvent).where(FeedbackEvent.project_id == self.project_id)
        if since is not None:
            q = q.where(FeedbackEvent.ts >= since)
        return list(self.session.scalars(q.order_by(FeedbackEvent.ts, FeedbackEvent.event_id)))


# Columns a served row may leave out; one INSERT for many rows needs the same keys in each.
_OPTIONAL_SERVED: dict[str, Any] = {"latency_ms": None, "error": None, "shadow_of": None}


def _insert_skipping_existing(dialect: str) -> sa.Insert:
    """INSERT ... ON CONFLICT (project_id, request_id) DO NOTHING, on either backend."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(ServedRequest).on_conflict_do_nothing(index_elements=["project_id", "request_id"])


class ServedRequests:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def add_many(self, rows: Iterable[dict[str, Any]], *, skip_existing: bool = False) -> int:
        """One multi-row INSERT (no ORM unit of work: the log writer's CPU is cheap).

        ``skip_existing`` ignores rows whose request id is already stored, so a batch
        resent after its writer crashed between commit and acknowledgement lands once.
        """
        values = [{**_OPTIONAL_SERVED, **r, "project_id": self.project_id} for r in rows]
        if values:
            statement = (
                _insert_skipping_existing(self.session.get_bind().dialect.name)
                if skip_existing
                else sa.insert(ServedRequest)
            )
            self.session.execute(statement, values)
        return len(values)

    def get(self, request_id: str) -> ServedRequest:
        row = self.session.scalar(
            sa.select(ServedRequest).where(
                ServedRequest.project_id == self.project_id, ServedRequest.request_id == request_id
            )
        )
        if row is None:
            raise NotFoundError(
                f"no served request {request_id!r} in this project",
                hint="request ids are kept for the configured retention; check the id and project",
            )
        return row

    def latest(
        self, limit: int, *, deployment: str | None = None, user: str | None = None
    ) -> list[ServedRequest]:
        """The newest answers first (shadow answers, never shown, left out)."""
        query = sa.select(ServedRequest).where(
            ServedRequest.project_id == self.project_id, ServedRequest.shadow_of.is_(None)
        )
        if deployment:
            query = query.where(ServedRequest.deployment == deployment)
        if user:
            query = query.where(ServedRequest.user_id == user)
        return list(self.session.scalars(query.order_by(ServedRequest.ts.desc()).limit(limit)))

    def arms(self, deployment: str, request_ids: Iterable[str]) -> dict[str, str]:
        """The arm that answered each logged (live, not shadow) request id found."""
        rows = self.session.execute(
            sa.select(ServedRequest.request_id, ServedRequest.arm).where(
                ServedRequest.project_id == self.project_id,
                ServedRequest.deployment == deployment,
                ServedRequest.request_id.in_(list(request_ids)),
                ServedRequest.shadow_of.is_(None),
            )
        )
        return {str(request_id): str(arm) for request_id, arm in rows}

    def since(self, since: datetime) -> list[ServedRequest]:
        return list(
            self.session.scalars(
                sa.select(ServedRequest)
                .where(ServedRequest.project_id == self.project_id, ServedRequest.ts >= since)
                .order_by(ServedRequest.ts)
            )
        )

    def count_by_arm(self, deployment: str, since: datetime) -> dict[str, int]:
        """Live (not shadow) answers per arm since a time (the bandit's trials)."""
        rows = self.session.execute(
            sa.select(ServedRequest.arm, sa.func.count())
            .where(
                ServedRequest.project_id == self.project_id,
                ServedRequest.deployment == deployment,
                ServedRequest.ts >= since,
                ServedRequest.shadow_of.is_(None),
                ServedRequest.error.is_(None),
            )
            .group_by(ServedRequest.arm)
        )
        return {str(arm): int(n) for arm, n in rows}

    def observations(
        self, deployment: str, since: datetime
    ) -> list[tuple[str, float | None, bool, bool]]:
        """(arm, latency_ms, failed, shadow) per logged answer: the guardrails' input."""
        rows = self.session.execute(
            sa.select(
                ServedRequest.arm,
                ServedRequest.latency_ms,
                ServedRequest.error.is_not(None),
                ServedRequest.shadow_of.is_not(None),
            ).where(
                ServedRequest.project_id == self.project_id,
                ServedRequest.deployment == deployment,
                ServedRequest.ts >= since,
            )
        )
        return [(str(a), lat, bool(err), bool(sh)) for a, lat, err, sh in rows]

    def window(self, deployment: str, since: datetime, until: datetime) -> dict[str, list[Any]]:
        """Every logged answer of a deployment in ``[since, until)``, as columns (the
        monitor's input). ``items`` stays JSON text, for the caller to decode in bulk."""
        columns = {
            "request_id": ServedRequest.request_id,
            "arm": ServedRequest.arm,
            "model_version": ServedRequest.model_version,
            "items": sa.cast(ServedRequest.items, sa.Text),
            "ts": ServedRequest.ts,
            "latency_ms": ServedRequest.latency_ms,
            "error": ServedRequest.error,
            "shadow_of": ServedRequest.shadow_of,
        }
        rows = self.session.execute(
            sa.select(*columns.values())
            .where(
                ServedRequest.project_id == self.project_id,
                ServedRequest.deployment == deployment,
                ServedRequest.ts >= since,
                ServedRequest.ts < until,
            )
            .order_by(ServedRequest.ts)
        ).all()
        return _as_columns(rows, list(columns))

    def feedback(self, deployment: str, since: datetime, until: datetime) -> dict[str, list[Any]]:
        """Feedback on the answers ``window`` returns, joined by request id (whenever it
        came), as columns: ``request_id``, ``item_id``, ``event_type``."""
        rows = self.session.execute(
            sa.select(FeedbackEvent.request_id, FeedbackEvent.item_id, FeedbackEvent.event_type)
            .join(
                ServedRequest,
                sa.and_(
                    ServedRequest.project_id == FeedbackEvent.project_id,
                    ServedRequest.request_id == FeedbackEvent.request_id,
                ),
            )
            .where(
                FeedbackEvent.project_id == self.project_id,
                ServedRequest.deployment == deployment,
                ServedRequest.ts >= since,
                ServedRequest.ts < until,
            )
        ).all()
        return _as_columns(rows, ["request_id", "item_id", "event_type"])

    def purge_before(self, cutoff: datetime) -> int:
        result = self.session.execute(
            sa.delete(ServedRequest).where(
                ServedRequest.project_id == self.project_id, ServedRequest.ts < cutoff
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _as_columns(rows: Sequence[Sequence[Any]], names: list[str]) -> dict[str, list[Any]]:
    """Rows as one list per column: what a data frame is built from without a Python
    object per row."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return {name: list(column) for name, column in zip(names, values, strict=True)}


class Rollouts:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def active(self, deployment: str, *, lock: bool = False) -> Rollout | None:
        """The active rollout; ``lock`` row-locks it, skipping it if another holds it."""
        q = (
            sa.select(Rollout)
            .where(
                Rollout.project_id == self.project_id,
                Rollout.deployment == deployment,
                Rollout.status == "active",
            )
            .order_by(Rollout.created_at.desc())
        )
        if lock:
            q = q.with_for_update(skip_locked=True).execution_options(populate_existing=True)
        return self.session.scalar(q)

    def latest(self, deployment: str) -> Rollout | None:
        return self.session.scalar(
            sa.select(Rollout)
            .where(Rollout.project_id == self.project_id, Rollout.deployment == deployment)
            .order_by(Rollout.created_at.desc())
        )

    def of_deployment(self, deployment: str) -> list[Rollout]:
        """Every rollout of a deployment, oldest first."""
        return list(
            self.session.scalars(
                sa.select(Rollout)
                .where(Rollout.project_id == self.project_id, Rollout.deployment == deployment)
                .order_by(Rollout.created_at, Rollout.id)
            )
        )

    def start(
        self, deployment: str, champion: str, challenger: str, policy: str, steps: list[float]
    ) -> Rollout:
        row = Rollout(
            project_id=self.project_id,
            deployment=deployment,
            champion=champion,
            challenger=challenger,
            policy=policy,
            steps=steps,
            updated_at=utcnow(),
        )
        self.session.add(row)
        self.session.flush()
        return row

    def record(
        self,
        rollout: Rollout,
        action: str,
        step: int,
        status: str,
        reasons: list[str],
        numbers: dict[str, float],
    ) -> RolloutDecision:
        """Store a decision and the state it leads to, in the caller's transaction."""
        decision = RolloutDecision(
            project_id=self.project_id,
            rollout_id=rollout.id,
            action=action,
            step=rollout.step,
            reasons=reasons,
            numbers=numbers,
        )
        rollout.step, rollout.status, rollout.updated_at = step, status, utcnow()
        self.session.add(decision)
        self.session.flush()
        return decision

    def decisions(self, rollout_id: str) -> list[RolloutDecision]:
        return self.decisions_of([rollout_id]).get(rollout_id, [])

    def decisions_of(self, rollout_ids: Sequence[str]) -> dict[str, list[RolloutDecision]]:
        """Each listed rollout's decisions, oldest first, in one query."""
        out: dict[str, list[RolloutDecision]] = {}
        if not rollout_ids:
            return out
        for d in self.session.scalars(
            sa.select(RolloutDecision)
            .where(
                RolloutDecision.project_id == self.project_id,
                RolloutDecision.rollout_id.in_(list(rollout_ids)),
            )
            .order_by(RolloutDecision.created_at, RolloutDecision.id)
        ):
            out.setdefault(d.rollout_id, []).append(d)
        return out
