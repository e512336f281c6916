"""A model's life in the registry, one implementation behind the Python API, the CLI and
the REST API: register a version, gate it (the stored policy, the safety probe, the
offline checks), promote, roll back, archive.

Every call is scoped to the context's project and audited with the context's actor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kibble.artifacts.formats import JSON, NPZ
from kibble.context import Context
from kibble.core.names import validate_name
from kibble.errors import NotFoundError, UsageError
from kibble.models import TABULAR_FLAVORS
from kibble.registry.gates import Check, GatePolicy, GateReport, failed_check
from kibble.registry.promotion import Evaluation, gate_candidate, stored_policy
from kibble.store.models import FactoryVersion, GateReportRecord, ModelVersion
from kibble.store.repositories.pipelines import RunRecords
from kibble.store.repositories.registry import ALIASES, Registry

RECOMMENDER = "recommender"


def version_info(row: ModelVersion, model: str) -> dict[str, Any]:
    return {
        "model": model,
        "version": row.version,
        "flavor": row.flavor,
        "status": row.status,
        "digest": row.artifact_digest,
        "run_id": row.run_id,
        "params": row.params,
        "metrics": row.metrics,
        "lineage": row.lineage,
    }


def _artifact_digest(context: Context, artifact: str | Path | bytes, name: str) -> str:
    """A recorded artifact of this project (by digest), or a file / bytes stored now."""
    if isinstance(artifact, str) and artifact.startswith("sha256:"):
        context.artifact_record(artifact)  # NotFoundError for another project's digest
        return artifact
    if isinstance(artifact, bytes):
        data = artifact
    else:
        path = Path(artifact)
        if not path.is_file():
            raise NotFoundError(
                f"artifact {str(artifact)!r} is neither a recorded digest nor a file",
                hint="pass sha256:... from `kibble artifacts list`, or the path of a saved model",
            )
        data = path.read_bytes()
    media = JSON if data[:1] == b"{" else NPZ
    return context.save_artifact(data, media, name=name).digest


def _run_lineage(context: Context, run_id: str) -> dict[str, Any]:
    """The tables (and versions) the run read: the version's inputs in the lineage."""
    with context.store.session() as session:
        records = RunRecords(session, context.project_id)
        run = records.get(run_id)  # NotFoundError names the run
        tables = {
            e.name: e.version
            for e in records.edges(run_id=run_id, direction="in")
            if e.kind == "table"
        }
        return {"tables": tables, "pipeline": run.pipeline, "factory_version": run.factory_version}


def _active_factory(context: Context) -> int | None:
    with context.store.session() as session:
        found: int | None = session.scalar(
            sa.select(sa.func.max(FactoryVersion.version)).where(
                FactoryVersion.project_id == context.project_id
            )
        )
        return found


def register_model(
    context: Context,
    name: str,
    artifact: str | Path | bytes,
    *,
    flavor: str = RECOMMENDER,
    run_id: str | None = None,
    params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Register the next version of ``name`` from an artifact digest, a file or bytes.

    With ``run_id`` the version names the run that trained it, and its lineage lists the
    table versions that run read, so a version leads back to its data."""
    validate_name(name, "model name")
    digest = _artifact_digest(context, artifact, name)
    recorded: dict[str, Any] = {"factory_version": _active_factory(context)}
    if run_id is not None:
        recorded.update(_run_lineage(context, run_id))
    recorded.update(lineage or {})
    with context.store.session() as session:
        row = Registry(session, context.project_id).register_version(
            name, digest, flavor, params=params, metrics=metrics, lineage=recorded, run_id=run_id
        )
        out = version_info(row, name)
    context.audit("models.register", f"{name}:{out['version']}", digest=digest, run_id=run_id)
    return out


def _load_recommender(context: Context, digest: str) -> Any:
    from kibble.recsys.base import load_model

    return load_model(context.load_artifact(digest))


def _probe(
    context: Context,
    digest: str,
    policy: GatePolicy,
    known_users: Sequence[str],
    valid_items: set[str],
    allow: Sequence[str],
) -> list[Check]:
    from kibble.registry.probe import run_probe

    if not known_users or not valid_items:
        return [failed_check("probe", "the safety probe could not run: no users or items to ask")]
    report = run_probe(
        context,
        digest,
        known_users=known_users,
        valid_items=valid_items,
        allow=allow,
        latency_sla_ms=policy.latency_sla_ms,
    )
    return [c.model_copy(update={"name": f"probe:{c.name}"}) for c in report.checks]


def _offline(
    context: Context,
    model: Any,
    champion_digest: str | None,
    baseline_digest: str | None,
    policy: GatePolicy,
    table: str,
    cut: datetime | None,
    options: dict[str, Any],
) -> Evaluation:
    from kibble.data.tables import Tables
    from kibble.registry.offline import evidence

    tables = Tables(context)
    frame = tables.polars(table)
    data = f"{context.project_id}/{table}@{tables.lake.version(table)}"

    def loader(digest: str) -> Callable[[], Any]:
        return lambda: _load_recommender(context, digest)

    found = evidence(
        model,
        frame,
        metric_name=policy.metric,
        champion=loader(champion_digest) if champion_digest else None,
        baseline=loader(baseline_digest) if baseline_digest else None,
        cut=cut,
        interaction_options=options,
        reference_keys={
            role: f"{digest}|{data}"
            for role, digest in (("champion", champion_digest), ("baseline", baseline_digest))
            if digest
        },
    )
    return Evaluation(
        candidate=found.candidate,
        baseline=found.baseline,
        champion=found.champion,
        slices=found.slices,
        recommendations=found.recommendations,
        reference_coverage=found.reference_coverage,
    )


def gate_model(
    context: Context,
    name: str,
    version: int,
    *,
    evaluation: Evaluation | None = None,
    table: str = "events",
    probe_allow: Sequence[str] = (),
    actor: str | None = None,
    label: str | None = None,
    slice_by: str | None = None,
    metric: Any = None,
) -> GateReport:
    """Judge a version by its model's stored policy: the safety probe in its own process,
    then the offline checks against the baseline and the champion on held-out users of
    ``table`` (unless an ``evaluation`` is given), coverage and diversity included.

    A check that cannot run fails the gate with the reason; none is skipped. On pass the
    version becomes challenger; on failure it is archived (one summary alert a day).

    Tabular versions (``kibble.log_model``) are judged per row of ``table`` against its
    ``label`` column (``slice_by``: a column whose groups each must not get worse;
    ``metric``: a function (labels, predictions) -> per-row values, higher is better)."""
    with context.store.session() as session:
        reg = Registry(session, context.project_id)
        model_row = reg.model(name)
        row = reg.version(model_row, version)
        if row.status == "archived":
            raise UsageError(
                f"{name} v{version} is archived and cannot be gated again",
                hint="register a new version",
            )
        policy, _ = stored_policy(reg, name)
        digest, lineage, metrics = row.artifact_digest, dict(row.lineage), dict(row.metrics)
        refs = {a: reg.alias(model_row, a) for a in ALIASES}
        champion = refs["champion"]
        baseline = refs["baseline"]
        champion_digest = (
            champion.artifact_digest if champion and champion.version != version else None
        )
        baseline_digest = (
            baseline.artifact_digest if baseline and baseline.version != version else None
        )
        flavor, params = row.flavor, dict(row.params)
    if flavor in TABULAR_FLAVORS:
        from kibble.models.gate import gate_tabular

        return gate_tabular(
            context,
            name,
            version,
            digest=digest,
            policy=policy,
            params=params,
            champion_digest=champion_digest,
            baseline_digest=baseline_digest,
            table=table,
            label=label,
            slice_by=slice_by,
            metric=metric,
            actor=actor or context.actor,
        )
    checks: list[Check] = []
    model: Any = None
    try:
        model = _load_recommender(context, digest)
    except Exception as exc:  # the probe below says how it fails in a worker
        checks.append(failed_check("loads", f"the version does not load as a recommender: {exc}"))
    if policy.safety_probe:
        users = list(model.user_ids[:5]) if model is not None else []
        items = set(model.item_ids) if model is not None else set()
        if model is None and probe_allow:
            users, items = _table_users_items(context, table)
        checks.extend(_probe(context, digest, policy, users, items, probe_allow))
    probe_ok = all(c.passed for c in checks)
    if evaluation is None:
        if model is None or not probe_ok:
            checks.append(
                failed_check("offline", "offline checks not run: the model failed to load or probe")
            )
            evaluation = Evaluation(candidate={}, baseline={})
        else:
            cut = metrics.get("trained_until")
            evaluation = _offline(
                context,
                model,
                champion_digest,
                baseline_digest,
                policy,
                table,
                datetime.fromisoformat(cut) if isinstance(cut, str) else None,
                dict(lineage.get("interactions") or {}),
            )
    return gate_candidate(
        context, name, version, evaluation, actor=actor or context.actor, extra_checks=checks
    )


def _table_users_items(context: Context, table: str) -> tuple[list[str], set[str]]:
    from kibble.data.tables import Tables

    frame = Tables(context).polars(table, columns=["user_id", "item_id"])
    return [str(u) for u in frame["user_id"].unique().head(5)], {
        str(i) for i in frame["item_id"].unique()
    }


def promote_model(
    context: Context, name: str, version: int, *, reason: str, alias: str = "champion"
) -> dict[str, Any]:
    """Point ``alias`` at ``version`` (atomic, kept in the history with who and why)."""
    if not reason.strip():
        raise UsageError("a promotion needs a reason", hint="say why, e.g. --reason 'A/B win'")
    with context.store.session() as session:
        Registry(session, context.project_id).move_alias(
            name, alias, version, actor=context.actor, reason=reason
        )
    return {"model": name, "alias": alias, "version": version}


def rollback_model(context: Context, name: str, *, reason: str = "rollback") -> dict[str, Any]:
    """Put the previous champion back."""
    with context.store.session() as session:
        h = Registry(session, context.project_id).rollback(name, actor=context.actor, reason=reason)
        target = session.get(ModelVersion, h.to_version_id)
        return {"model": name, "alias": "champion", "version": getattr(target, "version", None)}


def archive_model(context: Context, name: str, version: int) -> dict[str, Any]:
    """Archive a version so it can never be promoted again."""
    with context.store.session() as session:
        reg = Registry(session, context.project_id)
        model = reg.model(name)
        row = reg.version(model, version)
        holders = [a for a in ALIASES if getattr(reg.alias(model, a), "id", None) == row.id]
        if "champion" in holders:
            raise UsageError(
                f"{name} v{version} is the champion and cannot be archived",
                hint="promote or roll back to another version first",
            )
        row.status = "archived"
    context.audit("models.archive", f"{name}:{version}")
    return {"model": name, "version": version, "status": "archived"}


def describe_model(context: Context, name: str) -> dict[str, Any]:
    """A model as `kibble models show` prints it: aliases, every version with its run,
    lineage and latest gate report, the alias history (who, why, which report) and the
    gate policy in force."""
    with context.store.session() as session:
        reg = Registry(session, context.project_id)
        model = reg.model(name)
        ids: dict[str, int] = {}
        versions: list[dict[str, Any]] = []
        for v in session.scalars(
            sa.select(ModelVersion)
            .where(ModelVersion.model_id == model.id)
            .order_by(ModelVersion.version)
        ):
            ids[v.id] = v.version
            report = session.scalar(
                sa.select(GateReportRecord)
                .where(GateReportRecord.version_id == v.id)
                .order_by(GateReportRecord.created_at.desc())
                .limit(1)
            )
            versions.append(
                {
                    **version_info(v, name),
                    "created_at": v.created_at.isoformat(),
                    "gate": None if report is None else report.report,
                    "gate_report_id": None if report is None else report.id,
                }
            )
        aliases = {a: getattr(reg.alias(model, a), "version", None) for a in ALIASES}
        history = [
            {
                "at": h.created_at.isoformat(),
                "alias": h.alias,
                "from": ids.get(h.from_version_id or ""),
                "to": ids.get(h.to_version_id or ""),
                "actor": h.actor,
                "reason": h.reason,
                "gate_report_id": h.gate_report_id,
            }
            for h in reg.history(name)
        ]
        policy, source = stored_policy(reg, name)
    return {
        "name": name,
        "aliases": aliases,
        "versions": versions,
        "history": history,
        "policy": {"source": source, **policy.model_dump(mode="json")},
    }
