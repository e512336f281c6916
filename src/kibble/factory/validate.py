"""Static checks of a factory definition: references, schedules, thresholds, secrets,
and compatibility of contracts with the tables as they exist. Pure: no I/O."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from croniter import croniter

from kibble.core.names import NAME
from kibble.data.contracts import K9S_CONTRACTS
from kibble.factory.definition import Factory, SourceSpec
from kibble.factory.sync import trigger_name

SECRET_PATTERNS = [
    (re.compile(r"AKIA[0-9A-Z]{16}"), "an AWS access key"),
    (re.compile(r"\bkb_[A-Za-z0-9_-]{16,}"), "a kibble API token"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
    (re.compile(r"(?i)(password|passwd|secret|api[_-]?key)\s*[=:]\s*\S+"), "a password assignment"),
]


def local_database(source: SourceSpec) -> bool:
    """An sql source that names a local SQLite file: no credentials to keep secret, so the
    URL may stand in the definition and the source's table is the SQL table read."""
    return source.kind == "sql" and source.location.startswith("sqlite:///")


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.path}: {self.message}"


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _strings(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _strings(value, f"{path}[{i}]")
    elif isinstance(data, str):
        yield path, data


def secret_findings(factory: Factory) -> list[Finding]:
    findings = []
    for path, value in _strings(factory.canonical()):
        for pattern, what in SECRET_PATTERNS:
            if pattern.search(value):
                findings.append(
                    Finding(
                        "warning",
                        path,
                        f"looks like {what}; refer to it with "
                        "SecretRef(secret='NAME') and keep the value out of git",
                    )
                )
                break
        else:
            if len(value) >= 32 and " " not in value and "/" not in value and _entropy(value) > 4.2:
                findings.append(
                    Finding(
                        "warning",
                        path,
                        "looks like a secret (long random "
                        "string); use SecretRef(secret='NAME') instead",
                    )
                )
    return findings


def reference_findings(factory: Factory) -> list[Finding]:
    errors: list[Finding] = []
    tables = factory.tables

    def err(path: str, message: str) -> None:
        errors.append(Finding("error", path, message))

    for name, spec in tables.items():
        if not NAME.fullmatch(name):
            err(f"tables.{name}", "table names use 1-63 lowercase letters, digits, '-' or '_'")
        columns = {c.name for c in spec.columns}
        dupes = [c for c, n in Counter(c.name for c in spec.columns).items() if n > 1]
        if dupes:
            err(f"tables.{name}.columns", f"duplicate columns: {', '.join(dupes)}")
        for key in spec.key:
            if key not in columns:
                err(f"tables.{name}.key", f"key column {key!r} is not a column of {name!r}")
        if spec.partition_by and spec.partition_by not in columns:
            err(f"tables.{name}.partition_by", f"{spec.partition_by!r} is not a column of {name!r}")
        for column, target in spec.foreign_keys.items():
            if column not in columns:
                err(f"tables.{name}.foreign_keys", f"{column!r} is not a column of {name!r}")
            ref_table, _, ref_column = target.partition(".")
            if ref_table not in tables:
                err(
                    f"tables.{name}.foreign_keys.{column}",
                    f"refers to table {ref_table!r}, which is not declared",
                )
            elif ref_column not in {c.name for c in tables[ref_table].columns}:
                err(
                    f"tables.{name}.foreign_keys.{column}",
                    f"refers to {target!r}, but {ref_table!r} has no column {ref_column!r}",
                )
        for col in spec.columns:
            if col.min is not None and col.max is not None and col.min > col.max:
                err(f"tables.{name}.columns.{col.name}", "min is greater than max")
    builtin = set(K9S_CONTRACTS)  # the lake's built-in contracts need no declaration
    for name, source in factory.sources.items():
        if source.table not in tables and source.table not in builtin:
            err(f"sources.{name}.table", f"loads into {source.table!r}, which is not declared")
        if source.kind == "sql" and source.connection is None and not local_database(source):
            err(
                f"sources.{name}.connection",
                "an sql source needs connection=SecretRef(secret='NAME'), "
                "the environment variable holding its database URL (a local SQLite file "
                "may be named in location as sqlite:///PATH instead)",
            )
        elif source.kind == "files" and source.connection is not None:
            err(f"sources.{name}.connection", "a files source takes no connection; remove it")
        columns = (
            {c.name for c in tables[source.table].columns} if source.table in tables else set()
        )
        for target in sorted(set(source.mapping.values()) - columns if columns else set()):
            err(
                f"sources.{name}.mapping",
                f"maps onto {target!r}, which is not a column of {source.table!r}",
            )
    for name, pipeline in factory.pipelines.items():
        if pipeline.schedule is not None and not croniter.is_valid(pipeline.schedule):
            err(
                f"pipelines.{name}.schedule",
                f"{pipeline.schedule!r} is not a cron expression "
                "(e.g. '0 2 * * *' for 02:00 daily)",
            )
        for table in pipeline.triggers:
            if table not in tables and table not in builtin:
                err(f"pipelines.{name}.triggers", f"triggers on {table!r}, which is not declared")
        wanted = ([name] if pipeline.schedule else []) + [
            trigger_name(name, t) for t in pipeline.triggers
        ]
        for schedule in wanted:
            if not NAME.fullmatch(schedule):
                err(
                    f"pipelines.{name}",
                    f"its schedule would be named {schedule!r}: use 1-63 lowercase letters, "
                    "digits, '-' or '_' for pipeline and table names",
                )
        if pipeline.schedule is None and not pipeline.triggers:
            errors.append(
                Finding(
                    "warning",
                    f"pipelines.{name}",
                    "has neither a schedule nor a trigger; it only runs by hand",
                )
            )
    for name, deployment in factory.deployments.items():
        if deployment.model not in factory.models:
            err(
                f"deployments.{name}.model",
                f"deploys {deployment.model!r}, which has no promotion policy under models",
            )
    for i, rule in enumerate(factory.alerts):
        for channel in rule.channels:
            if channel not in factory.channels:
                err(f"alerts[{i}].channels", f"channel {channel!r} is not declared under channels")
    names = [rule.name for rule in factory.alerts]
    for dupe in sorted({n for n in names if names.count(n) > 1}):
        err("alerts", f"two alert rules are named {dupe!r}")
    return errors


def removes_all_gates(factory: Factory) -> bool:
    """True when models are deployed but no promotion gate would check them."""
    deployed = {d.model for d in factory.deployments.values()}
    return bool(deployed) and all(
        factory.models[m].gate_count() == 0 for m in deployed if m in factory.models
    )


def breaking_changes(factory: Factory, existing: Mapping[str, Mapping[str, str]]) -> list[Finding]:
    """Contract changes that existing data would break: ``existing`` is table -> column -> type."""
    findings = []
    for table, columns in existing.items():
        spec = factory.tables.get(table)
        if spec is None:
            continue
        declared = {c.name: c for c in spec.columns}
        for column, old_type in columns.items():
            if column not in declared:
                findings.append(
                    Finding(
                        "error",
                        f"tables.{table}.columns",
                        f"drops column {column!r} that existing data has",
                    )
                )
            elif declared[column].type != old_type:
                findings.append(
                    Finding(
                        "error",
                        f"tables.{table}.columns.{column}",
                        f"changes type {old_type} -> {declared[column].type}",
                    )
                )
        for name, spec_column in declared.items():
            if name not in columns and not spec_column.nullable:
                findings.append(
                    Finding(
                        "error",
                        f"tables.{table}.columns.{name}",
                        "adds a NOT NULL column that existing rows lack",
                    )
                )
    return findings


def validate(
    factory: Factory, existing: Mapping[str, Mapping[str, str]] | None = None
) -> list[Finding]:
    findings = reference_findings(factory) + secret_findings(factory)
    if removes_all_gates(factory):
        findings.append(
            Finding(
                "warning",
                "models",
                "deployed models have no promotion gates; "
                "`kibble apply` will need --allow no-gates",
            )
        )
    if existing:
        findings += [
            Finding("warning", f.path, f"{f.message} (apply needs --allow breaking-contract)")
            for f in breaking_changes(factory, existing)
        ]
    return findings
