"""A project's whole ML system as one declarative, versionable definition.

Tables and their contracts, pipelines with schedules and triggers, promotion gates,
rollout policies, serving and alert rules live side by side, so they are reviewed,
validated and applied together ("deploy the factory, not the product").
Secrets are referenced by name (``SecretRef``), never written here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ColumnType = Literal["string", "int64", "float64", "bool", "timestamp", "date"]
Strategy = Literal["gradual", "canary", "ab", "shadow", "bandit"]
Severity = Literal["info", "warning", "critical"]
Comparison = Literal[">", ">=", "<", "<=", "=="]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Spec):
    """A secret by name: resolved at run time from the environment or a secrets file."""

    secret: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,63}$")


class ColumnSpec(_Spec):
    name: str
    type: ColumnType
    nullable: bool = True
    allowed: list[str] | None = None
    min: float | None = None
    max: float | None = None


class TableSpec(_Spec):
    """A table's contract: columns, key, partitioning, references, freshness."""

    columns: list[ColumnSpec]
    key: list[str] = Field(default_factory=list)
    partition_by: str | None = None
    foreign_keys: dict[str, str] = Field(default_factory=dict, description="column -> table.column")
    freshness_deadline: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    volume_tolerance: float = Field(0.5, gt=0, le=1)


class SourceSpec(_Spec):
    """Where a table's data arrives from."""

    kind: Literal["files", "sql", "http"]
    table: str
    location: str = Field(description="folder/URL, SQL table, or HTTP endpoint")
    connection: SecretRef | None = None
    mapping: dict[str, str] = Field(default_factory=dict, description="source col -> contract col")


class PipelineSpec(_Spec):
    entrypoint: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="module:attr")
    schedule: str | None = Field(None, description="cron expression, e.g. '0 2 * * *'")
    triggers: list[str] = Field(default_factory=list, description="tables whose new data runs it")
    params: dict[str, Any] = Field(default_factory=dict)
    executor: Literal["inprocess", "process", "ray"] = "inprocess"
    retries: int = Field(1, ge=0, le=10)
    timeout_minutes: float = Field(120, gt=0)


class GatePolicy(_Spec):
    """Promotion gates for one registered model. Removing all of them needs --allow."""

    primary_metric: str = "ndcg@10"
    beat_baseline: bool = True
    champion_tolerance: float = Field(0.01, ge=0, le=1)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    safety_probe: bool = True
    latency_sla_ms: float = Field(50, gt=0)
    slice_tolerance: dict[str, float] = Field(default_factory=dict)
    min_coverage_ratio: float = Field(0.5, ge=0, le=1)

    def gate_count(self) -> int:
        return (
            int(self.beat_baseline)
            + int(self.safety_probe)
            + len(self.slice_tolerance)
            + int(self.min_coverage_ratio > 0)
        )


class RolloutPolicy(_Spec):
    model: str
    strategy: Strategy = "gradual"
    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    holdout_share: float = Field(0.05, ge=0, lt=0.5)
    max_error_rate: float = Field(0.01, ge=0, le=1)
    p99_latency_ms: float = Field(50, gt=0)
    min_samples: int = Field(500, ge=1)
    ctr_margin: float = Field(0.02, ge=0, le=1)

    @field_validator("steps")
    @classmethod
    def _ascending(cls, steps: list[float]) -> list[float]:
        if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)):
            raise ValueError("steps must be strictly ascending percentages in (0, 100]")
        return steps


class AlertRule(_Spec):
    name: str
    metric: str
    condition: Comparison
    threshold: float
    window: str = Field("1d", pattern=r"^\d+[mhd]$")
    severity: Severity = "warning"
    channels: list[str] = Field(default_factory=lambda: ["log"])


class ChannelSpec(_Spec):
    kind: Literal["log", "webhook", "file"]
    url: str | None = None
    token: SecretRef | None = None


class Factory(_Spec):
    """The whole definition. ``kibble validate`` checks it; ``kibble apply`` ships it."""

    project: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    description: str = ""
    tables: dict[str, TableSpec] = Field(default_factory=dict)
    sources: dict[str, SourceSpec] = Field(default_factory=dict)
    pipelines: dict[str, PipelineSpec] = Field(default_factory=dict)
    models: dict[str, GatePolicy] = Field(default_factory=dict)
    deployments: dict[str, RolloutPolicy] = Field(default_factory=dict)
    channels: dict[str, ChannelSpec] = Field(
        default_factory=lambda: {"log": ChannelSpec(kind="log")}
    )
    alerts: list[AlertRule] = Field(default_factory=list)

    def canonical(self) -> dict[str, Any]:
        """Plain JSON data with defaults filled in: what is stored, diffed and hashed."""
        return self.model_dump(mode="json")
