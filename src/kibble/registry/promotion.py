"""Gate a candidate version: store the report, then set challenger or archive and alert."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kibble.context import Context
from kibble.registry.gates import Check, GatePolicy, GateReport, evaluate_gates, failed_check
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
    extra_checks: Sequence[Check] = (),
) -> GateReport:
    """Run the gates; on pass the candidate becomes challenger, on fail it is archived.

    The thresholds are the model's stored policy (written by ``kibble apply``) unless the
    evaluation carries its own; the report records which policy decided. ``extra_checks``
    (the safety probe's) join the report; a gate the policy asks for that has no evidence
    (no recommendations for coverage) fails with that reason instead of being skipped.
    Refused candidates share one alert per model and day, not one each."""
    e = evaluation
    with context.store.session() as s:
        reg = Registry(s, context.project_id)
        version = reg.version(reg.model(model_name), candidate_version)
        policy, source = (e.policy, "given") if e.policy else stored_policy(reg, model_name)
        checks = list(extra_checks)
        if e.candidate:
            checks += evaluate_gates(
                e.candidate,
                e.baseline,
                policy,
                champion=e.champion,
                slices=e.slices,
                recommendations=e.recommendations,
                reference_coverage=e.reference_coverage,
            ).checks
        measured = {c.name for c in checks}
        if policy.min_coverage_ratio > 0 and e.candidate and "coverage" not in measured:
            checks.append(
                failed_check(
                    "coverage", "could not run: no recommendations or reference coverage given."
                )
            )
        if not checks:
            checks.append(failed_check("evidence", "could not run: nothing was measured."))
        report = GateReport.of(checks)
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
        day = _data_day(version.metrics)
    _summarise_refusal(context, model_name, candidate_version, report, report_id, day)
    return report


def _data_day(metrics: dict[str, Any] | None) -> str:
    """The day a version's data ends (``trained_until``, its gate's held-out day), so a
    replayed or backfilled run files its refusal under that day; else today."""
    until = (metrics or {}).get("trained_until")
    try:
        return datetime.fromisoformat(str(until)).date().isoformat()
    except ValueError:
        return datetime.now(UTC).date().isoformat()


def _summarise_refusal(
    context: Context, model_name: str, version: int, report: GateReport, report_id: str, day: str
) -> None:
    """One open ``gate_failed`` alert per model and day, listing every refused version."""
    from kibble.monitoring.alerts import raise_alert

    failed = [c.name for c in report.checks if not c.passed]
    fingerprint = f"gate_failed|{model_name}|{day}"
    raise_alert(
        context,
        "gate_failed",
        fingerprint,
        f"{model_name}: candidates refused by the promotion gates on {day}, latest "
        f"v{version} ({', '.join(failed)}); see `kibble models show {model_name}`",
        {"day": day, f"v{version}": {"gate_report_id": report_id, "failed": failed}},
        severity="info",
    )
