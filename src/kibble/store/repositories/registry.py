"""SQL for the registry: atomic alias moves (row lock), alias history, gate reports."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError, UsageError
from kibble.store.models import (
    AliasHistory,
    AuditEvent,
    GateReportRecord,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
)

ALIASES = ("champion", "challenger", "baseline")


class Registry:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def model(self, name: str, *, lock: bool = False) -> RegisteredModel:
        q = sa.select(RegisteredModel).where(
            RegisteredModel.project_id == self.project_id, RegisteredModel.name == name
        )
        if lock:
            q = q.with_for_update()
        row = self.session.scalar(q)
        if row is None:
            raise NotFoundError(
                f"no registered model {name!r} in this project",
                hint="list models with `kibble models list`",
            )
        return row

    def version(self, model: RegisteredModel, version: int) -> ModelVersion:
        row = self.session.scalar(
            sa.select(ModelVersion).where(
                ModelVersion.model_id == model.id, ModelVersion.version == version
            )
        )
        if row is None:
            raise NotFoundError(
                f"model {model.name!r} has no version {version}",
                hint=f"see versions with `kibble models show {model.name}`",
            )
        return row

    def alias(self, model: RegisteredModel, alias: str) -> ModelVersion | None:
        row = self.session.scalar(
            sa.select(ModelAlias).where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
        )
        return None if row is None else self.session.get(ModelVersion, row.version_id)

    def save_report(self, version: ModelVersion, report: dict[str, Any], passed: bool) -> str:
        rec = GateReportRecord(
            project_id=self.project_id, version_id=version.id, passed=passed, report=report
        )
        self.session.add(rec)
        self.session.flush()
        return rec.id

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        actor: str,
        reason: str = "",
        gate_report_id: str | None = None,
    ) -> AliasHistory:
        """Point ``alias`` at ``version``; the model row is locked so racing moves serialise."""
        if alias not in ALIASES:
            raise UsageError(f"unknown alias {alias!r}", hint=f"use one of {', '.join(ALIASES)}")
        model = self.model(name, lock=True)
        target = self.version(model, version)
        if target.status == "archived":
            raise UsageError(
                f"version {version} of {name!r} is archived",
                hint="register a new version instead of promoting an archived one",
            )
        return self._point(model, alias, target.id, actor, reason, gate_report_id)

    def _point(
        self,
        model: RegisteredModel,
        alias: str,
        version_id: str,
        actor: str,
        reason: str,
        gate_report_id: str | None,
    ) -> AliasHistory:
        row = self.session.scalar(
            sa.select(ModelAlias)
            .where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
            .with_for_update()
        )
        previous = None if row is None else row.version_id
        if row is None:
            self.session.add(
                ModelAlias(
                    project_id=self.project_id,
                    model_id=model.id,
                    alias=alias,
                    version_id=version_id,
                )
            )
        else:
            row.version_id = version_id
        hist = AliasHistory(
            project_id=self.project_id,
            model_id=model.id,
            alias=alias,
            from_version_id=previous,
            to_version_id=version_id,
            actor=actor,
            reason=reason,
            gate_report_id=gate_report_id,
        )
        self.session.add(hist)
        self.session.add(
            AuditEvent(
                project_id=self.project_id,
                actor=actor,
                action=f"models.alias.{alias}",
                target=f"{model.name}",
                details={
                    "from": previous,
                    "to": version_id,
                    "reason": reason,
                    "gate_report_id": gate_report_id,
                },
            )
        )
        self.session.flush()
        return hist

    def rollback(self, name: str, *, actor: str, reason: str = "rollback") -> AliasHistory:
        """Move champion back to the version it pointed at before its last move."""
        model = self.model(name, lock=True)
        last = self.session.scalar(
            sa.select(AliasHistory)
            .where(AliasHistory.model_id == model.id, AliasHistory.alias == "champion")
            .order_by(AliasHistory.created_at.desc(), AliasHistory.id.desc())
            .limit(1)
        )
        if last is None or last.from_version_id is None:
            raise UsageError(
                f"model {name!r} has no previous champion to roll back to",
                hint="promote a version to champion with `kibble models promote`",
            )
        return self._point(model, "champion", last.from_version_id, actor, reason, None)

    def history(self, name: str) -> list[AliasHistory]:
        model = self.model(name)
        return list(
            self.session.scalars(
                sa.select(AliasHistory)
                .where(AliasHistory.model_id == model.id)
                .order_by(AliasHistory.created_at, AliasHistory.id)
            )
        )
