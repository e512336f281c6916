"""Repositories: the only code that writes SQL for its area. Every call names a project."""

from kibble.store.repositories.artifacts import ArtifactRecords
from kibble.store.repositories.audit import AuditLog
from kibble.store.repositories.projects import Projects

__all__ = ["ArtifactRecords", "AuditLog", "Projects"]
