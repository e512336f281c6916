"""Lineage queries over recorded edges: artifact -> step run -> inputs, and forward.

Nodes are plain dicts, ready for JSON: an artifact node names the run and step that
made it, with the run's parameters and code version, and the step's inputs (artifacts,
recursively, and table versions).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kibble.artifacts import check_digest
from kibble.context import Context
from kibble.errors import NotFoundError
from kibble.lineage.served import served_request, served_version
from kibble.store.models import ModelAlias, ModelVersion, RegisteredModel, Run
from kibble.store.repositories.pipelines import RunRecords

MAX_DEPTH = 50


def resolve_target(ctx: Context, target: str) -> dict[str, Any]:
    """An artifact digest, ``[model:]NAME[:VERSION]`` of a registered model, or
    ``request:ID`` of a served request (the model version that answered it)."""
    if target.startswith("sha256:"):
        check_digest(target)
        return {"kind": "artifact", "digest": target}
    if target.startswith("request:"):
        with ctx.store.session() as session:
            served = served_request(session, ctx.project_id, target.removeprefix("request:"))
        model, number = served_version(served)
        return {**resolve_target(ctx, f"model:{model}:{number}"), "request": served}
    name, _, version = target.removeprefix("model:").partition(":")
    with ctx.store.session() as session:
        query = (
            sa.select(ModelVersion)
            .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
            .where(RegisteredModel.project_id == ctx.project_id, RegisteredModel.name == name)
        )
        if version:
            query = query.where(ModelVersion.version == int(version))
        else:  # the champion, the version customers get; else the newest
            query = query.outerjoin(
                ModelAlias,
                sa.and_(ModelAlias.model_id == RegisteredModel.id, ModelAlias.alias == "champion"),
            ).order_by((ModelAlias.version_id == ModelVersion.id).desc())
        found = session.scalar(query.order_by(ModelVersion.version.desc()).limit(1))
        if found is None:
            raise NotFoundError(
                f"{target!r} is neither an artifact digest nor a registered model here",
                hint="pass sha256:... (see `kibble artifacts list`) or a model name",
            )
        return {
            "kind": "model",
            "model": name,
            "version": found.version,
            "digest": found.artifact_digest,
            "run_id": found.run_id,
            "params": found.params,
            "lineage": found.lineage,
            "registered_by": _registering_run(session, ctx.project_id, found.run_id),
        }


def _registering_run(session: Any, project_id: str, run_id: str | None) -> dict[str, Any] | None:
    """The run a version was registered from, with the table versions it read."""
    run = session.get(Run, run_id) if run_id else None
    if run is None or run.project_id != project_id:
        return None
    reads = RunRecords(session, project_id).edges(run_id=run.id, direction="in")
    tables = sorted({(e.name, e.version) for e in reads if e.kind == "table"})
    return {**_run_summary(run), "tables": [{"name": n, "version": v} for n, v in tables]}


def _run_summary(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "pipeline": run.pipeline,
        "status": run.status,
        "params": run.params,
        "code_version": {k: v for k, v in run.code_version.items() if k != "steps"},
        "created_at": run.created_at.isoformat(),
    }


def upstream(ctx: Context, target: str) -> dict[str, Any]:
    """The tree of everything ``target`` was made from."""
    root = resolve_target(ctx, target)
    with ctx.store.session() as session:
        records = RunRecords(session, ctx.project_id)
        node = _upstream_artifact(records, root["digest"], 0, set())
    return {**node, **root}


def _upstream_artifact(
    records: RunRecords, digest: str, depth: int, seen: set[str]
) -> dict[str, Any]:
    node: dict[str, Any] = {"kind": "artifact", "digest": digest}
    made = records.edges(digest=digest, direction="out")
    if not made or depth > MAX_DEPTH or digest in seen:
        return node
    seen = seen | {digest}
    edge = made[0]
    run = records.get(edge.run_id)
    step = records.step(edge.run_id, edge.step)
    inputs: list[dict[str, Any]] = []
    for item in records.edges(run_id=edge.run_id, step=edge.step, direction="in"):
        if item.kind == "table":
            inputs.append({"kind": "table", "name": item.name, "version": item.version})
        elif item.digest:
            child = _upstream_artifact(records, item.digest, depth + 1, seen)
            inputs.append({**child, "argument": item.name})
    node["name"] = edge.name
    node["made_by"] = {
        **_run_summary(run),
        "step": edge.step,
        "cached": bool(step and step.cached),
        "source_hash": run.code_version.get("steps", {}).get(edge.step),
        "step_params": (step.inputs.get("params", {}) if step else {}),
        "inputs": inputs,
    }
    return node


def downstream(ctx: Context, target: str) -> dict[str, Any]:
    """The tree of everything derived from ``target`` (an artifact, a model or a table)."""
    root = resolve_target(ctx, target)
    with ctx.store.session() as session:
        records = RunRecords(session, ctx.project_id)
        return {**_downstream_artifact(records, root["digest"], 0, set()), **root}


def _downstream_artifact(
    records: RunRecords, digest: str, depth: int, seen: set[str]
) -> dict[str, Any]:
    node: dict[str, Any] = {"kind": "artifact", "digest": digest, "used_by": []}
    if depth > MAX_DEPTH or digest in seen:
        return node
    seen = seen | {digest}
    for edge in records.edges(digest=digest, direction="in"):
        outputs = [
            _downstream_artifact(records, out.digest, depth + 1, seen)
            for out in records.edges(run_id=edge.run_id, step=edge.step, direction="out")
            if out.digest
        ]
        node["used_by"].append(
            {"run_id": edge.run_id, "step": edge.step, "argument": edge.name, "outputs": outputs}
        )
    return node
