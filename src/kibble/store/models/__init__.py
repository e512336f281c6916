"""Every table kibble keeps. Importing this package registers them all on ``Base``.

Each area keeps its tables in its own module here; add the import below.
"""

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
from kibble.store.models.factory import FactoryVersion

__all__ = [
    "Alert",
    "Artifact",
    "AuditEvent",
    "Base",
    "Dataset",
    "Deployment",
    "FactoryVersion",
    "ModelVersion",
    "Project",
    "RegisteredModel",
    "Run",
    "StepRun",
    "TableVersion",
    "new_id",
    "utcnow",
]
