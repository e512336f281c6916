"""Declarative alert rules and their evaluation over metric points. Pure: no I/O.

A rule reads: "alert ``kind`` at ``severity`` when the ``aggregate`` of ``metric`` over
the last ``window`` is ``condition`` ``threshold``", once per label series (one alert per
deployment, arm or feature). Rules are plain data, so they can live in a project's
declared configuration (``rules_from_dicts``) as well as in code.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kibble.errors import UsageError
from kibble.monitoring.points import Point, labels_key, matches, parse_duration

Condition = Literal[">", ">=", "<", "<=", "=="]
Aggregate = Literal["last", "max", "min", "mean", "sum"]
Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}
_AGGREGATES: dict[str, Callable[[Sequence[float]], float]] = {
    "last": lambda v: v[-1],
    "max": max,
    "min": min,
    "mean": lambda v: sum(v) / len(v),
    "sum": sum,
}


class Rule(BaseModel):
    """One alert rule. ``name`` prefixes the fingerprint of every alert it raises."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    kind: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")
    metric: str = Field(min_length=1, max_length=128)
    condition: Condition
    threshold: float
    window: str = "1d"
    aggregate: Aggregate = "last"
    severity: Severity = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    description: str = ""

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration(value)
        return value

    def describe(self) -> str:
        over = f"{self.aggregate}({self.metric}) over {self.window}"
        return f"{over} {self.condition} {self.threshold:g}"


@dataclass
class RuleResult:
    rule: Rule
    labels: dict[str, str]
    value: float
    firing: bool
    points: int
    fingerprint: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        state = "breached" if self.firing else "within bounds"
        subject = f"{self.rule.metric}{{{where}}}" if where else self.rule.metric
        return (
            f"{self.rule.name}: {subject} = {self.value:.4g} {state} "
            f"({self.rule.condition} {self.rule.threshold:g} over {self.rule.window})"
        )


def fingerprint(rule_name: str, labels: Mapping[str, str]) -> str:
    """Stable id of "this rule on this series"; repeats of it deduplicate to one alert."""
    text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    full = f"{rule_name}|{text}" if text else rule_name
    if len(full) <= 128:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:16]
    return f"{rule_name[:100]}|{digest}"


def evaluate(rule: Rule, points: Iterable[Point], now: datetime) -> list[RuleResult]:
    """Evaluate a rule over points (any order); one result per label series with data."""
    start = now - parse_duration(rule.window)
    series: dict[str, list[Point]] = {}
    for point in points:
        if point.name != rule.metric or not matches(point.labels, rule.labels):
            continue
        if point.window_end <= start or point.window_start > now:
            continue
        series.setdefault(labels_key(point.labels), []).append(point)
    results = []
    for group in series.values():
        group.sort(key=lambda p: p.window_start)
        values = [p.value for p in group]
        value = float(_AGGREGATES[rule.aggregate](values))
        firing = _OPS[rule.condition](value, rule.threshold)
        labels = dict(group[0].labels)
        results.append(
            RuleResult(
                rule=rule,
                labels=labels,
                value=value,
                firing=firing,
                points=len(group),
                fingerprint=fingerprint(rule.name, labels),
                evidence={
                    "rule": rule.name,
                    "condition": rule.describe(),
                    "value": value,
                    "threshold": rule.threshold,
                    "labels": labels,
                    **({"description": rule.description} if rule.description else {}),
                    "recent": [
                        {"window_start": p.window_start.isoformat(), "value": p.value}
                        for p in group[-10:]
                    ],
                },
            )
        )
    return results


def default_rules(latency_sla_ms: float = 50.0) -> list[Rule]:
    """One rule per failure mode the platform names. Producers emit these metrics:

    ``data.lateness_hours`` (freshness check), ``data.volume_ratio`` (a day's rows over
    the expected rows), ``data.invalid_rate`` (share of rows failing the contract),
    ``drift.features_drifted`` (``drift_points``; its fingerprint matches the alert
    ``record_drift_report`` raises, so both land on one alert), ``system.latency_p99_ms`` and
    ``system.error_rate`` (``system_metrics``), ``gate.failed`` (1 when a promotion or
    data gate failed). Feedback loops are watched by ``watch_feedback_loop``.
    """
    return [
        Rule(name="data_late", kind="data_late", metric="data.lateness_hours",
             condition=">", threshold=6, aggregate="max", severity="critical",
             description="yesterday's partition has not landed within 6 hours"),
        Rule(name="data_volume", kind="data_volume", metric="data.volume_ratio",
             condition="<", threshold=0.6, aggregate="last", severity="critical",
             description="a day holds less than 60% of the expected rows"),
        Rule(name="data_invalid", kind="data_invalid", metric="data.invalid_rate",
             condition=">", threshold=0.01, aggregate="max", severity="critical",
             description="more than 1% of rows break the data contract"),
        Rule(name="drift", kind="drift", metric="drift.features_drifted", condition=">",
             threshold=0, aggregate="last", severity="warning",
             description="features moved against the reference (see drift.psi per feature)"),
        Rule(name="latency_sla", kind="latency_sla", metric="system.latency_p99_ms",
             condition=">", threshold=latency_sla_ms, window="1h", aggregate="max",
             severity="critical", description="p99 latency above the serving SLA"),
        Rule(name="error_rate", kind="error_rate", metric="system.error_rate",
             condition=">", threshold=0.02, window="1h", aggregate="mean",
             severity="critical", description="more than 2% of requests fail"),
        Rule(name="gate_failed", kind="gate_failed", metric="gate.failed", condition=">",
             threshold=0, aggregate="max", severity="warning",
             description="a data or promotion gate failed; the run is held"),
    ]  # fmt: skip


def rules_from_dicts(items: Iterable[Mapping[str, Any]]) -> list[Rule]:
    """Rules from declared configuration, with one clear error for the first bad rule."""
    rules = []
    for index, item in enumerate(items):
        try:
            rules.append(Rule.model_validate(dict(item)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise UsageError(
                f"alert rule #{index + 1} ({item.get('name', '?')}): {where}: {first['msg']}",
                hint="rules need name, kind, metric, condition (> >= < <= ==) and threshold",
            ) from exc
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(
            f"alert rule names must be unique: {', '.join(duplicates)}",
            hint="rename one; the name is part of each alert's fingerprint",
        )
    return rules


def rules_from_factory(alerts: Iterable[Mapping[str, Any]], version: int) -> list[Rule]:
    """The evaluator's rules from a factory's ``alerts`` (``AlertRule`` as stored JSON).

    The rule's name is its alert's fingerprint prefix; its kind is the name in snake case
    (``ctr-drop`` -> ``ctr_drop``). A rule reads the newest point in its window
    (``aggregate="last"``) of every series of its metric.
    """
    items = []
    for alert in alerts:
        name = str(alert.get("name", ""))
        items.append(
            {
                "name": re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-_.")[:64] or name,
                "kind": re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:64] or name,
                "metric": alert.get("metric"),
                "condition": alert.get("condition"),
                "threshold": alert.get("threshold"),
                "window": alert.get("window", "1d"),
                "severity": alert.get("severity", "warning"),
                "description": f"declared in factory version {version} as {name!r}",
            }
        )
    return rules_from_dicts(items)
