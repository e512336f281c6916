"""A project's whole ML system declared in git: validate, plan, apply, history, rollback."""

from kibble.factory.definition import (
    AlertRule,
    ChannelSpec,
    ColumnSpec,
    Factory,
    GatePolicy,
    PipelineSpec,
    RolloutPolicy,
    SecretRef,
    SourceSpec,
    TableSpec,
)

__all__ = [
    "AlertRule",
    "ChannelSpec",
    "ColumnSpec",
    "Factory",
    "GatePolicy",
    "PipelineSpec",
    "RolloutPolicy",
    "SecretRef",
    "SourceSpec",
    "TableSpec",
]
