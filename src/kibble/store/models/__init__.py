"""Every table kibble keeps. Importing this package registers them all on ``Base``.

Each area keeps its tables in its own module here; add the import below.
"""

from kibble.store.models.auth import ApiToken, IdempotentResponse, Membership, ProjectQuota
from kibble.store.models.base import Base, new_id, utcnow
from kibble.store.models.core import (
    Alert,
    Artifact,
    AuditEvent,
    Dataset,
    Deployment,
    ModelVersion,
    Project,
    RegisteredModel,
    Run,
    StepRun,
    TableVersion,
)
from kibble.store.models.data import CheckResultRecord, DataLoad
from kibble.store.models.factory import FactoryVersion
from kibble.store.models.monitoring import AlertEvent, MetricPoint
from kibble.store.models.pipelines import LineageEdge, PipelineSchedule, StepLease, StepLog
from kibble.store.models.registry import (
    AliasHistory,
    GatePolicyRecord,
    GateReportRecord,
    ModelAlias,
)
from kibble.store.models.serving import FeedbackEvent, Rollout, RolloutDecision, ServedRequest

__all__ = [
    "Alert",
    "AlertEvent",
    "AliasHistory",
    "ApiToken",
    "Artifact",
    "AuditEvent",
    "Base",
    "CheckResultRecord",
    "DataLoad",
    "Dataset",
    "Deployment",
    "FactoryVersion",
    "FeedbackEvent",
    "GatePolicyRecord",
    "GateReportRecord",
    "IdempotentResponse",
    "LineageEdge",
    "Membership",
    "MetricPoint",
    "ModelAlias",
    "ModelVersion",
    "PipelineSchedule",
    "Project",
    "ProjectQuota",
    "RegisteredModel",
    "Rollout",
    "RolloutDecision",
    "Run",
    "ServedRequest",
    "StepLease",
    "StepLog",
    "StepRun",
    "TableVersion",
    "new_id",
    "utcnow",
]
