"""SQL for pipelines: runs, step runs, leases, logs, lineage edges and schedules.

Every query names the project. Leases and schedule slots change by compare-and-set
(an UPDATE whose WHERE holds the expected old value), which is atomic on SQLite and
PostgreSQL alike, so two workers or schedulers never both win.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError, UsageError
from kibble.store.models import (
    LineageEdge,
    PipelineSchedule,
    Run,
    StepLease,
    StepLog,
    StepRun,
)
from kibble.store.repositories.sql import upsert

ACTIVE = ("pending", "running")


class RunRecords:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    # -- runs ---------------------------------------------------------------------------

    def create(self, **fields: Any) -> Run:
        run = Run(project_id=self.project_id, kind="pipeline", **fields)
        self.session.add(run)
        self.session.flush()
        return run

    def get(self, run_id: str) -> Run:
        """A run by id or by a unique prefix of at least 6 characters."""
        query = sa.select(Run).where(Run.project_id == self.project_id)
        run = self.session.scalar(query.where(Run.id == run_id))
        if run is None and len(run_id) >= 6:
            found = list(self.session.scalars(query.where(Run.id.startswith(run_id)).limit(2)))
            if len(found) > 1:
                raise UsageError(f"run id prefix {run_id!r} is ambiguous", hint="give more of it")
            run = found[0] if found else None
        if run is None:
            raise NotFoundError(
                f"run {run_id!r} does not exist in this project",
                hint="list runs with `kibble runs list`",
            )
        return run

    def lock(self, run_id: str) -> Run:
        """The run, row-locked until the transaction ends (PostgreSQL; SQLite locks all)."""
        run = self.session.scalar(
            sa.select(Run)
            .where(Run.project_id == self.project_id, Run.id == run_id)
            .with_for_update()
        )
        if run is None:
            raise NotFoundError(f"run {run_id!r} does not exist", hint="`kibble runs list`")
        return run

    def list(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        kind: str | None = "pipeline",
        limit: int = 50,
    ) -> builtins.list[Run]:
        """Newest first; ``kind=None`` lists every kind (evaluations, trainings, ...)."""
        query = sa.select(Run).where(Run.project_id == self.project_id)
        if kind:
            query = query.where(Run.kind == kind)
        if pipeline:
            query = query.where(Run.pipeline == pipeline)
        if status:
            query = query.where(Run.status == status)
        query = query.order_by(Run.created_at.desc()).limit(limit)
        return list(self.session.scalars(query))

    def count_active(self, fresh_after: datetime) -> int:
        query = sa.select(sa.func.count()).where(
            Run.project_id == self.project_id,
            Run.status == "running",
            Run.heartbeat_at >= fresh_after,
        )
        return int(self.session.scalar(query) or 0)

    def silent_since(self, before: datetime) -> builtins.list[Run]:
        """Runs marked running whose heartbeat stopped before ``before``."""
        query = sa.select(Run).where(
            Run.project_id == self.project_id,
            Run.status == "running",
            sa.or_(Run.heartbeat_at.is_(None), Run.heartbeat_at < before),
        )
        return list(self.session.scalars(query))

    def held(self) -> builtins.list[Run]:
        query = sa.select(Run).where(Run.project_id == self.project_id, Run.status == "held")
        return list(self.session.scalars(query.order_by(Run.created_at)))

    def heartbeat(self, run_id: str, now: datetime) -> None:
        self.session.execute(
            sa.update(Run)
            .where(Run.project_id == self.project_id, Run.id == run_id)
            .values(heartbeat_at=now)
        )

    # -- step runs ----------------------------------------------------------------------

    def steps(self, run_id: str) -> builtins.list[StepRun]:
        query = sa.select(StepRun).where(
            StepRun.project_id == self.project_id, StepRun.run_id == run_id
        )
        return list(self.session.scalars(query.order_by(StepRun.created_at, StepRun.name)))

    def step(self, run_id: str, name: str) -> StepRun | None:
        return self.session.scalar(
            sa.select(StepRun).where(
                StepRun.project_id == self.project_id,
                StepRun.run_id == run_id,
                StepRun.name == name,
            )
        )

    def update_step(self, run_id: str, name: str, **values: Any) -> None:
        """Write ``values`` to one step run in a single UPDATE (no read first)."""
        self.session.execute(
            sa.update(StepRun)
            .where(
                StepRun.project_id == self.project_id,
                StepRun.run_id == run_id,
                StepRun.name == name,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def ensure_steps(self, run_id: str, names: Iterable[str]) -> None:
        existing = {s.name for s in self.steps(run_id)}
        for name in names:
            if name not in existing:
                self.session.add(StepRun(project_id=self.project_id, run_id=run_id, name=name))
        self.session.flush()

    def find_cached(self, cache_key: str) -> StepRun | None:
        return self.session.scalar(
            sa.select(StepRun)
            .where(
                StepRun.project_id == self.project_id,
                StepRun.cache_key == cache_key,
                StepRun.status == "succeeded",
            )
            .order_by(StepRun.ended_at.desc())
            .limit(1)
        )

    # -- logs and lineage ---------------------------------------------------------------

    def add_logs(self, run_id: str, step: str, lines: Sequence[dict[str, Any]]) -> None:
        if lines:
            self.session.execute(
                sa.insert(StepLog),
                [
                    {
                        "project_id": self.project_id,
                        "run_id": run_id,
                        "step": step,
                        "level": str(line["level"])[:16],
                        "message": str(line["message"]),
                        "logged_at": line["at"],
                    }
                    for line in lines
                ],
            )

    def logs(self, run_id: str, step: str | None = None) -> builtins.list[StepLog]:
        query = sa.select(StepLog).where(
            StepLog.project_id == self.project_id, StepLog.run_id == run_id
        )
        if step:
            query = query.where(StepLog.step == step)
        return list(self.session.scalars(query.order_by(StepLog.logged_at, StepLog.created_at)))

    def add_edges(self, run_id: str, step: str, edges: Sequence[dict[str, Any]]) -> None:
        """Replace the step's edges (a retried or resumed step records them anew)."""
        self.session.execute(
            sa.delete(LineageEdge)
            .where(
                LineageEdge.project_id == self.project_id,
                LineageEdge.run_id == run_id,
                LineageEdge.step == step,
            )
            .execution_options(synchronize_session=False)
        )
        if edges:
            self.session.execute(
                sa.insert(LineageEdge),
                [
                    {"project_id": self.project_id, "run_id": run_id, "step": step, **edge}
                    for edge in edges
                ],
            )

    def edges(
        self,
        *,
        digest: str | None = None,
        run_id: str | None = None,
        step: str | None = None,
        direction: str | None = None,
    ) -> builtins.list[LineageEdge]:
        query = sa.select(LineageEdge).where(LineageEdge.project_id == self.project_id)
        if digest is not None:
            query = query.where(LineageEdge.digest == digest)
        if run_id is not None:
            query = query.where(LineageEdge.run_id == run_id)
        if step is not None:
            query = query.where(LineageEdge.step == step)
        if direction is not None:
            query = query.where(LineageEdge.direction == direction)
        return list(self.session.scalars(query.order_by(LineageEdge.created_at)))


class Leases:
    """Exclusive, expiring claims on (run, key): a step, or a whole run."""

    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def acquire(self, run_id: str, key: str, owner: str, ttl_s: float, now: datetime) -> bool:
        """Take the lease if it is free, ours already, or expired: one atomic statement."""
        expires = now + timedelta(seconds=ttl_s)
        statement = (
            upsert(self.session, StepLease)
            .values(
                project_id=self.project_id,
                run_id=run_id,
                key=key,
                owner=owner,
                expires_at=expires,
            )
            .on_conflict_do_update(
                index_elements=["run_id", "key"],
                set_={"owner": owner, "expires_at": expires},
                where=sa.and_(
                    StepLease.project_id == self.project_id,
                    sa.or_(StepLease.owner == owner, StepLease.expires_at < now),
                ),
            )
            .returning(StepLease.id)
        )
        return self.session.execute(statement).first() is not None

    def renew(self, run_id: str, owner: str, ttl_s: float, now: datetime) -> None:
        self.session.execute(
            sa.update(StepLease)
            .where(
                StepLease.project_id == self.project_id,
                StepLease.run_id == run_id,
                StepLease.owner == owner,
            )
            .values(expires_at=now + timedelta(seconds=ttl_s))
        )

    def release(self, run_id: str, key: str, owner: str) -> None:
        self.session.execute(
            sa.delete(StepLease)
            .where(
                StepLease.project_id == self.project_id,
                StepLease.run_id == run_id,
                StepLease.key == key,
                StepLease.owner == owner,
            )
            .execution_options(synchronize_session=False)
        )


class Schedules:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def find(self, name: str) -> PipelineSchedule | None:
        return self.session.scalar(
            sa.select(PipelineSchedule).where(
                PipelineSchedule.project_id == self.project_id, PipelineSchedule.name == name
            )
        )

    def get(self, name: str) -> PipelineSchedule:
        found = self.find(name)
        if found is None:
            raise NotFoundError(
                f"schedule {name!r} does not exist in this project",
                hint="list schedules with `kibble schedules list`",
            )
        return found

    def upsert(self, name: str, **fields: Any) -> PipelineSchedule:
        found = self.find(name)
        if found is None:
            found = PipelineSchedule(project_id=self.project_id, name=name, **fields)
            self.session.add(found)
        else:
            for key, value in fields.items():
                if key not in ("last_slot_at", "last_version"):
                    setattr(found, key, value)
        self.session.flush()
        return found

    def list(self, *, active_only: bool = False) -> builtins.list[PipelineSchedule]:
        query = sa.select(PipelineSchedule).where(PipelineSchedule.project_id == self.project_id)
        if active_only:
            query = query.where(PipelineSchedule.paused.is_(False))
        return list(self.session.scalars(query.order_by(PipelineSchedule.name)))

    def claim(self, schedule_id: str, column: str, old: Any, new: Any, now: datetime) -> bool:
        """Move ``last_slot_at`` or ``last_version`` from ``old`` to ``new``; True if we won."""
        attr = getattr(PipelineSchedule, column)
        condition = attr.is_(None) if old is None else attr == old
        result = self.session.execute(
            sa.update(PipelineSchedule)
            .where(
                PipelineSchedule.project_id == self.project_id,
                PipelineSchedule.id == schedule_id,
                condition,
            )
            .values({column: new, "last_fired_at": now})
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def record_run(self, schedule_id: str, run_id: str) -> None:
        self.session.execute(
            sa.update(PipelineSchedule)
            .where(
                PipelineSchedule.project_id == self.project_id,
                PipelineSchedule.id == schedule_id,
            )
            .values(last_run_id=run_id)
        )
