"""The serving app: recommendations, feedback, Open Inference Protocol v2, metrics.

The hot path reads the in-memory snapshot and queues its log row; only feedback
touches the store per request, because it must be durable before the 2xx.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from kibble.context import Context
from kibble.errors import KibbleError, NotFoundError, UsageError
from kibble.lineage.served import served_request
from kibble.recsys.base import RecContext
from kibble.rollouts.controller import Guardrails
from kibble.serving.background import ControllerLoop
from kibble.serving.fastpath import FastPathApp, RecommendFastPath
from kibble.serving.faults import Fault
from kibble.serving.feedback import accept
from kibble.serving.metrics import Metrics
from kibble.serving.requestlog import RequestLog
from kibble.serving.routing import route
from kibble.serving.shadow import ShadowRunner
from kibble.serving.state import ModelHolder, Snapshot

MAX_K = 100
RECENT = 50_000  # request ids kept in memory to attribute feedback to arms
# How long a background thread (model poller, controller, shadow, log sender) may
# hold the GIL before a waiting request gets it: CPython's 5 ms default added whole
# slices to the p99. (The request log's SQL runs in its own process, see requestlog.)
SWITCH_INTERVAL_S = 0.0005


class ORJSONResponse(Response):
    """orjson-rendered JSON: the fastest encoder for the hot path's plain dicts."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class RecRequest(BaseModel):
    user_id: str = Field(min_length=1, max_length=128)
    k: int = Field(10, ge=1, le=MAX_K)
    item_id: str | None = None
    category: str | None = None
    species: str | None = None
    exclude: list[str] = Field(default_factory=list, max_length=1000)


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
    holder = ModelHolder(context, deployment, model_name)
    metrics = Metrics(context)
    requests = RequestLog(context, metrics=metrics)
    shadow = ShadowRunner(requests, metrics, deployment)
    controller = ControllerLoop(context, holder, metrics, controller_s, rails)
    recent: OrderedDict[str, str] = OrderedDict()

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
        title="kibble serving", default_response_class=ORJSONResponse, lifespan=lifespan
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

    def snapshot() -> Snapshot:
        snap = holder.current
        if snap is None:
            raise KibbleError("no model loaded yet", hint="wait for /readyz to return 200")
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

    def recommend(body: RecRequest, start: float | None = None) -> dict[str, Any]:
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
                metrics.errors.labels("/v1/recommendations").inc()
                raise KibbleError(
                    f"model {arm} failed to answer", hint="retry; the error is logged"
                ) from exc
            arm, fallback_from = snap.spec.champion, arm
            recs = snap.models[arm].recommend(body.user_id, body.k, context=ctx, explain=True)
        request_id = uuid.uuid4().hex
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
        recent[request_id] = arm
        if len(recent) > RECENT:
            recent.popitem(last=False)
        labels = ("/v1/recommendations", name, version, arm)
        metrics.requests.labels(*labels).inc()
        metrics.latency.labels(*labels).observe(time.perf_counter() - start)
        if decision.shadow is not None and decision.shadow in snap.models:
            shadow.submit(snap.models[decision.shadow], decision.shadow, out, body.k, ctx)
        return out

    def fast_recommend(params: dict[str, Any]) -> dict[str, Any]:
        started = params.pop("started")
        return recommend(RecRequest.model_construct(**params, exclude=[]), started)

    # Plain GETs skip FastAPI's per-request machinery; anything else reaches the route.
    app.outermost = lambda inner: RecommendFastPath(
        inner, handler=fast_recommend, max_k=MAX_K, fault=fault
    )

    async def arrived() -> float:
        started = time.perf_counter()
        if fault is not None:
            await fault.wait()
        return started

    @app.get("/v1/recommendations")
    async def get_recs(
        user_id: str = Query(min_length=1, max_length=128),
        k: int = Query(10, ge=1, le=MAX_K),
        item_id: str | None = None,
        category: str | None = None,
        species: str | None = None,
    ) -> Response:
        """Top-k items for a user; unknown users get the model's fallback."""
        # FastAPI has validated the query already; a Response skips re-serialising the
        # dict through a response model (orjson renders it as is).
        started = await arrived()
        body = RecRequest.model_construct(
            user_id=user_id, k=k, item_id=item_id, category=category, species=species, exclude=[]
        )
        return ORJSONResponse(recommend(body, started))

    @app.post("/v1/recommendations")
    async def post_recs(body: RecRequest) -> Response:
        started = await arrived()
        return ORJSONResponse(recommend(body, started))

    @app.get("/v1/recommendations/{request_id}")
    def explain_request(request_id: str) -> dict[str, Any]:
        """What was served for a request, by which version and arm, and why."""
        requests.flush()
        with context.store.session() as session:
            return served_request(session, context.project_id, request_id)

    @app.post("/v1/feedback")
    def feedback(body: dict[str, Any]) -> dict[str, Any]:
        """Batch of events; committed before the 2xx (durable), idempotent on event_id."""
        events = body.get("events")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            metrics.errors.labels("/v1/feedback").inc()
            raise UsageError("body must be {'events': [...]}", hint="see POST /v1/feedback docs")
        for e in events:
            if e.get("arm") is None and e.get("request_id") in recent:
                e["arm"] = recent[e["request_id"]]
        new = accept(context, events)
        metrics.feedback.labels("true").inc(new)
        metrics.feedback.labels("false").inc(len(events) - new)
        return {"accepted": len(events), "new": new}

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

    # Open Inference Protocol v2: the deployment is the model name.
    @app.get("/v2/health/live")
    async def v2_live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def v2_ready() -> Response:
        ready = holder.current is not None
        return ORJSONResponse({"ready": ready}, status_code=200 if ready else 503)

    def check_name(name: str) -> Snapshot:
        if name != deployment:
            raise NotFoundError(
                f"no model {name!r} here", hint=f"this server serves {deployment!r}"
            )
        return snapshot()

    @app.get("/v2/models/{name}")
    async def v2_model(name: str) -> dict[str, Any]:
        snap = check_name(name)
        return {
            "name": name,
            "versions": sorted(snap.models),
            "platform": "kibble",
            "inputs": [{"name": "user_id", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [
                {"name": "item_id", "datatype": "BYTES", "shape": [-1, -1]},
                {"name": "score", "datatype": "FP32", "shape": [-1, -1]},
            ],
        }

    @app.get("/v2/models/{name}/ready")
    async def v2_model_ready(name: str) -> dict[str, Any]:
        check_name(name)
        return {"name": name, "ready": True}

    @app.post("/v2/models/{name}/infer")
    async def v2_infer(name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Inputs: ``user_id`` (BYTES [n]); optional parameters.k. Outputs item ids, scores."""
        check_name(name)
        inputs = {i.get("name"): i for i in body.get("inputs", []) if isinstance(i, dict)}
        users = inputs.get("user_id", {}).get("data")
        if not isinstance(users, list) or not users or len(users) > 1000:
            raise UsageError(
                "infer needs input 'user_id' with 1..1000 strings",
                hint='{"inputs":[{"name":"user_id","datatype":"BYTES",...}]}',
            )
        k = int(body.get("parameters", {}).get("k", 10))
        if not 1 <= k <= MAX_K:
            raise UsageError(f"k={k} out of range", hint=f"use 1..{MAX_K}")
        rows = [recommend(RecRequest(user_id=str(u), k=k)) for u in users]
        n = len(rows)
        return {
            "model_name": name,
            "id": body.get("id", uuid.uuid4().hex),
            "outputs": [
                {
                    "name": "item_id",
                    "datatype": "BYTES",
                    "shape": [n, k],
                    "data": [i["item_id"] for r in rows for i in r["items"]],
                },
                {
                    "name": "score",
                    "datatype": "FP32",
                    "shape": [n, k],
                    "data": [i["score"] for r in rows for i in r["items"]],
                },
            ],
        }

    return app
