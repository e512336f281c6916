"""What `kibble apply` writes besides the version row: the pipeline schedules and the
per-model gate policies, made to match the definition inside the apply's transaction.
Alert rules are read from the applied version itself (``monitoring.alerts.rules_in_force``);
apply only refuses rules the evaluator could not run.

Schedules written here carry the factory version (``factory_version``); schedules added
by hand (``kibble schedules add``) have none and are left alone unless the definition
declares one with the same name, which then takes it over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kibble.factory.definition import Factory
from kibble.factory.definition import GatePolicy as GateSpec
from kibble.monitoring.rules import Rule, rules_from_factory
from kibble.pipelines.loading import canonical_ref
from kibble.registry.gates import GatePolicy
from kibble.store.repositories.pipelines import Schedules
from kibble.store.repositories.registry import Registry


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule row a pipeline of the definition asks for (a cron, or a table trigger)."""

    name: str
    pipeline_ref: str
    kind: str
    cron: str = ""
    table: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed}


def trigger_name(pipeline: str, table: str) -> str:
    return f"{pipeline}-on-{table}"


def schedule_specs(factory: Factory) -> list[ScheduleSpec]:
    """A pipeline's cron schedule is named after it; each data trigger ``PIPELINE-on-TABLE``."""
    specs = []
    for name, pipeline in sorted(factory.pipelines.items()):
        ref = canonical_ref(pipeline.entrypoint)
        params = dict(pipeline.params)
        if pipeline.schedule:
            specs.append(ScheduleSpec(name, ref, "cron", cron=pipeline.schedule, params=params))
        for table in pipeline.triggers:
            specs.append(
                ScheduleSpec(trigger_name(name, table), ref, "table", table=table, params=params)
            )
    return specs


def gate_policy(spec: GateSpec) -> GatePolicy:
    """The registry's policy for one model, from the definition's declaration of it."""
    return GatePolicy(
        metric=spec.primary_metric,
        beat_baseline=spec.beat_baseline,
        confidence=spec.confidence,
        champion_tolerance=spec.champion_tolerance,
        slice_tolerances=dict(spec.slice_tolerance),
        min_coverage_ratio=spec.min_coverage_ratio,
        safety_probe=spec.safety_probe,
        latency_sla_ms=spec.latency_sla_ms,
    )


def check_alert_rules(factory: Factory, factory_version: int) -> list[Rule]:
    """The evaluator's rules for the definition's ``alerts``; a rule it cannot run (a
    name with no letters or digits, two names that read the same) refuses the apply."""
    return rules_from_factory(
        [rule.model_dump(mode="json") for rule in factory.alerts], factory_version
    )


def sync_gate_policies(
    session: Session, project_id: str, factory: Factory, factory_version: int
) -> None:
    policies = {
        name: gate_policy(spec).model_dump(mode="json") for name, spec in factory.models.items()
    }
    Registry(session, project_id).replace_gate_policies(policies, factory_version)


def sync_schedules(
    session: Session,
    project_id: str,
    specs: list[ScheduleSpec],
    factory_version: int,
    *,
    now: datetime,
    table_versions: Mapping[str, int | None],
) -> SyncReport:
    """Upsert every wanted schedule and delete the factory-made ones no longer wanted.

    Pause state and firing state survive an apply; a new or re-timed schedule starts
    counting from ``now`` (no catch-up of slots it never had), a new trigger from the
    table's current version."""
    repo = Schedules(session, project_id)
    existing = {row.name: row for row in repo.list()}
    report = SyncReport()
    for spec in specs:
        old = existing.get(spec.name)
        values: dict[str, Any] = {
            "pipeline_ref": spec.pipeline_ref,
            "kind": spec.kind,
            "cron": spec.cron,
            "table_name": spec.table,
            "params": dict(spec.params),
        }
        differs = old is None or any(getattr(old, k) != v for k, v in values.items())
        retimed = old is None or old.cron != spec.cron or old.table_name != spec.table
        row = repo.upsert(spec.name, **values, factory_version=factory_version)
        if retimed:
            row.last_slot_at = now if spec.kind == "cron" else None
            row.last_version = table_versions.get(spec.table) if spec.kind == "table" else None
        if old is None:
            report.added.append(spec.name)
        elif differs:
            report.changed.append(spec.name)
    wanted = {spec.name for spec in specs}
    for name, row in sorted(existing.items()):
        if row.factory_version is not None and name not in wanted:
            session.delete(row)
            report.removed.append(name)
    session.flush()
    return report
