"""Metric families as ``promtool check metrics`` wants them: base units, ``_total`` on
counters only.

Stored metric points keep the names batch jobs gave them (``system.latency_p99_ms``,
``data.events_total``); this wrapper renames them on the way out, so a scrape of any
kibble app lints clean: milliseconds become seconds (value / 1000) and a gauge loses
its ``_total``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

_SCALES = {"ms": 1e-3, "milliseconds": 1e-3, "us": 1e-6, "microseconds": 1e-6}


def conform(family: Metric) -> Metric:
    """The family under a promtool-clean name, values rescaled to base units."""
    tokens = family.name.split("_")
    scale = 1.0
    kept = []
    for token in tokens:
        if token in _SCALES:
            scale = _SCALES[token]
        else:
            kept.append(token)
    if family.type != "counter" and kept[-1] == "total":
        kept.pop()
    if scale != 1.0:
        kept.append("seconds")
    name = "_".join(kept)
    if name == family.name:
        return family
    out = Metric(name, family.documentation, family.type)
    for sample in family.samples:
        suffix = sample.name[len(family.name) :]
        out.samples.append(
            Sample(name + suffix, sample.labels, sample.value * scale, sample.timestamp)
        )
    return out


class PromtoolNames(Collector):
    """Wraps a collector; every family it yields is passed through ``conform``."""

    def __init__(self, inner: Collector) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Metric]:
        for family in self.inner.collect():
            yield conform(family)
