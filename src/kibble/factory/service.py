"""Plan, apply, history and rollback of factory versions, atomically, per project."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.context import Context
from kibble.data.tables import Tables
from kibble.errors import ConflictError, NotFoundError, UsageError
from kibble.factory.contracts import existing_columns, sync_contracts
from kibble.factory.definition import Factory
from kibble.factory.diff import Change, by_kind, diff
from kibble.factory.entrypoints import entrypoint_findings
from kibble.factory.load import digest_of
from kibble.factory.sync import (
    ScheduleSpec,
    SyncReport,
    check_alert_rules,
    schedule_specs,
    sync_gate_policies,
    sync_schedules,
)
from kibble.factory.validate import Finding, breaking_changes, reference_findings, removes_all_gates
from kibble.pipelines.tables import table_version
from kibble.store.models import FactoryVersion, utcnow

ALLOWABLE = {"breaking-contract", "no-gates"}


@dataclass
class Plan:
    current_version: int | None
    changes: list[Change]
    needs_allow: dict[str, list[str]] = field(default_factory=dict)
    kinds: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.changes

    def as_dict(self) -> dict[str, Any]:
        return {
            "current_version": self.current_version,
            "changes": [
                {"kind": c.kind, "path": c.path, "old": c.old, "new": c.new} for c in self.changes
            ],
            "needs_allow": self.needs_allow,
            "kinds": self.kinds,
        }


def active(context: Context) -> FactoryVersion | None:
    with context.store.session() as session:
        return session.scalar(
            sa.select(FactoryVersion)
            .where(FactoryVersion.project_id == context.project_id)
            .order_by(FactoryVersion.version.desc())
            .limit(1)
        )


def history(context: Context, limit: int = 100) -> list[FactoryVersion]:
    with context.store.session() as session:
        return list(
            session.scalars(
                sa.select(FactoryVersion)
                .where(FactoryVersion.project_id == context.project_id)
                .order_by(FactoryVersion.version.desc())
                .limit(limit)
            )
        )


def _check_project(context: Context, factory: Factory) -> None:
    if factory.project != context.project:
        raise UsageError(
            f"the definition is for project {factory.project!r}, but kibble is set to "
            f"{context.project!r}",
            hint=f"run with --project {factory.project} or fix `project` in the definition",
        )


def plan(
    context: Context, factory: Factory, existing: dict[str, dict[str, str]] | None = None
) -> Plan:
    """What `apply` would change. ``existing`` (table -> column -> type, what a contract
    must not break) defaults to the declared tables as they are in the lake."""
    _check_project(context, factory)
    current = active(context)
    changes = diff(current.spec if current else None, factory.canonical())
    needs: dict[str, list[str]] = {}
    if existing is None:
        existing = existing_columns(Tables(context).lake, factory)
    breaking = breaking_changes(factory, existing)
    if breaking:
        needs["breaking-contract"] = [str(f) for f in breaking]
    if removes_all_gates(factory):
        needs["no-gates"] = ["deployed models would reach customers with no promotion gate"]
    kinds = by_kind(current.spec if current else None, factory.canonical())
    return Plan(current.version if current else None, changes, needs, kinds)


def apply(
    context: Context,
    factory: Factory,
    *,
    allow: set[str] | None = None,
    git: dict[str, Any] | None = None,
    existing: dict[str, dict[str, str]] | None = None,
    note: str = "",
    root: Path | None = None,
    now: datetime | None = None,
) -> tuple[FactoryVersion, bool]:
    """Store the definition as the next version and make the project's contracts,
    schedules and gate policies match it, all in one transaction. Returns (version,
    created). Pipelines must load (from ``root``, the definition's folder, or the current
    directory) or nothing is applied. New cron schedules count from ``now`` (default: the
    wall clock); a simulated shop passes its own clock so slots line up with its days."""
    allow = set(allow or ())
    unknown = allow - ALLOWABLE
    if unknown:
        raise UsageError(
            f"unknown --allow value(s): {', '.join(sorted(unknown))}",
            hint=f"choose from {', '.join(sorted(ALLOWABLE))}",
        )
    errors = [f for f in reference_findings(factory) if f.level == "error"]
    errors += [f for f in entrypoint_findings(factory, root) if f.level == "error"]
    if errors:
        raise UsageError(f"the definition is invalid: {errors[0]}", hint="run `kibble validate`")
    the_plan = plan(context, factory, existing)
    missing = sorted(set(the_plan.needs_allow) - allow)
    if missing:
        reasons = "; ".join(the_plan.needs_allow[m][0] for m in missing)
        raise ConflictError(
            f"apply refused: {reasons}",
            hint=" ".join(f"--allow {m}" for m in missing) + " to apply anyway",
        )
    spec = factory.canonical()
    digest = digest_of(spec)
    schedules = schedule_specs(factory)
    # read outside the transaction: SQLite allows one writer at a time
    tables = {s.table: table_version(context, s.table) for s in schedules if s.table}
    with context.store.session() as session:
        latest = session.scalar(
            sa.select(FactoryVersion)
            .where(FactoryVersion.project_id == context.project_id)
            .order_by(FactoryVersion.version.desc())
            .limit(1)
            .with_for_update()
        )
        if latest is not None and latest.digest == digest:
            # nothing new; the sync still puts back a schedule someone removed by hand
            _sync(session, context, factory, latest.version, schedules, tables, now)
            return latest, False
        version = FactoryVersion(
            project_id=context.project_id,
            version=(latest.version + 1) if latest else 1,
            digest=digest,
            spec=spec,
            git=git or {},
            applied_by=context.actor,
            note=note,
            allowed=sorted(allow),
        )
        session.add(version)
        try:
            session.flush()
        except sa.exc.IntegrityError as exc:
            raise ConflictError(
                "another apply to this project happened at the same moment",
                hint="run `kibble plan` again and re-apply",
            ) from exc
        synced = _sync(session, context, factory, version.version, schedules, tables, now)
    context.audit(
        "factory.apply",
        f"factory:{version.version}",
        digest=digest,
        changes=len(the_plan.changes),
        allowed=sorted(allow),
        note=note,
        schedules=synced.as_dict(),
    )
    return version, True


def _sync(
    session: Session,
    context: Context,
    factory: Factory,
    number: int,
    schedules: list[ScheduleSpec],
    tables: dict[str, int | None],
    now: datetime | None = None,
) -> SyncReport:
    """Schedules and gate policies follow the definition in the apply's own transaction."""
    check_alert_rules(factory, number)
    sync_gate_policies(session, context.project_id, factory, number)
    sync_contracts(session, context.project_id, Tables(context).lake, factory, number)
    return sync_schedules(
        session, context.project_id, schedules, number, now=now or utcnow(), table_versions=tables
    )


def get_version(context: Context, number: int) -> FactoryVersion:
    with context.store.session() as session:
        found = session.scalar(
            sa.select(FactoryVersion).where(
                FactoryVersion.project_id == context.project_id, FactoryVersion.version == number
            )
        )
    if found is None:
        raise NotFoundError(
            f"factory version {number} does not exist in {context.project!r}",
            hint="list versions with `kibble factory history`",
        )
    return found


def rollback(context: Context, number: int) -> tuple[FactoryVersion, bool]:
    """Re-apply an earlier version's definition as a new version (history stays linear);
    its contracts, schedules, gate and rollout policies come back with it."""
    old = get_version(context, number)
    factory = Factory.model_validate(old.spec)
    return apply(
        context, factory, allow=set(old.allowed), git=old.git, note=f"rollback to version {number}"
    )


def findings_as_dicts(findings: list[Finding]) -> list[dict[str, str]]:
    return [{"level": f.level, "path": f.path, "message": f.message} for f in findings]
