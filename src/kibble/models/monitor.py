"""Monitor a live tabular deployment from its request log: traffic, errors and latency per
arm, input drift per feature against the training sample the model was logged with,
prediction drift against the champion's answers on that sample, and quality per arm once
labels arrive (joined to the logged prediction by request id). Drift opens an alert."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from kibble.context import Context
from kibble.models.evaluate import frame_rows, outputs
from kibble.models.log import load_logged
from kibble.models.metrics import auc_placements
from kibble.monitoring.alerts import raise_alert
from kibble.monitoring.deployment import window
from kibble.monitoring.drift import drift_report
from kibble.serving.pointers import resolve_aliases
from kibble.store.repositories.serving import ServedRequests


def _quality(task: str, labelled: list[tuple[float, dict[str, Any]]]) -> dict[str, float]:
    y = np.array([label for label, _ in labelled], dtype=np.float64)
    pred = np.array([float(item["prediction"]) for _, item in labelled])
    if task != "classifier":
        return {"rmse": float(np.sqrt(np.mean((y - pred) ** 2)))}
    out = {"accuracy": float(np.mean(y == pred))}
    if 0 < y.sum() < len(y):
        scores = np.array([float(item["score"]) for _, item in labelled])
        out["auc"] = float(auc_placements(y, scores).mean())
    return out


def _rows(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The log's columns as rows, with each answer's items decoded from their JSON text."""
    lists = list(columns.values())
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*lists, strict=True)]
    for row in rows:
        if isinstance(row.get("items"), str):
            row["items"] = json.loads(row["items"])
    return rows


def monitor_model(
    context: Context,
    deployment: str,
    model_name: str,
    *,
    since: datetime | timedelta | str = "1d",
    until: datetime | None = None,
    alert: bool = True,
) -> dict[str, Any]:
    """The deployment's tabular health over ``since`` (whole UTC days) up to ``until``."""
    start, end = window(since, until)
    with context.store.session() as session:
        log = ServedRequests(session, context.project_id)
        rows = [r for r in _rows(log.window(deployment, start, end)) if r["shadow_of"] is None]
        feedback = _rows(log.feedback(deployment, start, end))
        champion = resolve_aliases(session, context.project_id, model_name)["champion"]
    bundle = load_logged(context, champion.digest)
    task = bundle.manifest.task
    labels = {f["request_id"]: f["item_id"] for f in feedback if f["event_type"] == "label"}
    arms: dict[str, dict[str, Any]] = {}
    inputs, predictions = [], []
    for arm in sorted({r["arm"] for r in rows}):
        mine = [r for r in rows if r["arm"] == arm]
        ok = [r for r in mine if r.get("error") is None]
        latencies = [r["latency_ms"] for r in mine if r.get("latency_ms") is not None]
        labelled = [
            (float(labels[r["request_id"]]), item)
            for r in ok
            if r["request_id"] in labels
            for item in r["items"][:1]
        ]
        arms[arm] = {
            "requests": len(mine),
            "errors": len(mine) - len(ok),
            "p99_latency_ms": float(np.percentile(latencies, 99)) if latencies else None,
            "labelled": len(labelled),
            "quality": _quality(task, labelled) if labelled else {},
        }
        for r in ok:
            for item in r["items"]:
                inputs.append(item["inputs"])
                predictions.append(float(item.get("score", item["prediction"])))
    out: dict[str, Any] = {"deployment": deployment, "model": model_name, "arms": arms}
    reference = pl.DataFrame(bundle.manifest.reference)
    if not inputs or reference.is_empty():
        out["notes"] = ["no logged inputs or no training sample: drift not measured"]
        return out
    names = bundle.manifest.signature.names
    current = pl.DataFrame(inputs, infer_schema_length=None).select(names)
    drift = drift_report(reference.select(names).cast(current.schema), current, features=names)
    expected = outputs(bundle, frame_rows(reference, names), task == "classifier")
    moved = drift_report(
        pl.DataFrame({"prediction": expected}), pl.DataFrame({"prediction": predictions})
    )
    out["input_drift"], out["prediction_drift"] = drift.as_dict(), moved.as_dict()
    out["alerts"] = []
    if alert:
        for kind, report in (("input_drift", drift), ("prediction_drift", moved)):
            if report.drifted:
                raise_alert(
                    context,
                    kind,
                    f"{kind}|{deployment}|{start:%Y-%m-%d}",
                    f"{deployment}: {kind.replace('_', ' ')} in {', '.join(report.drifted)} "
                    f"against {model_name}'s training data",
                    report.as_dict(),
                )
                out["alerts"].append(kind)
    return out
