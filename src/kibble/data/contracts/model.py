"""Data contracts: what a table promises its readers, as plain pydantic models.

A contract is data, not code, so it can be stored with the dataset, shown by
``kibble tables show`` and compared across versions. Row-level rules (types, nulls,
ranges, allowed values) decide quarantine; table-level rules (keys, foreign keys,
freshness, volume, drift) decide whether a gate passes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kibble.core.names import validate_name
from kibble.errors import UsageError

ColumnType = Literal["string", "int64", "float64", "bool", "date", "timestamp"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Model):
    name: str
    type: ColumnType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = Field(None, description="allowed values (string columns)")
    pattern: str | None = Field(None, description="regular expression for string values")


class ForeignKey(_Model):
    column: str
    table: str
    ref_column: str


class VolumeRule(_Model):
    """Row count of a partition against the trailing partitions: median +- k * MAD."""

    window: int = Field(28, gt=1, description="trailing partitions that form the band")
    min_history: int = Field(5, gt=0, description="fewer partitions than this: warn only")
    k: float = Field(4.0, gt=0, description="band half-width in robust standard deviations")
    min_relative_width: float = Field(0.2, ge=0, description="band never narrower than this")


class DriftRule(_Model):
    """Distribution drift of one column against the previous partitions."""

    column: str
    kind: Literal["categorical", "numeric"]
    psi_warn: float = 0.1
    psi_fail: float = 0.25
    ks_fail: float | None = Field(0.15, description="KS statistic that fails (numeric only)")
    reference_partitions: int = Field(7, gt=0)
    bins: int = Field(10, gt=1)


class Contract(_Model):
    name: str
    description: str = ""
    columns: list[Column]
    key: list[str] = Field(default_factory=list, description="columns that identify a row")
    foreign_keys: list[ForeignKey] = Field(default_factory=list)
    partition_by: str | None = None
    freshness_hours: float | None = Field(
        None, description="a partition for day D is due by D + 1 day + this many hours (UTC)"
    )
    volume: VolumeRule | None = None
    drift: list[DriftRule] = Field(default_factory=list)
    max_rejected_share: float = Field(
        0.0, ge=0, le=1, description="share of rows sent to quarantine above which a gate fails"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        validate_name(self.name, "table name")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"contract {self.name}: duplicate column names")
        referenced = [*self.key, *(f.column for f in self.foreign_keys)]
        referenced += [d.column for d in self.drift]
        if self.partition_by:
            referenced.append(self.partition_by)
        missing = sorted(set(referenced) - set(names))
        if missing:
            raise ValueError(f"contract {self.name}: unknown columns {missing}")
        return self

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise UsageError(f"table {self.name} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
