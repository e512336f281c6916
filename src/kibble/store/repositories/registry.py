"""SQL for the registry: atomic alias moves (row lock), alias history, gate reports."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError, UsageError
from kibble.store.models import (
    AliasHistory,
    AuditEvent,
    GatePolicyRecord,
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

    def register_version(
        self,
        name: str,
        digest: str,
        flavor: str,
        *,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        lineage: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> ModelVersion:
        """Add the next version of ``name`` (creating the model on first use)."""
        model = self.session.scalar(
            sa.select(RegisteredModel)
            .where(RegisteredModel.project_id == self.project_id, RegisteredModel.name == name)
            .with_for_update()
        )
        if model is None:
            model = RegisteredModel(project_id=self.project_id, name=name)
            self.session.add(model)
            self.session.flush()
        last = self.session.scalar(
            sa.select(sa.func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)
        )
        row = ModelVersion(
            project_id=self.project_id,
            model_id=model.id,
            version=(last or 0) + 1,
            artifact_digest=digest,
            flavor=flavor,
            params=params or {},
            metrics=metrics or {},
            lineage=lineage or {},
            run_id=run_id,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def gate_policy(self, name: str) -> GatePolicyRecord | None:
        """The stored promotion policy of model ``name`` (None: gate with the defaults)."""
        return self.session.scalar(
            sa.select(GatePolicyRecord).where(
                GatePolicyRecord.project_id == self.project_id, GatePolicyRecord.model_name == name
            )
        )

    def replace_gate_policies(
        self, policies: dict[str, dict[str, Any]], factory_version: int | None
    ) -> None:
        """Make the stored policies exactly ``policies`` (model name -> policy JSON)."""
        rows = self.session.scalars(
            sa.select(GatePolicyRecord).where(GatePolicyRecord.project_id == self.project_id)
        ).all()
        for row in rows:
            if row.model_name not in policies:
                self.session.delete(row)
        by_name = {row.model_name: row for row in rows}
        for name, policy in policies.items():
            record = by_name.get(name)
            if record is None:
                record = GatePolicyRecord(project_id=self.project_id, model_name=name)
                self.session.add(record)
            record.policy = policy
            record.factory_version = factory_version
        self.session.flush()

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
