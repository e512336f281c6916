"""Gate a candidate version: store the report, then set challenger or archive and alert."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kibble.context import Context
from kibble.registry.gates import GatePolicy, GateReport, evaluate_gates
from kibble.store.models import Alert
from kibble.store.repositories.registry import Registry


@dataclass(frozen=True)
class Evaluation:
    """Per-user metrics (user id -> value) for the candidate and its references."""

    candidate: Mapping[str, float]
    baseline: Mapping[str, float]
    champion: Mapping[str, float] | None = None
    slices: Mapping[str, str] | None = None
    recommendations: Mapping[str, Sequence[str]] | None = None
    reference_coverage: int | None = None
    policy: GatePolicy | None = None  # None: the model's stored policy, else the defaults


def stored_policy(registry: Registry, model_name: str) -> tuple[GatePolicy, str]:
    """The policy the applied factory declared for ``model_name``, and where it came from."""
    record = registry.gate_policy(model_name)
    if record is None:
        return GatePolicy(), "default"
    source = (
        "factory" if record.factory_version is None else f"factory version {record.factory_version}"
    )
    return GatePolicy.model_validate(record.policy), source


def gate_candidate(
    context: Context,
    model_name: str,
    candidate_version: int,
    evaluation: Evaluation,
    *,
    actor: str = "pipeline",
) -> GateReport:
    """Run the gates; on pass the candidate becomes challenger, on fail it is archived.

    The thresholds are the model's stored policy (written by ``kibble apply``) unless the
    evaluation carries its own; the report records which policy decided."""
    e = evaluation
    with context.store.session() as s:
        reg = Registry(s, context.project_id)
        version = reg.version(reg.model(model_name), candidate_version)
        policy, source = (e.policy, "given") if e.policy else stored_policy(reg, model_name)
        report = evaluate_gates(
            e.candidate,
            e.baseline,
            policy,
            champion=e.champion,
            slices=e.slices,
            recommendations=e.recommendations,
            reference_coverage=e.reference_coverage,
        )
        report.policy = policy.model_dump(mode="json")
        report.policy_source = source
        report_id = reg.save_report(version, report.model_dump(mode="json"), report.passed)
        if report.passed:
            reg.move_alias(
                model_name,
                "challenger",
                candidate_version,
                actor=actor,
                reason="passed promotion gates",
                gate_report_id=report_id,
            )
            return report
        version.status = "archived"
        failed = [c.name for c in report.checks if not c.passed]
        key = f"{model_name}:{candidate_version}:gate_failed".encode()
        s.add(
            Alert(
                project_id=context.project_id,
                kind="gate_failed",
                severity="warning",
                fingerprint=hashlib.sha256(key).hexdigest()[:32],
                message=(
                    f"{model_name} v{candidate_version} failed promotion gates: "
                    f"{', '.join(failed)}; see `kibble models show {model_name}`"
                ),
                evidence={"gate_report_id": report_id, "failed": failed},
            )
        )
    return report
