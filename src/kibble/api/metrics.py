"""Prometheus metrics of the control plane: requests and latency per route template.

The route label is the matched template (``/api/v1/projects/{project}/runs``), never the
raw path, so project names and ids do not become label values; unmatched paths count
under ``unmatched``.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ApiMetrics:
    """One registry per app, so two apps in one process never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kibble_api_requests",
            "control-plane HTTP requests answered",
            ["route", "method", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "kibble_api_request_duration_seconds",
            "control-plane request handling time",
            ["route", "method"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return _generate(self.registry)


def template(path: str, params: dict[str, object]) -> str:
    """``/api/v1/projects/k9s/runs/42`` -> ``/api/v1/projects/{project}/runs/{run_id}``:
    each path parameter's value is put back as its name, leftmost first."""
    segments = path.split("/")
    for name, value in params.items():
        if str(value) in segments:
            segments[segments.index(str(value))] = f"{{{name}}}"
    return "/".join(segments)


class MeasureRequests:
    """ASGI middleware: counts every HTTP response under its route template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, route = 500, "unmatched"

        async def record(message: Message) -> None:
            nonlocal status, route
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # read now: the router may restore the scope once the handler is done
                if scope.get("route") is not None:
                    route = template(str(scope["path"]), scope.get("path_params", {}))
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            method = str(scope["method"])
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.duration.labels(route, method).observe(time.perf_counter() - started)
