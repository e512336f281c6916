"""The control-plane app factory: routers, auth, audit, idempotency, hardening.

Layers from the outside in: MeasureRequests (Prometheus counts) -> Hardening (Host
allowlist, pickle refusal, body and JSON limits, security headers) -> CORS (only listed
origins) -> AuditTrail (every mutating call) -> FastAPI (routing, ``scoped`` auth per
route, one JSON error shape).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.middleware.cors import CORSMiddleware

from kibble import __version__
from kibble.api import errors
from kibble.api.auditing import AuditTrail
from kibble.api.deps import ApiState
from kibble.api.hardening import Hardening
from kibble.api.metrics import CONTENT_TYPE, ApiMetrics, MeasureRequests
from kibble.api.routers import PROJECT_ROUTERS, ROOT_ROUTERS
from kibble.artifacts import ArtifactStore
from kibble.config import Settings
from kibble.context import Context
from kibble.store import Store, migrate

API_PREFIX = "/api/v1"
PROJECT_PREFIX = f"{API_PREFIX}/projects/{{project}}"


def create_app(settings: Settings, *, store: Store | None = None, ui: bool = False) -> FastAPI:
    """Build the API for ``settings``. Pass ``store`` to share an already open one;
    ``ui=True`` also serves the dashboard under /ui (same tokens)."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    state = ApiState(
        settings=settings,
        store=store or Store.open(settings),
        artifacts=ArtifactStore(
            settings.artifact_url, settings.storage.fsspec_options(settings.artifact_url)
        ),
    )
    owned = store is None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:  # a store passed in belongs to the caller
            state.store.close()

    app = FastAPI(
        lifespan=lifespan,
        title="kibble control plane",
        version=__version__,
        description=(
            "Projects, runs, datasets, artifacts, models, deployments, alerts and audit. "
            "Every route under /api/v1/projects/{project} needs 'Authorization: Bearer kb_...' "
            "from a token of that project; x-kibble-min-role says which role it needs."
        ),
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a redirect would re-resolve '..' in the client
    )
    app.state.kibble = state
    errors.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        """Liveness: no authentication, no data."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"])
    def readyz() -> Response:
        """Readiness: the store answers and its schema is at this kibble's head."""
        try:
            current = migrate.current_revisions(state.store.engine)
        except sa.exc.SQLAlchemyError as exc:
            reason = f"metadata store unreachable: {type(exc).__name__}"
            return JSONResponse({"ready": False, "reason": reason}, status_code=503)
        head = migrate.head_revisions()
        if current != head:
            reason = f"schema at {sorted(current)}, code at {sorted(head)}: run kibble db upgrade"
            return JSONResponse({"ready": False, "reason": reason}, status_code=503)
        return JSONResponse({"ready": True, "schema": sorted(head)})

    metrics = ApiMetrics()

    @app.get("/metrics", tags=["health"])
    def prometheus() -> Response:
        """Prometheus exposition: requests and latency per route template."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    for router in ROOT_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    for router in PROJECT_ROUTERS:
        app.include_router(router, prefix=PROJECT_PREFIX)

    if ui:
        from kibble.api import dashboard

        dashboard.attach(app, _context(state))
    _document_openapi(app)
    app.add_middleware(AuditTrail, store=state.store)
    origins = [o.strip() for o in settings.api.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(Hardening, settings=settings.api)
    app.add_middleware(MeasureRequests, metrics=metrics)  # outermost: refusals count too
    return app


def _context(state: ApiState) -> Context:
    """A context for the dashboard; each page narrows it to the signed-in project."""
    return Context(
        settings=state.settings,
        store=state.store,
        artifacts=state.artifacts,
        project=state.settings.project,
        project_id="",
        actor="dashboard",
    )


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "hint": {"type": "string"},
            },
        }
    },
}
_ERRORS = {
    400: "bad request: invalid parameters or body, Host not allowed, JSON too deep",
    401: "no, malformed, expired or revoked bearer token",
    403: "the token's role or scopes do not allow this, or another project's token",
    404: "no such project or object in it",
    409: "conflict: the object exists, or an Idempotency-Key reused with another body",
    413: "the body is over api.max_body_bytes",
    415: "pickle payloads are refused",
    422: "the data failed a quality check",
    429: "a project quota would be exceeded",
}


def _errors_of(path: str, method: str, listed: dict[str, Any]) -> set[int]:
    """The error statuses one operation can answer (the hardening layer's included)."""
    statuses = {400}
    if path.startswith(API_PREFIX):
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    if method in ("post", "put", "patch", "delete"):
        statuses |= {401, 403, 409, 413, 415, 429}
    if "422" in listed:
        statuses.add(422)
    return statuses


def _document_openapi(app: FastAPI) -> None:
    """Publish the bearer scheme in /openapi.json so generated clients send the token,
    and every error status each route answers, in the one error shape."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "kb_... API token"}
        }
        components.setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if path.startswith(API_PREFIX):
                    operation["security"] = [{"bearer": []}]
                responses = operation.setdefault("responses", {})
                for status in sorted(_errors_of(path, method, responses)):
                    responses[str(status)] = {"description": _ERRORS[status], "content": error}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
