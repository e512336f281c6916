"""Prometheus metrics of one serving app: labels route/model/version/arm, never users.

``route`` is the route template (``/v1/recommendations``, ``/v2/models/{name}/infer``);
requests counts one per user list served (an OIP batch of n users counts n).

The stored-metrics collector is registered on the same registry, so one scrape shows
live request counters beside the numbers batch jobs stored (CTR, drift, volumes).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kibble.context import Context
from kibble.core.promnames import PromtoolNames
from kibble.monitoring.prometheus import StoredMetricsCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    """Per-app registry: live counters plus the store's latest metric points."""

    def __init__(self, context: Context | None = None) -> None:
        self.registry = CollectorRegistry()
        labels = ["route", "model", "version", "arm"]
        self.requests = Counter(
            "kibble_requests", "served requests", labels, registry=self.registry
        )
        self.errors = Counter("kibble_errors", "failed requests", ["route"], registry=self.registry)
        self.arm_errors = Counter(
            "kibble_arm_errors", "model failures per arm", ["arm"], registry=self.registry
        )
        self.latency = Histogram(
            "kibble_latency_seconds",
            "request latency",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.feedback = Counter(
            "kibble_feedback_events", "feedback events accepted", ["new"], registry=self.registry
        )
        self.feedback_unattributed = Counter(
            "kibble_feedback_unattributed",
            "feedback events whose request id did not verify (kept, counted nowhere)",
            registry=self.registry,
        )
        self.shadow_latency = Histogram(
            "kibble_shadow_latency_seconds",
            "shadow arm compute latency",
            ["arm"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.shadow_overlap = Histogram(
            "kibble_shadow_overlap",
            "share of the live list the shadow arm also returned",
            ["arm"],
            buckets=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0),
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "kibble_shadow_dropped", "shadow copies skipped (queue full)", registry=self.registry
        )
        self.controller = Counter(
            "kibble_rollout_decisions",
            "controller decisions taken here",
            ["action"],
            registry=self.registry,
        )
        self.request_log_restarts = Counter(
            "kibble_request_log_restarts",
            "request-log writer processes that exited and were restarted",
            registry=self.registry,
        )
        self.request_log_queued = Gauge(
            "kibble_request_log_queued",
            "answered requests whose row is still in this process's memory, not yet piped "
            "to the log writer: what a kill -9 of the server would lose",
            registry=self.registry,
        )
        self.request_log_dropped = Counter(
            "kibble_request_log_dropped",
            "served-request rows given up on (refused by the store or writer too far behind)",
            registry=self.registry,
        )
        if context is not None:
            self.registry.register(PromtoolNames(StoredMetricsCollector(context)))
