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
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = str(scope["method"])
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.duration.labels(route, method).observe(time.perf_counter() - started)
