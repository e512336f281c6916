"""Tabular models served as they were trained: ``POST /v1/models/{name}/predict`` with the
signature checked (a missing column or a wrong type is a 400 naming it), routed like the
recommendations (canary, gradual, A/B, shadow-free, bandit, holdout) by ``unit_id``, and
``POST /v1/models/{name}/labels`` for labels that arrive later, stored as ``label``
feedback joined to the logged prediction by its signed request id.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pandas as pd
import sqlalchemy as sa
from fastapi import FastAPI, Header
from fastapi.responses import Response
from pydantic import BaseModel, Field

from kibble.auth.service import authorize_header
from kibble.context import Context
from kibble.errors import KibbleError, NotFoundError, NotReadyError
from kibble.models import TABULAR_FLAVORS
from kibble.models.bundle import Bundle
from kibble.models.log import load_logged, single_threaded
from kibble.models.signature import check_rows
from kibble.serving.metrics import Metrics
from kibble.serving.pointers import VersionRef
from kibble.serving.requestids import RequestIds
from kibble.serving.requestlog import RequestLog
from kibble.serving.routing import route
from kibble.serving.schemas import MAX_BATCH, RequestId, Text, error_responses
from kibble.serving.state import ModelHolder, Snapshot
from kibble.store.models import ModelVersion, RegisteredModel
from kibble.store.repositories.serving import Feedback, ServedRequests

MAX_ROWS = 1000


class PredictRequest(BaseModel):
    inputs: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ROWS)
    unit_id: Text | None = Field(None, description="who the rows are about; routes A/B arms")


class Label(BaseModel):
    request_id: RequestId
    label: float | int | bool | Text


class LabelBatch(BaseModel):
    labels: list[Label] = Field(min_length=1, max_length=MAX_BATCH)


def is_tabular(context: Context, model_name: str) -> bool:
    """Whether ``model_name``'s latest version was logged with ``kibble.log_model``."""
    with context.store.session() as session:
        flavor = session.scalar(
            sa.select(ModelVersion.flavor)
            .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
            .where(
                RegisteredModel.project_id == context.project_id,
                RegisteredModel.name == model_name,
            )
            .order_by(ModelVersion.version.desc())
            .limit(1)
        )
    return flavor in TABULAR_FLAVORS


class TabularHolder(ModelHolder):
    """The serving snapshot of a tabular model: bundles instead of recommenders."""

    def _load(self, ref: VersionRef) -> Any:
        bundle = load_logged(self.context, ref.digest)
        reference = bundle.manifest.reference
        if reference:  # warm every path before traffic
            row = {c: v[0] for c, v in reference.items() if v}
            _answer(bundle, [row])
        return bundle

    def _follow_catalog(self, models: dict[str, Any], *, loaded: bool) -> None:
        return  # no product catalogue behind a tabular model


_threads = threading.local()


def _one_native_thread() -> None:
    """OpenMP's limit is per calling thread: set it once in each request thread."""
    if not getattr(_threads, "limited", False):
        single_threaded()
        _threads.limited = True


def _answer(bundle: Bundle, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    _one_native_thread()
    checked = check_rows(bundle.manifest.signature, rows)
    frame = pd.DataFrame(checked, columns=bundle.manifest.signature.names)
    predictions = np.asarray(bundle.model.predict(frame)).tolist()
    if bundle.manifest.task != "classifier":
        return [{"prediction": p} for p in predictions]
    proba = np.asarray(bundle.model.predict_proba(frame))
    return [
        {"prediction": p, "score": float(s)} for p, s in zip(predictions, proba[:, -1], strict=True)
    ]


def attach(
    app: FastAPI,
    context: Context,
    holder: ModelHolder,
    requests: RequestLog,
    ids: RequestIds,
    metrics: Metrics,
    deployment: str,
    response: type[Response],
) -> None:
    """Mount the predict and labels routes for the deployment's model."""
    model_name = holder.model_name
    public = context.settings.serving.public_feedback

    def snapshot(name: str) -> Snapshot:
        if name != model_name:
            raise NotFoundError(
                f"this deployment serves {model_name!r}, not {name!r}",
                hint=f"POST /v1/models/{model_name}/predict",
            )
        snap = holder.current
        if snap is None:
            raise NotReadyError("no model loaded yet", hint="wait for /readyz to return 200")
        return snap

    def log(
        request_id: str, unit: str, arm: str, p: float, items: list[Any], start: float, **extra: Any
    ) -> None:
        requests.put(
            {
                "request_id": request_id,
                "deployment": deployment,
                "user_id": unit,
                "arm": arm,
                "model_version": arm,
                "probability": p,
                "items": items,
                "ts": datetime.now(UTC),
                "latency_ms": (time.perf_counter() - start) * 1000,
                **extra,
            }
        )

    path = "/v1/models/{name}/predict"

    @app.post(path, responses=error_responses(400, 404, 413, 415, 422, 500, 503))
    def predict(name: str, body: PredictRequest) -> Response:
        """Predictions for rows of the model's signature (and the positive class's
        probability as ``score`` for classifiers); 400 names a missing or mistyped column."""
        start = time.perf_counter()
        snap = snapshot(name)
        unit = body.unit_id or uuid.uuid4().hex
        decision = route(snap.spec, unit, snap.bandit)
        arm = decision.arm
        models = cast(dict[str, Bundle], snap.models)
        try:
            out = _answer(models[arm], body.inputs)
        except KibbleError:
            raise  # the caller's rows: 400 naming the column
        except Exception as exc:
            log(
                uuid.uuid4().hex,
                unit,
                arm,
                decision.probability,
                [],
                start,
                error=f"{type(exc).__name__}: {exc}"[:256],
            )
            metrics.arm_errors.labels(arm).inc()
            if arm == snap.spec.champion:
                raise KibbleError(
                    f"model {arm} failed to answer", hint="retry; the error is logged"
                ) from exc
            arm = snap.spec.champion
            out = _answer(models[arm], body.inputs)
        request_id = ids.issue(arm, decision.probability)
        logged = [{**o, "inputs": row} for o, row in zip(out, body.inputs, strict=True)]
        log(request_id, unit, arm, decision.probability, logged, start)
        version = arm.rpartition(":")[2]
        labels = (path, name, version, arm)
        metrics.requests.labels(*labels).inc()
        metrics.latency.labels(*labels).observe(time.perf_counter() - start)
        return response(
            {
                "request_id": request_id,
                "model": name,
                "version": version,
                "arm": arm,
                "predictions": out,
            }
        )

    @app.post("/v1/models/{name}/labels", responses=error_responses(400, 401, 403, 404, 422))
    def labels(
        name: str,
        body: LabelBatch,
        authorization: str | None = Header(None, max_length=1024),
    ) -> dict[str, int]:
        """Outcomes that arrived later, one per request id (idempotent): attributed to the
        arm that answered from the signed id (or the request log), never from the client."""
        snapshot(name)
        if not public:
            with context.store.session() as session:
                authorize_header(session, authorization, context.project, "serving.write")
        rows: list[dict[str, Any]] = []
        for item in body.labels:
            sealed = ids.verify(item.request_id)
            rows.append(
                {
                    "event_id": f"label:{item.request_id}",
                    "user_id": "-",
                    "item_id": str(item.label)[:128],
                    "event_type": "label",
                    "ts": datetime.now(UTC),
                    "request_id": item.request_id,
                    "arm": sealed.arm if sealed else None,
                }
            )
        with context.store.session() as session:
            unsigned = {r["request_id"] for r in rows if r["arm"] is None}
            logged = (
                ServedRequests(session, context.project_id).arms(deployment, unsigned)
                if unsigned
                else {}
            )
            for r in rows:
                r["arm"] = r["arm"] or logged.get(r["request_id"])
            new = Feedback(session, context.project_id).add(rows)
        return {
            "accepted": len(rows),
            "new": new,
            "attributed": sum(r["arm"] is not None for r in rows),
        }
