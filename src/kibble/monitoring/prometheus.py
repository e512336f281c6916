"""Expose the latest stored metric points on a Prometheus ``/metrics`` endpoint.

The serving and API apps register ``StoredMetricsCollector`` on their registry; each
scrape reads the newest point of every series from the store, so numbers computed by
batch jobs (CTR, drift, data volumes) appear next to the live request counters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kibble.context import Context
from kibble.monitoring.points import Point
from kibble.monitoring.store import query_metrics

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def prometheus_name(name: str, prefix: str = "kibble_") -> str:
    """``model.ctr`` -> ``kibble_model_ctr`` (Prometheus allows [a-zA-Z0-9_:] only)."""
    return prefix + _INVALID.sub("_", name)


def latest(points: list[Point]) -> dict[str, list[Point]]:
    """Newest point per series, grouped by metric name."""
    newest: dict[tuple[str, str], Point] = {}
    for point in points:
        key = (point.name, point.labels_key)
        if key not in newest or point.window_start >= newest[key].window_start:
            newest[key] = point
    grouped: dict[str, list[Point]] = {}
    for (name, _), point in sorted(newest.items()):
        grouped.setdefault(name, []).append(point)
    return grouped


class StoredMetricsCollector(Collector):
    """A gauge per stored metric name, labelled with the point's labels and project."""

    def __init__(self, context: Context, since: str = "2d", prefix: str | None = None) -> None:
        self.context = context
        self.since = since
        self.prefix = prefix

    def collect(self) -> Iterator[GaugeMetricFamily]:
        points = query_metrics(self.context, None, self.since, prefix=self.prefix)
        for name, series in latest(points).items():
            keys = sorted({_INVALID.sub("_", k) for p in series for k in p.labels} - {"project"})
            family = GaugeMetricFamily(
                prometheus_name(name),
                f"latest stored value of {name} (kibble metric points)",
                labels=["project", *keys],
            )
            for point in series:
                labels = {_INVALID.sub("_", k): v for k, v in point.labels.items()}
                family.add_metric(
                    [self.context.project, *[labels.get(k, "") for k in keys]], point.value
                )
            yield family
