"""The serving app: recommendations, feedback, Open Inference Protocol v2, metrics.

The hot path reads the in-memory snapshot and queues its log row; only feedback
touches the store per request, because it must be durable before the 2xx.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kibble.auth.keys import derived_key
from kibble.auth.service import authorize_header
from kibble.context import Context
from kibble.errors import KibbleError, NotReadyError
from kibble.lineage.served import served_request
from kibble.recsys.base import RecContext
from kibble.serving import oip, predict
from kibble.serving.background import ControllerLoop
from kibble.serving.bodylimit import BodyLimit
from kibble.serving.fastpath import FastPathApp, RecommendFastPath
from kibble.serving.faults import Fault
from kibble.serving.feedback import accept, attribute
from kibble.serving.metrics import Metrics
from kibble.serving.requestids import RequestIds
from kibble.serving.requestlog import RequestLog
from kibble.serving.routing import Guardrails, route
from kibble.serving.schemas import (
    MAX_K,
    FeedbackAnswer,
    FeedbackBatch,
    RecRequest,
    RequestId,
    Text,
    error_responses,
)
from kibble.serving.shadow import ShadowRunner
from kibble.serving.state import ModelHolder, Snapshot

# How long a background thread (model poller, controller, shadow, log sender) may
# hold the GIL before a waiting request gets it: CPython's 5 ms default added whole
# slices to the p99. (The request log's SQL runs in its own process, see requestlog.)
SWITCH_INTERVAL_S = 0.0005


class ORJSONResponse(Response):
    """orjson-rendered JSON: the fastest encoder for the hot path's plain dicts."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def create_app(
    context: Context,
    deployment: str,
    model_name: str,
    *,
    poll_s: float = 1.0,
    controller_s: float = 0.0,
    rails: Guardrails | None = None,
    clock: Callable[[], datetime] | None = None,
    fault: Fault | None = None,
) -> FastAPI:
    """Build the app for one deployment; models load on startup and follow the store.

    ``controller_s`` > 0 runs the rollout controller every that many seconds (one
    replica decides per tick, see ``serving.background``); ``rails`` overrides its limits.
    ``clock`` stamps the request log (a simulated shop's own time; default the wall
    clock); ``fault`` slows requests on purpose (a drill; see ``serving.faults``).
    """
    now = clock or (lambda: datetime.now(UTC))
    tabular = predict.is_tabular(context, model_name)
    holder = (predict.TabularHolder if tabular else ModelHolder)(context, deployment, model_name)
    metrics = Metrics(context)
    requests = RequestLog(context, metrics=metrics)
    shadow = ShadowRunner(requests, metrics, deployment)
    controller = ControllerLoop(context, holder, metrics, controller_s, rails)
    ids = RequestIds(derived_key(context.settings, "serving-request-id"), deployment, model_name)
    public_feedback = context.settings.serving.public_feedback

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL_S))
        # Worker processes first: they start while the models load.
        requests.start()
        controller.start()
        try:
            holder.refresh()
            holder.start(poll_s)
            yield
            holder.stop()
            shadow.stop()
        finally:  # even when startup failed
            controller.stop()
            requests.stop()  # flushes the log
            sys.setswitchinterval(switch_interval)

    app = FastPathApp(
        title="kibble serving",
        description=(
            "Recommendations, feedback, Open Inference Protocol v2 and metrics for one "
            "deployment. POST /v1/feedback needs 'Authorization: Bearer kb_...' with "
            "serving.write unless serving.public_feedback is on."
        ),
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
    )
    app.state.holder = holder
    app.state.shadow = shadow
    app.state.requests = requests
    app.state.controller = controller

    @app.exception_handler(KibbleError)
    async def kibble_error(_: Request, exc: KibbleError) -> ORJSONResponse:
        return ORJSONResponse(
            {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint},
            status_code=exc.http_status,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> ORJSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()[:5]
        ]
        return ORJSONResponse(
            {
                "error": "ValidationError",
                "message": "; ".join(problems) or "invalid request",
                "hint": "see /openapi.json for the expected shape",
            },
            status_code=422,
        )

    def snapshot() -> Snapshot:
        snap = holder.current
        if snap is None:
            raise NotReadyError("no model loaded yet", hint="wait for /readyz to return 200")
        return snap

    def log_row(
        request_id: str,
        user_id: str,
        arm: str,
        p: float,
        items: list[Any],
        started: float,
        **extra: Any,
    ) -> None:
        requests.put(
            {
                "request_id": request_id,
                "deployment": deployment,
                "user_id": user_id,
                "arm": arm,
                "model_version": arm,
                "probability": p,
                "items": items,
                "ts": now(),
                "latency_ms": (time.perf_counter() - started) * 1000,
                **extra,
            }
        )

    def recommend(
        body: RecRequest, path: str = "/v1/recommendations", start: float | None = None
    ) -> dict[str, Any]:
        start = time.perf_counter() if start is None else start
        snap = snapshot()  # one read: the request finishes on this version
        decision = route(snap.spec, body.user_id, snap.bandit)
        arm, fallback_from = decision.arm, None
        ctx = RecContext(
            item_id=body.item_id,
            category=body.category,
            species=body.species,
            exclude=frozenset(body.exclude),
        )
        try:
            recs = snap.models[arm].recommend(body.user_id, body.k, context=ctx, explain=True)
        except Exception as exc:
            # The failure is logged against its arm (the controller's error rate); the
            # user gets the champion's answer when it was another arm that failed.
            log_row(
                uuid.uuid4().hex,
                body.user_id,
                arm,
                decision.probability,
                [],
                start,
                error=f"{type(exc).__name__}: {exc}"[:256],
            )
            metrics.arm_errors.labels(arm).inc()
            if arm == snap.spec.champion:
                metrics.errors.labels(path).inc()
                raise KibbleError(
                    f"model {arm} failed to answer", hint="retry; the error is logged"
                ) from exc
            arm, fallback_from = snap.spec.champion, arm
            recs = snap.models[arm].recommend(body.user_id, body.k, context=ctx, explain=True)
        request_id = ids.issue(arm, decision.probability)
        items = [{"item_id": r.item_id, "score": r.score, "reasons": r.reasons} for r in recs]
        name, _, version = arm.rpartition(":")
        out = {
            "request_id": request_id,
            "user_id": body.user_id,
            "model": name,
            "version": version,
            "arm": arm,
            "probability": decision.probability,
            "holdout": decision.holdout,
            "items": items,
        }
        if fallback_from is not None:
            out["fallback_from"] = fallback_from
        log_row(request_id, body.user_id, arm, decision.probability, items, start)
        labels = (path, name, version, arm)
        metrics.requests.labels(*labels).inc()
        metrics.latency.labels(*labels).observe(time.perf_counter() - start)
        if decision.shadow is not None and decision.shadow in snap.models:
            shadow.submit(snap.models[decision.shadow], decision.shadow, out, body.k, ctx)
        return out

    def fast_recommend(params: dict[str, Any]) -> dict[str, Any]:
        started = params.pop("started")
        return recommend(RecRequest.model_construct(**params, exclude=[]), start=started)

    # Plain GETs skip FastAPI's per-request machinery; anything else reaches the route.
    max_body = context.settings.serving.max_body_bytes
    app.outermost = lambda inner: RecommendFastPath(
        BodyLimit(inner, max_body), handler=fast_recommend, max_k=MAX_K, fault=fault
    )

    async def arrived() -> float:
        started = time.perf_counter()
        if fault is not None:
            await fault.wait()
        return started

    reads = error_responses(422, 500, 503)

    @app.get("/v1/recommendations", responses=reads)
    async def get_recs(
        user_id: Annotated[Text, Query()],
        k: int = Query(10, ge=1, le=MAX_K),
        item_id: Text | None = None,
        category: Text | None = None,
        species: Text | None = None,
    ) -> Response:
        """Top-k items for a user; unknown users get the model's fallback."""
        # FastAPI has validated the query already; a Response skips re-serialising the
        # dict through a response model (orjson renders it as is).
        started = await arrived()
        body = RecRequest.model_construct(
            user_id=user_id, k=k, item_id=item_id, category=category, species=species, exclude=[]
        )
        return ORJSONResponse(recommend(body, start=started))

    @app.post("/v1/recommendations", responses={**reads, **error_responses(400, 413, 415)})
    async def post_recs(body: RecRequest) -> Response:
        started = await arrived()
        return ORJSONResponse(recommend(body, start=started))

    @app.get("/v1/recommendations/{request_id}", responses=error_responses(404, 422, 503))
    def explain_request(request_id: Annotated[RequestId, Path()]) -> dict[str, Any]:
        """What was served for a request, by which version and arm, and why."""
        requests.flush()
        with context.store.session() as session:
            return served_request(session, context.project_id, request_id)

    @app.post("/v1/feedback", responses=error_responses(400, 401, 403, 413, 415, 422))
    def feedback(
        body: FeedbackBatch,
        authorization: str | None = Header(None, max_length=1024),
    ) -> FeedbackAnswer:
        """Batch of events; committed before the 2xx (durable), idempotent on event_id.

        The server attributes each event to the arm that answered its ``request_id`` (a
        signed id, or one in the request log); events it cannot verify are kept with no
        arm and count in no rollout or bandit statistic.
        """
        if not public_feedback:
            with context.store.session() as session:
                authorize_header(session, authorization, context.project, "serving.write")
        events = attribute(context, ids, deployment, body.events)
        new = accept(context, events)
        attributed = sum(e["arm"] is not None for e in events)
        metrics.feedback.labels("true").inc(new)
        metrics.feedback.labels("false").inc(len(events) - new)
        metrics.feedback_unattributed.inc(len(events) - attributed)
        return FeedbackAnswer(accepted=len(events), new=new, attributed=attributed)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        snap = holder.current
        if snap is None:
            return ORJSONResponse({"ready": False}, status_code=503)
        return ORJSONResponse(
            {
                "ready": True,
                "champion": snap.spec.champion,
                "challenger": snap.spec.challenger,
                "policy": snap.spec.policy,
                "arms": sorted(snap.models),
                "v": snap.version,
            }
        )

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def routed(user_id: str, k: int, path: str) -> list[tuple[str, float]]:
        out = recommend(RecRequest.model_construct(user_id=user_id, k=k, exclude=[]), path)
        return [(i["item_id"], i["score"]) for i in out["items"]]

    oip.attach(app, holder, metrics, routed, MAX_K)
    if tabular:  # a model logged with kibble.log_model: /v1/models/{name}/predict
        predict.attach(app, context, holder, requests, ids, metrics, deployment, ORJSONResponse)

    return app
