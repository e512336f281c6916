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
from kibble.store.repositories.pipelines import RunRecords


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
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
) -> str:
    """Insert one finished run in the context's project; returns its id. ``inputs`` and
    ``outputs`` (``{"url": ...}``, ``{"digest": ...}``, tables) also go out as its
    OpenLineage event."""
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
        run_id = run.id
    from kibble.lineage.openlineage import emit_finished

    emit_finished(
        context.settings,
        context.project,
        job=pipeline,
        run_key=run_id,
        state="COMPLETE" if status == "succeeded" else "FAIL",
        inputs=inputs or [],
        outputs=outputs or [],
    )
    return run_id


def per_user_blob(report: EvaluationReport) -> bytes:
    """``user_ids``, their ``user_segment`` (warm / cold) and ``<model>/<metric>`` arrays
    aligned with them."""
    arrays: dict[str, Any] = {}
    if report.user_segments:
        arrays["user_segment"] = np.asarray(report.user_segments, dtype=np.str_)
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


def segments_from_blob(data: bytes) -> dict[str, str]:
    """user id -> ``warm`` / ``cold``: the gate's ``slices``, so it compares warm and cold
    users separately (empty for evaluations recorded before users were labelled)."""
    arrays = arrays_from_bytes(data)
    if "user_segment" not in arrays:
        return {}
    ids = [str(u) for u in arrays["user_ids"].tolist()]
    return dict(zip(ids, [str(s) for s in arrays["user_segment"].tolist()], strict=True))


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
        "population": report.population,
        "models": {r.model: r.metrics for r in report.models},
        "intervals": {r.model: r.intervals for r in report.models},
        "vs_baseline": {r.model: r.vs_baseline for r in report.models if r.vs_baseline},
        "verdicts": report.verdicts(),
        "gaps": {r.model: r.gaps for r in report.models},
        "per_user_artifact": ref.digest,
    }
    run_id = record_run(
        context,
        pipeline=name,
        kind="evaluation",
        params={
            **params,
            "models": {r.model: r.params for r in report.models},
            "protocol": report.protocol,
        },
        metrics=metrics,
        started_at=started_at,
        tags={"cut": report.cut, "n_users": report.n_users},
    )
    context.audit("recsys.evaluate", run_id, best=metrics["best"])
    return run_id


#: metrics where more is better; ``compare`` marks the best run on these rows
HIGHER_IS_BETTER = ("ndcg", "precision", "recall", "map", "hit_rate", "coverage")
BEST_VALUE_KEYS = ("best_value", "test_value")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; lists stay whole (they compare as one value)."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key in sorted(value, key=str):
        flat.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _higher_is_better(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return last in BEST_VALUE_KEYS or last.removeprefix("val_").split("@")[0] in HIGHER_IS_BETTER


def compare_runs(context: Context, run_ids: list[str], *, all_rows: bool = False) -> dict[str, Any]:
    """Several runs side by side: kind, parameters and metrics, one row per key.

    Rows where every run agrees are left out unless ``all_rows``; on metrics where more is
    better (NDCG, recall, coverage, a study's best value...) the best run is named.
    """
    with context.store.session() as session:
        records = RunRecords(session, context.project_id)
        runs = [records.get(run_id) for run_id in run_ids]
        columns = [
            {
                "run_id": run.id,
                "kind": run.kind,
                "pipeline": run.pipeline,
                "status": run.status,
                "started_at": run.started_at.isoformat() if run.started_at else None,
            }
            for run in runs
        ]
        sides = [
            {
                **{f"param {k}": v for k, v in flatten(run.params).items()},
                **{f"metric {k}": v for k, v in flatten(run.metrics).items()},
            }
            for run in runs
        ]
    keys = sorted({key for side in sides for key in side}, key=lambda k: (k.split(" ")[0], k))
    rows: list[dict[str, Any]] = []
    for key in keys:
        values = [side.get(key) for side in sides]
        same = all(v == values[0] for v in values)
        if same and not all_rows:
            continue
        row: dict[str, Any] = {"what": key, "values": values, "same": same, "best": None}
        numbers = [
            v if isinstance(v, int | float) and not isinstance(v, bool) else None for v in values
        ]
        scored = [(v, i) for i, v in enumerate(numbers) if v is not None]
        if key.startswith("metric ") and _higher_is_better(key) and len(scored) > 1 and not same:
            row["best"] = columns[max(scored, key=lambda p: (p[0], -p[1]))[1]]["run_id"]
        rows.append(row)
    return {"runs": columns, "rows": rows}
