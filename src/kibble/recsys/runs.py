"""Recording evaluations, tuning trials and trainings as foundation ``Run`` rows.

Per-user metric arrays go to the artifact store as one ``.npz`` (user ids + one float
array per metric and model), referenced from the run, so the registry's bootstrap gate
can load them later without re-running anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from kibble.artifacts.formats import NPZ, arrays_from_bytes, arrays_to_bytes
from kibble.context import Context
from kibble.recsys.evaluation import EvaluationReport
from kibble.store.models import Run


def record_run(
    context: Context,
    *,
    pipeline: str,
    kind: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    started_at: datetime,
    tags: dict[str, Any] | None = None,
    status: str = "succeeded",
) -> str:
    """Insert one finished run in the context's project; returns its id."""
    with context.store.session() as session:
        run = Run(
            project_id=context.project_id,
            pipeline=pipeline,
            kind=kind,
            status=status,
            params=params,
            metrics=metrics,
            tags=tags or {},
            started_at=started_at,
            ended_at=datetime.now(UTC),
        )
        session.add(run)
        session.flush()
        return run.id


def per_user_blob(report: EvaluationReport) -> bytes:
    """``user_ids`` plus ``<model>/<metric>`` arrays aligned with them."""
    arrays: dict[str, Any] = {}
    for model in report.models:
        arrays.setdefault("user_ids", np.asarray(model.user_ids, dtype=np.str_))
        for metric, values in model.per_user.items():
            arrays[f"{model.model}/{metric}"] = np.asarray(values, dtype=np.float64)
    return arrays_to_bytes(arrays)


def per_user_from_blob(data: bytes, model: str, metric: str = "ndcg") -> dict[str, float]:
    """One model's per-user metric keyed by user id (what a bootstrap gate resamples)."""
    arrays = arrays_from_bytes(data)
    ids = [str(u) for u in arrays["user_ids"].tolist()]
    return dict(zip(ids, arrays[f"{model}/{metric}"].tolist(), strict=True))


def record_evaluation(
    context: Context,
    report: EvaluationReport,
    *,
    params: dict[str, Any],
    started_at: datetime,
    name: str = "recsys.evaluate",
) -> str:
    """The evaluation as a run (kind ``evaluation``) with per-user arrays attached."""
    ref = context.save_artifact(per_user_blob(report), NPZ, name="per-user-metrics")
    metrics = {
        "k": report.k,
        "baseline": report.baseline,
        "best": report.best().model,
        "models": {r.model: r.metrics for r in report.models},
        "verdicts": report.verdicts(),
        "gaps": {r.model: r.gaps for r in report.models},
        "per_user_artifact": ref.digest,
    }
    run_id = record_run(
        context,
        pipeline=name,
        kind="evaluation",
        params={**params, "models": {r.model: r.params for r in report.models}},
        metrics=metrics,
        started_at=started_at,
        tags={"cut": report.cut, "n_users": report.n_users},
    )
    context.audit("recsys.evaluate", run_id, best=metrics["best"])
    return run_id
