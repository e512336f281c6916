"""The alert lifecycle: raise (deduplicated by fingerprint), resolve, acknowledge, list.

One open alert per fingerprint: raising it again while it is open (or acked) updates its
message and evidence and counts a repeat, without notifying again. Resolving closes it
and notifies once; ``evaluate_rules`` resolves by itself when a condition clears.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from kibble.context import Context
from kibble.errors import KibbleError, UsageError
from kibble.monitoring.notifiers import Notifier, notifiers_from_settings
from kibble.monitoring.points import parse_duration
from kibble.monitoring.rules import (
    SEVERITIES,
    Rule,
    RuleResult,
    default_rules,
    evaluate,
    rules_from_factory,
)
from kibble.monitoring.store import query_metrics
from kibble.store.models import Alert, FactoryVersion
from kibble.store.repositories.monitoring import AlertRecords

log = logging.getLogger("kibble.alerts")
ACTIVE = ("open", "acked")
KIND = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
STATUSES = ("open", "acked", "resolved")
DEFAULTS = "built-in defaults"


@dataclass
class AlertOutcome:
    alert: dict[str, Any]
    action: str  # raised | repeated | escalated | resolved

    @property
    def new(self) -> bool:
        return self.action == "raised"


def alert_dict(alert: Alert, project: str = "", occurrences: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": alert.id,
        "project": project,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "fingerprint": alert.fingerprint,
        "message": alert.message,
        "evidence": alert.evidence,
        "created_at": alert.created_at.isoformat() if alert.created_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "acked_by": alert.acked_by,
    }
    if occurrences is not None:
        data["occurrences"] = occurrences
    return data


def _notify(
    context: Context, event: str, alert: dict[str, Any], notifiers: Sequence[Notifier] | None
) -> list[str]:
    """Send to every channel; a failing channel is logged and named, never raised."""
    channels = notifiers if notifiers is not None else notifiers_from_settings(context.settings)
    failed = []
    payload = {"event": event, "alert": alert}
    for channel in channels:
        try:
            channel.send(payload)
        except KibbleError as exc:
            log.error("alert notification via %s failed: %s", channel.name, exc)
            failed.append(f"{channel.name}: {exc}")
    if failed:
        with context.store.session() as session:
            records = AlertRecords(session, context.project_id)
            records.record(records.get(alert["id"]), "notify_failed", details={"errors": failed})
    return failed


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def raise_alert(
    context: Context,
    kind: str,
    fingerprint: str,
    message: str,
    evidence: dict[str, Any] | None = None,
    severity: str = "warning",
    *,
    notifiers: Sequence[Notifier] | None = None,
) -> AlertOutcome:
    """Open an alert, or count a repeat of the open one with this fingerprint.

    Only a new alert, or a repeat at a higher severity ("escalated"), notifies.
    """
    if severity not in SEVERITIES:
        raise UsageError(
            f"alert severity {severity!r} is not one of {', '.join(SEVERITIES)}",
            hint="use info, warning or critical",
        )
    if not KIND.fullmatch(kind):
        raise UsageError(
            f"alert kind {kind!r} is not allowed",
            hint="use 1-64 lowercase letters, digits or '_', e.g. data_late",
        )
    if not fingerprint or len(fingerprint) > 128:
        raise UsageError(
            "an alert fingerprint must be 1-128 characters",
            hint="use a stable id of the problem, e.g. 'data_late|table=events'",
        )
    with context.store.session() as session:
        records = AlertRecords(session, context.project_id)
        alert = records.open_for(fingerprint)
        if alert is None:
            alert = records.create(
                kind=kind,
                fingerprint=fingerprint,
                message=message,
                evidence=evidence or {},
                severity=severity,
            )
            action = "raised"
        else:
            worse = _rank(severity) > _rank(alert.severity)
            alert.message, alert.severity = message, severity
            if evidence:  # newest values win, keys only the first source had are kept
                alert.evidence = {**alert.evidence, **evidence}
            action = "escalated" if worse else "repeated"
        records.record(alert, action, context.actor, {"message": message})
        data = alert_dict(alert, context.project)
    if action in ("raised", "escalated"):
        _notify(context, action, data, notifiers)
    return AlertOutcome(data, action)


def resolve_alert(
    context: Context,
    fingerprint: str,
    reason: str = "condition cleared",
    *,
    message: str | None = None,
    notifiers: Sequence[Notifier] | None = None,
) -> AlertOutcome | None:
    """Close the open alert with this fingerprint; ``None`` when none is open.

    ``message`` replaces the alert's text when the open one would read wrong once
    resolved ("has not arrived"); the open text stays in the alert's history."""
    with context.store.session() as session:
        records = AlertRecords(session, context.project_id)
        alert = records.open_for(fingerprint)
        if alert is None:
            return None
        alert.status = "resolved"
        alert.resolved_at = datetime.now(UTC)
        details = {"reason": reason}
        if message is not None:
            details["was"], alert.message = alert.message, message
        records.record(alert, "resolved", context.actor, details)
        data = alert_dict(alert, context.project)
    _notify(context, "resolved", data, notifiers)
    return AlertOutcome(data, "resolved")


def list_alerts(
    context: Context,
    status: str | Sequence[str] | None = ACTIVE,
    kind: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts newest first; ``status=None`` lists all, the default only active ones."""
    statuses = [status] if isinstance(status, str) else list(status or [])
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise UsageError(
            f"unknown alert status {', '.join(unknown)}",
            hint=f"use one of {', '.join(STATUSES)}",
        )
    with context.store.session() as session:
        records = AlertRecords(session, context.project_id)
        alerts = records.search(status=statuses, kind=kind, limit=limit)
        counts = records.occurrences([a.id for a in alerts])
        return [alert_dict(a, context.project, counts.get(a.id, 1)) for a in alerts]


def get_alert(context: Context, alert_id: str) -> dict[str, Any]:
    """One alert (full id or a unique prefix) with its evidence and its history."""
    with context.store.session() as session:
        records = AlertRecords(session, context.project_id)
        alert = records.get(alert_id)
        data = alert_dict(alert, context.project, records.occurrences([alert.id]).get(alert.id))
        data["history"] = [
            {"at": e.created_at.isoformat(), "action": e.action, "actor": e.actor, **e.details}
            for e in records.events(alert.id)
        ]
        return data


def ack_alert(context: Context, alert_id: str, note: str = "") -> dict[str, Any]:
    """Acknowledge: someone is on it. The alert stays active until its condition clears."""
    with context.store.session() as session:
        records = AlertRecords(session, context.project_id)
        alert = records.get(alert_id)
        if alert.status == "resolved":
            raise UsageError(
                f"alert {alert_id} is already resolved",
                hint="only open alerts can be acknowledged",
            )
        alert.status, alert.acked_by = "acked", context.actor
        records.record(alert, "acked", context.actor, {"note": note})
        data = alert_dict(alert, context.project)
    context.audit("alerts.ack", alert_id, note=note, kind=data["kind"])
    return data


def rules_in_force(context: Context) -> tuple[list[Rule], str]:
    """The rules alerts come from, and where they were declared: the ``alerts`` of the
    project's applied factory when it declares any, otherwise the built-in defaults.

    Read from the active factory version at each evaluation, so ``kibble apply`` and
    ``kibble factory rollback`` change what fires from the next evaluation on.
    """
    with context.store.session() as session:
        applied = session.execute(
            sa.select(FactoryVersion.version, FactoryVersion.spec)
            .where(FactoryVersion.project_id == context.project_id)
            .order_by(FactoryVersion.version.desc())
            .limit(1)
        ).first()
    declared = (applied.spec or {}).get("alerts") if applied is not None else None
    if applied is not None and declared:
        return rules_from_factory(declared, applied.version), f"factory version {applied.version}"
    return default_rules(context.settings.serving.latency_sla_ms), DEFAULTS


def evaluate_rules(
    context: Context,
    rules: Iterable[Rule],
    *,
    now: datetime | None = None,
    notifiers: Sequence[Notifier] | None = None,
    source: str = "",
) -> list[tuple[RuleResult, AlertOutcome | None]]:
    """Evaluate rules on stored metrics: raise what breaches, resolve what cleared.
    ``source`` (where the rules were declared) is kept in each alert's evidence."""
    now = now or datetime.now(UTC)
    outcomes: list[tuple[RuleResult, AlertOutcome | None]] = []
    for rule in rules:
        since = now - parse_duration(rule.window) - parse_duration("1d")
        points = query_metrics(context, rule.metric, since, rule.labels or None)
        for result in evaluate(rule, points, now):
            if source:
                result.evidence["rules_from"] = source
            if result.firing:
                outcome: AlertOutcome | None = raise_alert(
                    context,
                    rule.kind,
                    result.fingerprint,
                    result.message,
                    result.evidence,
                    rule.severity,
                    notifiers=notifiers,
                )
            else:
                outcome = resolve_alert(
                    context, result.fingerprint, result.message, notifiers=notifiers
                )
            outcomes.append((result, outcome))
    return outcomes


@dataclass
class Evaluation:
    """Where the rules in force came from, each rule's result with its alert's outcome,
    the alerts of rules no longer in force (resolved), and the declared rules that found
    no points of their metric in their window (a typo in a metric name reads the same)."""

    source: str
    results: list[tuple[RuleResult, AlertOutcome | None]]
    retired: list[AlertOutcome]
    idle: list[Rule] = field(default_factory=list)

    def idle_notes(self) -> list[str]:
        return [
            f"rule {r.name}: no {r.metric} points in its {r.window} window "
            "(`kibble monitor` lists the recorded metrics)"
            for r in self.idle
        ]


def evaluate_rules_in_force(
    context: Context,
    *,
    now: datetime | None = None,
    notifiers: Sequence[Notifier] | None = None,
    covered: Collection[str] = (),
) -> Evaluation:
    """Evaluate the rules in force, and resolve the open alerts of rules that left them
    (an apply or a rollback removed the rule), so no alert outlives its rule.

    ``covered``: kinds of built-in rules the caller's own reports already raise (the drift
    report names its movers), skipped while the defaults are in force.
    """
    rules, source = rules_in_force(context)
    names = {r.name for r in rules}
    if source == DEFAULTS:
        rules = [r for r in rules if r.kind not in covered]
    results = evaluate_rules(context, rules, now=now, notifiers=notifiers, source=source)
    retired = []
    for alert in list_alerts(context, limit=10_000):
        rule = (alert["evidence"] or {}).get("rule")
        if "rules_from" in (alert["evidence"] or {}) and rule not in names:
            reason = f"rule {rule} is no longer in force ({source})"
            outcome = resolve_alert(context, alert["fingerprint"], reason, notifiers=notifiers)
            if outcome is not None:
                retired.append(outcome)
    judged = {result.rule.name for result, _ in results}
    idle = [] if source == DEFAULTS else [r for r in rules if r.name not in judged]
    return Evaluation(source, results, retired, idle)
